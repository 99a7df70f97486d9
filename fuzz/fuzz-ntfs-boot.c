/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ntfs-boot: the input is an NTFS boot sector (512 bytes, zero
 * padded), optionally followed by 8 bytes: the partition size (the limit
 * the volume must fit in), little-endian; without them 1 TiB.
 *
 * Invariants on success (what every later reader relies on): sector and
 * cluster sizes powers of two in range, cluster_shift matches, the volume
 * fits the limit, $MFT and $MFTMirr inside it, record and index block
 * sizes powers of two in range; on failure, a problem and @ret untouched.
 */
#include "fs/ntfs-internal.h"
#include "fuzz-common.h"

static bool pow2(uint64_t v) { return v && !(v & (v - 1)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t sector[NTFS_BOOT_SIZE] = {};
        uint64_t limit = 1ull << 40;
        struct ntfs_boot b, canary;
        struct vc_problems ps = {};
        int r;

        memcpy(sector, data, size < sizeof sector ? size : sizeof sector);
        if (size >= NTFS_BOOT_SIZE + 8)
                limit = get_le64(data + NTFS_BOOT_SIZE);
        memset(&b, 0xA5, sizeof b);
        canary = b;
        r = ntfs_boot_parse(sector, 1 << 20, limit, &b, &ps);
        if (r < 0) {
                FUZZ_CHECK(vc_problems_any(&ps));
                FUZZ_CHECK(memcmp(&b, &canary, sizeof b) == 0);
        } else {
                FUZZ_CHECK(pow2(b.bytes_per_sector) && b.bytes_per_sector >= 256 &&
                           b.bytes_per_sector <= 4096);
                FUZZ_CHECK(pow2(b.cluster_size) && b.cluster_size >= 512 &&
                           b.cluster_size <= (2u << 20));
                FUZZ_CHECK(b.cluster_size == 1u << b.cluster_shift);
                FUZZ_CHECK(pow2(b.mft_record_size) && b.mft_record_size >= 512 &&
                           b.mft_record_size <= NTFS_MAX_RECORD_SIZE);
                FUZZ_CHECK(pow2(b.index_block_size) && b.index_block_size <= NTFS_MAX_BLOCK);
                FUZZ_CHECK(b.total_clusters >= 2);
                FUZZ_CHECK(b.total_clusters <= limit / b.cluster_size);
                FUZZ_CHECK(b.mft_lcn > 0 && b.mft_lcn < b.total_clusters);
                FUZZ_CHECK(b.mft_lcn * b.cluster_size + b.mft_record_size <=
                           b.total_clusters * b.cluster_size);
                FUZZ_CHECK(b.mftmirr_lcn > 0 && b.mftmirr_lcn < b.total_clusters);
        }
        vc_problems_done(&ps);
        return 0;
}
