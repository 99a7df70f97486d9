/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-gpt: the input is a whole disk with a GPT: protective MBR, primary
 * header and entry array, backup array and header at the end.  The header
 * and array CRC32s are recomputed on a copy before reading (where the
 * headers say they are, when that lies in the input), so the fuzzer works
 * on the fields behind them; the CRC checks are the unit tests' business.
 * Read with 512-byte sectors, and 4096-byte ones when the size allows.
 * Invariants: see fuzz-partition.h.
 */
#include "fs/partition-internal.h"
#include "fuzz-partition.h"
#include "util/crc32.h"

static void fix_header(uint8_t *d, size_t size, uint64_t lba, uint32_t ss)
{
        uint8_t *h;
        uint32_t hs, n, es;
        uint64_t at, arr;

        if (lba > size / ss - 1)
                return;
        at = lba * ss;
        h = d + at;
        if (memcmp(h + GPT_HDR_OFF_SIGNATURE, GPT_SIGNATURE, 8) != 0)
                return;
        hs = get_le32(h + GPT_HDR_OFF_HEADER_SIZE);
        n = get_le32(h + GPT_HDR_OFF_NUM_ENTRIES);
        es = get_le32(h + GPT_HDR_OFF_ENTRY_SIZE);
        arr = get_le64(h + GPT_HDR_OFF_ENTRY_LBA);
        if ((uint64_t) n * es <= GPT_MAX_ENTRY_BYTES && arr < size / ss &&
            size - arr * ss >= (uint64_t) n * es)
                put_le32(h + GPT_HDR_OFF_ENTRIES_CRC, crc32_ieee(0, d + arr * ss, (size_t) n * es));
        if (hs >= GPT_HEADER_MIN_SIZE && hs <= ss) {
                put_le32(h + GPT_HDR_OFF_HEADER_CRC, 0);
                put_le32(h + GPT_HDR_OFF_HEADER_CRC, crc32_ieee(0, h, hs));
        }
}

static void read_with(const uint8_t *data, size_t size, uint32_t ss)
{
        uint8_t *d = malloc(size);
        uint64_t alt = 0;

        if (!d)
                return;
        memcpy(d, data, size);
        if (size >= 2 * ss) {
                if (memcmp(d + ss, GPT_SIGNATURE, 8) == 0)
                        alt = get_le64(d + ss + GPT_HDR_OFF_ALTERNATE_LBA);
                fix_header(d, size, size / ss - 1, ss);
                if (alt != 1)
                        fix_header(d, size, alt, ss);
                fix_header(d, size, 1, ss);
        }
        fuzz_partition_read(d, size, ss);
        free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > (1u << 20))
                return 0;
        read_with(data, size, 512);
        if (size % 4096 == 0)
                read_with(data, size, 4096);
        return 0;
}
