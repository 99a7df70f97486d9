/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NTFS boot sector: geometry for everything else.
 *
 * Design note: the boot sector decides how every later byte is located, so
 * it is checked field by field before anything else is read.  We accept what
 * Windows and ntfs-3g write - sector sizes 256..4096, the literal and the
 * negative-exponent sectors-per-cluster encodings, both encodings of the
 * MFT record and index block sizes - and refuse the rest, naming the field.
 * Values that are well-formed but beyond our caps (clusters above 2 MiB or
 * below 512 bytes, MFT records above 4 KiB) are "unsupported" rather than
 * "corrupt": the volume is then simply kept whole.
 */
#include <errno.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "ntfs-internal.h"

#define BOOT_PROBLEM(id, err, field, off, ...) \
        vc_problem_add(problems, (id), (err), "ntfs.boot." field, part_start + (off), __VA_ARGS__)
#define BOOT_CORRUPT(field, off, ...) \
        BOOT_PROBLEM(VC_PROBLEM_FS_CORRUPT, -EBADMSG, field, off, __VA_ARGS__)
#define BOOT_UNSUPPORTED(field, off, ...) \
        BOOT_PROBLEM(VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, field, off, __VA_ARGS__)

static unsigned log2_u64(uint64_t v)
{
        return 63u - (unsigned) __builtin_clzll(v);
}

/*
 * The signed size byte at 0x40 / 0x44: positive = that many clusters,
 * negative = 2^-v bytes.  Returns the byte count, or 0 when the encoding is
 * meaningless (zero, or an exponent that does not fit).
 */
static uint64_t decode_size_byte(uint8_t raw, uint32_t cluster_size)
{
        int8_t v = (int8_t) raw;

        if (v > 0)
                return (uint64_t) v * cluster_size;
        if (v < 0 && -v < 32)
                return 1ull << -v;
        return 0;
}

int ntfs_boot_parse(const uint8_t sector[NTFS_BOOT_SIZE], uint64_t part_start, uint64_t limit,
                    struct ntfs_boot *ret, struct vc_problems *problems)
{
        const struct span s = SPAN(sector, NTFS_BOOT_SIZE);
        uint16_t bps = 0, reserved = 0, root_entries = 0, sectors16 = 0, per_fat = 0;
        uint8_t spc_raw = 0, fats = 0, mft_raw = 0, indx_raw = 0;
        uint32_t sectors32 = 0;
        uint64_t spc, cluster_size, total_sectors = 0, volume_bytes, total_clusters;
        uint64_t mft_lcn = 0, mirr_lcn = 0, record_size, index_size, serial = 0, end;

        if (memcmp(sector + NTFS_BOOT_OFF_OEM_ID, NTFS_OEM_ID, 8) != 0)
                return BOOT_CORRUPT("oem_id", NTFS_BOOT_OFF_OEM_ID,
                                    "boot sector has no \"NTFS    \" OEM id");

        (void) span_get_le16(&s, NTFS_BOOT_OFF_BYTES_PER_SECTOR, &bps);
        if (!IS_POWER_OF_2(bps) || bps < 256 || bps > 4096)
                return BOOT_CORRUPT("bytes_per_sector", NTFS_BOOT_OFF_BYTES_PER_SECTOR,
                                    "bytes per sector %u is not a power of two in 256..4096", bps);

        (void) span_get_u8(&s, NTFS_BOOT_OFF_SECTORS_PER_CLUS, &spc_raw);
        if (spc_raw >= 1 && spc_raw <= 0x80) {
                if (!IS_POWER_OF_2(spc_raw))
                        return BOOT_CORRUPT("sectors_per_cluster", NTFS_BOOT_OFF_SECTORS_PER_CLUS,
                                            "sectors per cluster %u is not a power of two", spc_raw);
                spc = spc_raw;
        } else if (spc_raw >= 0xF0) {
                /* Negative exponent: 0xF0 -> 2^16 ... 0xFF -> 2^1 sectors. */
                spc = 1ull << (256 - spc_raw);
        } else
                return BOOT_CORRUPT("sectors_per_cluster", NTFS_BOOT_OFF_SECTORS_PER_CLUS,
                                    "sectors per cluster byte 0x%02x is neither 1..128 nor a "
                                    "negative exponent 0xF0..0xFF", spc_raw);
        cluster_size = spc * bps;
        if (cluster_size < NTFS_MIN_CLUSTER_SIZE || cluster_size > NTFS_MAX_CLUSTER_SIZE)
                return BOOT_UNSUPPORTED("sectors_per_cluster", NTFS_BOOT_OFF_SECTORS_PER_CLUS,
                                        "cluster size %llu is outside %u..%u bytes",
                                        (unsigned long long) cluster_size,
                                        NTFS_MIN_CLUSTER_SIZE, NTFS_MAX_CLUSTER_SIZE);

        /* The BPB fields NTFS does not use must be zero (a FAT BPB is not). */
        (void) span_get_le16(&s, NTFS_BOOT_OFF_RESERVED_SECTORS, &reserved);
        if (reserved != 0)
                return BOOT_CORRUPT("reserved_sectors", NTFS_BOOT_OFF_RESERVED_SECTORS,
                                    "reserved sectors is %u, must be 0", reserved);
        (void) span_get_u8(&s, NTFS_BOOT_OFF_FATS, &fats);
        if (fats != 0)
                return BOOT_CORRUPT("fats", NTFS_BOOT_OFF_FATS, "FAT count is %u, must be 0", fats);
        (void) span_get_le16(&s, NTFS_BOOT_OFF_ROOT_ENTRIES, &root_entries);
        if (root_entries != 0)
                return BOOT_CORRUPT("root_entries", NTFS_BOOT_OFF_ROOT_ENTRIES,
                                    "root entries is %u, must be 0", root_entries);
        (void) span_get_le16(&s, NTFS_BOOT_OFF_SECTORS16, &sectors16);
        if (sectors16 != 0)
                return BOOT_CORRUPT("sectors16", NTFS_BOOT_OFF_SECTORS16,
                                    "16-bit sector count is %u, must be 0", sectors16);
        (void) span_get_le16(&s, NTFS_BOOT_OFF_SECTORS_PER_FAT, &per_fat);
        if (per_fat != 0)
                return BOOT_CORRUPT("sectors_per_fat", NTFS_BOOT_OFF_SECTORS_PER_FAT,
                                    "sectors per FAT is %u, must be 0", per_fat);
        (void) span_get_le32(&s, NTFS_BOOT_OFF_SECTORS32, &sectors32);
        if (sectors32 != 0)
                return BOOT_CORRUPT("sectors32", NTFS_BOOT_OFF_SECTORS32,
                                    "32-bit sector count is %u, must be 0", sectors32);

        (void) span_get_le64(&s, NTFS_BOOT_OFF_TOTAL_SECTORS, &total_sectors);
        if (total_sectors == 0 || MUL_OVERFLOW(total_sectors, (uint64_t) bps, &volume_bytes) ||
            volume_bytes > limit)
                return BOOT_CORRUPT("total_sectors", NTFS_BOOT_OFF_TOTAL_SECTORS,
                                    "volume of %llu sectors of %u bytes does not fit in the "
                                    "%llu bytes of the partition",
                                    (unsigned long long) total_sectors, bps,
                                    (unsigned long long) limit);
        total_clusters = volume_bytes / cluster_size;
        if (total_clusters < 2)
                return BOOT_CORRUPT("total_sectors", NTFS_BOOT_OFF_TOTAL_SECTORS,
                                    "volume of %llu sectors holds fewer than 2 clusters",
                                    (unsigned long long) total_sectors);

        (void) span_get_u8(&s, NTFS_BOOT_OFF_CLUSTERS_PER_MFT, &mft_raw);
        record_size = decode_size_byte(mft_raw, (uint32_t) cluster_size);
        if (record_size == 0 || !IS_POWER_OF_2(record_size) || record_size < NTFS_MIN_RECORD_SIZE)
                return BOOT_CORRUPT("clusters_per_mft_record", NTFS_BOOT_OFF_CLUSTERS_PER_MFT,
                                    "MFT record size byte 0x%02x gives %llu bytes, not a power "
                                    "of two >= %u", mft_raw, (unsigned long long) record_size,
                                    NTFS_MIN_RECORD_SIZE);
        if (record_size > NTFS_MAX_RECORD_SIZE)
                return BOOT_UNSUPPORTED("clusters_per_mft_record", NTFS_BOOT_OFF_CLUSTERS_PER_MFT,
                                        "MFT record size %llu is above %u bytes",
                                        (unsigned long long) record_size, NTFS_MAX_RECORD_SIZE);

        (void) span_get_u8(&s, NTFS_BOOT_OFF_CLUSTERS_PER_INDX, &indx_raw);
        index_size = decode_size_byte(indx_raw, (uint32_t) cluster_size);
        if (index_size == 0 || !IS_POWER_OF_2(index_size) || index_size < NTFS_MIN_INDEX_BLOCK)
                return BOOT_CORRUPT("clusters_per_index_block", NTFS_BOOT_OFF_CLUSTERS_PER_INDX,
                                    "index block size byte 0x%02x gives %llu bytes, not a power "
                                    "of two >= %u", indx_raw, (unsigned long long) index_size,
                                    NTFS_MIN_INDEX_BLOCK);
        if (index_size > NTFS_MAX_INDEX_BLOCK)
                return BOOT_UNSUPPORTED("clusters_per_index_block", NTFS_BOOT_OFF_CLUSTERS_PER_INDX,
                                        "index block size %llu is above %u bytes",
                                        (unsigned long long) index_size, NTFS_MAX_INDEX_BLOCK);

        /* LCN 0 is the boot sector itself; the first MFT record must fit. */
        (void) span_get_le64(&s, NTFS_BOOT_OFF_MFT_LCN, &mft_lcn);
        if (mft_lcn == 0 || mft_lcn >= total_clusters ||
            ADD_OVERFLOW(mft_lcn * cluster_size, record_size, &end) || end > total_clusters * cluster_size)
                return BOOT_CORRUPT("mft_lcn", NTFS_BOOT_OFF_MFT_LCN,
                                    "$MFT at cluster %llu is outside the volume of %llu clusters",
                                    (unsigned long long) mft_lcn,
                                    (unsigned long long) total_clusters);
        (void) span_get_le64(&s, NTFS_BOOT_OFF_MFTMIRR_LCN, &mirr_lcn);
        if (mirr_lcn == 0 || mirr_lcn >= total_clusters)
                return BOOT_CORRUPT("mftmirr_lcn", NTFS_BOOT_OFF_MFTMIRR_LCN,
                                    "$MFTMirr at cluster %llu is outside the volume of %llu clusters",
                                    (unsigned long long) mirr_lcn,
                                    (unsigned long long) total_clusters);
        (void) span_get_le64(&s, NTFS_BOOT_OFF_SERIAL, &serial);

        *ret = (struct ntfs_boot) {
                .bytes_per_sector = bps,
                .cluster_size = (uint32_t) cluster_size,
                .cluster_shift = log2_u64(cluster_size),
                .mft_record_size = (uint32_t) record_size,
                .index_block_size = (uint32_t) index_size,
                .total_sectors = total_sectors,
                .total_clusters = total_clusters,
                .mft_lcn = mft_lcn,
                .mftmirr_lcn = mirr_lcn,
                .serial = serial,
        };
        return 0;
}
