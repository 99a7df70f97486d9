/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-mbr: the input is the start of a disk (its size is the disk's size):
 * an MBR, its extended partition and the chain of EBRs, or no table at all
 * (file-system signatures in sector 0).  512-byte sectors, and 4096-byte
 * ones when the size allows.  Invariants: see fuzz-partition.h.
 */
#include "fuzz-partition.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > (1u << 20))
                return 0;
        fuzz_partition_read(data, size, 512);
        if (size % 4096 == 0)
                fuzz_partition_read(data, size, 4096);
        return 0;
}
