/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exFAT (FS-AWARE.md §2.2): the boot region, the root directory's
 * allocation-bitmap entry and the bitmap.
 *
 * Design note: the allocation record of exFAT is the bitmap, never the
 * FAT: a file flagged NoFatChain has no FAT chain, so its FAT entries may
 * be zero while its clusters hold data.  The FAT is read only to follow
 * the root directory's chain to the bitmap entry (type 0x81).  The bitmap
 * is read as one contiguous run from its first cluster, as Linux reads it;
 * its own clusters, the root directory's first cluster, the boot regions,
 * the FAT and anything outside the cluster heap are never granted.  The
 * boot region's checksum (sectors 0-10, VolumeFlags and PercentInUse left
 * out; sector 11 holds it repeated) must match, every field must be in
 * bounds, and TexFAT (two FATs and two bitmaps) is not supported.
 * VolumeDirty or MediaFailure make the volume not clean.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "fs.h"

#define EXFAT_BOOT_SECTORS 12u
#define EXFAT_MAX_SECTOR 4096u
#define EXFAT_VOLUME_DIRTY 0x0002u
#define EXFAT_MEDIA_FAILURE 0x0004u
#define EXFAT_MAX_CLUSTERS 0xFFFFFFF5u
#define EXFAT_FAT_EOC 0xFFFFFFF8u
#define EXFAT_ENTRY_BITMAP 0x81u
#define EXFAT_ENTRY_SIZE 32u
#define BITMAP_CHUNK (1u << 20)
#define FAT_CHUNK 1024u                 /* FAT entries read at once */

struct exfat_boot {
        uint64_t volume_length;         /* sectors */
        uint32_t fat_offset, fat_length, heap_offset, count, root_cluster;
        uint16_t flags;
        unsigned bps_shift, spc_shift, nfats;
        uint32_t bps;
        uint64_t cluster_size;
};

#define BAD(field, off, ...) \
        vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, (field), start + (off), __VA_ARGS__)

static int exfat_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        return vc_fs_probe_magic(head, 3, "EXFAT   ", 8, "exfat.boot.oem_id", ret);
}

static int parse_boot(const uint8_t *b, uint64_t start, uint64_t limit, struct exfat_boot *ret,
                      struct vc_problems *problems)
{
        struct exfat_boot p = {};

        if (memcmp(b + 3, "EXFAT   ", 8) != 0)
                return BAD("exfat.boot.oem_id", 3, "no 'EXFAT   ' at byte 3");
        for (unsigned i = 0x0B; i < 0x40; i++)
                if (b[i])
                        return BAD("exfat.boot.must_be_zero", i, "byte %u of the exFAT boot sector is not zero", i);
        if (get_le16(b + 0x1FE) != 0xAA55)
                return BAD("exfat.boot.signature", 0x1FE, "boot signature 0x%04x, not 0xAA55", get_le16(b + 0x1FE));
        if (b[0x69] != 1)
                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "exfat.boot.revision",
                                      start + 0x68, "exFAT revision %u.%02u, not 1.x", b[0x69], b[0x68]);
        p.bps_shift = b[0x6C];
        if (p.bps_shift < 9 || p.bps_shift > 12)
                return BAD("exfat.boot.bytes_per_sector_shift", 0x6C, "bytes-per-sector shift %u", p.bps_shift);
        p.spc_shift = b[0x6D];
        if (p.spc_shift > 25 - p.bps_shift)
                return BAD("exfat.boot.sectors_per_cluster_shift", 0x6D,
                           "sectors-per-cluster shift %u makes clusters larger than 32 MiB", p.spc_shift);
        p.bps = 1u << p.bps_shift;
        p.cluster_size = (uint64_t) 1 << (p.bps_shift + p.spc_shift);
        p.nfats = b[0x6E];
        if (p.nfats == 2)
                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "exfat.boot.number_of_fats",
                                      start + 0x6E, "TexFAT (two FATs and two bitmaps) is not supported");
        if (p.nfats != 1)
                return BAD("exfat.boot.number_of_fats", 0x6E, "%u FATs", p.nfats);
        p.volume_length = get_le64(b + 0x48);
        if (p.volume_length > limit >> p.bps_shift)
                return BAD("exfat.boot.volume_length", 0x48, "%llu sectors run past the volume's %llu bytes",
                           (unsigned long long) p.volume_length, (unsigned long long) limit);
        p.fat_offset = get_le32(b + 0x50);
        p.fat_length = get_le32(b + 0x54);
        p.heap_offset = get_le32(b + 0x58);
        p.count = get_le32(b + 0x5C);
        p.root_cluster = get_le32(b + 0x60);
        p.flags = get_le16(b + 0x6A);
        if (p.fat_offset < 2 * EXFAT_BOOT_SECTORS)
                return BAD("exfat.boot.fat_offset", 0x50, "FAT at sector %u, inside the boot regions", p.fat_offset);
        if (p.count < 1 || p.count > EXFAT_MAX_CLUSTERS)
                return BAD("exfat.boot.cluster_count", 0x5C, "%u clusters", p.count);
        if ((uint64_t) p.fat_length << p.bps_shift < ((uint64_t) p.count + 2) * 4)
                return BAD("exfat.boot.fat_length", 0x54, "a FAT of %u sectors cannot hold %llu entries",
                           p.fat_length, (unsigned long long) p.count + 2);
        if ((uint64_t) p.fat_offset + p.fat_length > p.heap_offset)
                return BAD("exfat.boot.cluster_heap_offset", 0x58, "cluster heap at sector %u overlaps the FAT",
                           p.heap_offset);
        if (p.heap_offset + ((uint64_t) p.count << p.spc_shift) > p.volume_length)
                return BAD("exfat.boot.cluster_count", 0x5C, "%u clusters from sector %u run past the volume's %llu sectors",
                           p.count, p.heap_offset, (unsigned long long) p.volume_length);
        if (p.root_cluster < 2 || p.root_cluster > p.count + 1ull)
                return BAD("exfat.boot.first_cluster_of_root", 0x60, "root directory at cluster %u of 2..%llu",
                           p.root_cluster, (unsigned long long) p.count + 1);
        *ret = p;
        return 0;
}

/* The boot checksum over sectors 0-10 (exFAT spec 3.4), checked against
 * sector 11. */
static int check_checksum(const uint8_t *region, const struct exfat_boot *p, uint64_t start,
                          struct vc_problems *problems)
{
        uint32_t sum = 0;
        size_t n = (size_t) 11 * p->bps;

        for (size_t i = 0; i < n; i++) {
                if (i == 106 || i == 107 || i == 112)
                        continue;
                sum = ((sum & 1) ? 0x80000000u : 0) + (sum >> 1) + region[i];
        }
        for (size_t i = 0; i < p->bps; i += 4)
                if (get_le32(region + n + i) != sum)
                        return BAD("exfat.boot.checksum", n + i,
                                   "boot region checksum 0x%08x, sector 11 says 0x%08x", sum,
                                   get_le32(region + n + i));
        return 0;
}

static uint64_t cluster_at(const struct exfat_boot *p, uint64_t start, uint32_t c)
{
        return start + (((uint64_t) p->heap_offset + ((uint64_t) (c - 2) << p->spc_shift)) << p->bps_shift);
}

/* Finds the bitmap entry in the root directory: *first and *length. */
static int find_bitmap(struct vc_source *src, uint64_t start, const struct exfat_boot *p,
                       uint32_t *ret_first, uint64_t *ret_length, struct vc_problems *problems)
{
        _cleanup_free_ uint8_t *buf = malloc(p->cluster_size);
        uint32_t c = p->root_cluster;
        int r;

        if (!buf)
                return -ENOMEM;
        for (uint64_t hops = 0;; hops++) {
                uint64_t at = cluster_at(p, start, c);

                r = vc_source_pread(src, buf, p->cluster_size, at);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.root", at,
                                              "reading the root directory: %s", strerror(-r));
                for (uint64_t i = 0; i < p->cluster_size; i += EXFAT_ENTRY_SIZE) {
                        const uint8_t *e = buf + i;
                        if (e[0] == 0x00)
                                return BAD("exfat.root", at + i - start,
                                           "the root directory ends without an allocation bitmap entry");
                        if (e[0] != EXFAT_ENTRY_BITMAP)
                                continue;
                        if (e[1] & 1)
                                return BAD("exfat.root.bitmap.flags", at + i + 1 - start,
                                           "the first bitmap entry is for a second FAT");
                        *ret_first = get_le32(e + 20);
                        *ret_length = get_le64(e + 24);
                        if (*ret_first < 2 || *ret_first > p->count + 1ull)
                                return BAD("exfat.root.bitmap.first_cluster", at + i + 20 - start,
                                           "the bitmap starts at cluster %u of 2..%llu", *ret_first,
                                           (unsigned long long) p->count + 1);
                        if (*ret_length < DIV_ROUND_UP((uint64_t) p->count, 8) ||
                            *ret_length > ((uint64_t) p->count + 2 - *ret_first) * p->cluster_size)
                                return BAD("exfat.root.bitmap.data_length", at + i + 24 - start,
                                           "a bitmap of %llu bytes from cluster %u for %u clusters",
                                           (unsigned long long) *ret_length, *ret_first, p->count);
                        return 0;
                }
                /* The next cluster of the root, through the FAT. */
                uint8_t next_le[4];
                uint64_t fat_at = start + ((uint64_t) p->fat_offset << p->bps_shift) + (uint64_t) c * 4;
                r = vc_source_pread(src, next_le, 4, fat_at);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.fat", fat_at,
                                              "reading the FAT: %s", strerror(-r));
                uint32_t next = get_le32(next_le);
                if (next >= EXFAT_FAT_EOC)
                        return BAD("exfat.root", at - start,
                                   "the root directory ends without an allocation bitmap entry");
                if (next < 2 || next > p->count + 1ull || hops >= p->count)
                        return BAD("exfat.fat", fat_at - start, "the root directory's chain goes to %u", next);
                c = next;
        }
}

/* The bitmap's FAT chain is the run of NCLUSTERS clusters from FIRST
 * (the design note). */
static int check_bitmap_chain(struct vc_source *src, uint64_t start, const struct exfat_boot *p,
                              uint32_t first, uint32_t nclusters, struct vc_problems *problems)
{
        uint8_t fat[FAT_CHUNK * 4];
        uint64_t fat_at = start + ((uint64_t) p->fat_offset << p->bps_shift);
        int r;

        for (uint32_t i = 0; i < nclusters; i += FAT_CHUNK) {
                uint32_t n = MIN(FAT_CHUNK, nclusters - i);
                uint64_t at = fat_at + ((uint64_t) first + i) * 4;

                r = vc_source_pread(src, fat, (size_t) n * 4, at);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.fat", at,
                                              "reading the FAT: %s", strerror(-r));
                for (uint32_t k = 0; k < n; k++) {
                        uint64_t c = (uint64_t) first + i + k;
                        uint32_t next = get_le32(fat + (size_t) k * 4);
                        bool last = i + k + 1 == nclusters;

                        if (last && next >= EXFAT_FAT_EOC)
                                return 0;
                        if (!last && next == c + 1)
                                continue;
                        if (last && next >= 2 && next <= p->count + 1ull)
                                return BAD("exfat.bitmap.chain", at + (uint64_t) k * 4 - start,
                                           "the allocation bitmap's chain runs on from cluster %llu to %u past "
                                           "its %u clusters", (unsigned long long) c, next, nclusters);
                        if (!last && next >= EXFAT_FAT_EOC)
                                return BAD("exfat.bitmap.chain", at + (uint64_t) k * 4 - start,
                                           "the allocation bitmap's chain ends at cluster %llu, %u of its %u "
                                           "clusters", (unsigned long long) c, i + k + 1, nclusters);
                        if (next >= 2 && next <= p->count + 1ull)
                                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                                      "exfat.bitmap.chain", at + (uint64_t) k * 4,
                                                      "the allocation bitmap is fragmented (its chain goes from "
                                                      "cluster %llu to %u): Linux reads it as one run",
                                                      (unsigned long long) c, next);
                        return BAD("exfat.bitmap.chain", at + (uint64_t) k * 4 - start,
                                   "the allocation bitmap's chain goes from cluster %llu to 0x%08x, not a cluster",
                                   (unsigned long long) c, next);
                }
        }
        return 0;
}

static int exfat_scan(struct vc_source *src, uint64_t start, uint64_t size,
                      const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                      struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        uint8_t boot[512];
        struct exfat_boot p = {};
        struct vc_fs_info info = {};
        uint64_t limit, length = 0, run_start = 0, run_len = 0, free_clusters = 0;
        uint32_t bm_first = 0, bm_clusters;
        int r;

        if (start >= src->size || src->size - start < sizeof boot)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "exfat.boot", start,
                                      "exFAT volume at %llu has no whole boot sector", (unsigned long long) start);
        limit = MIN(size, src->size - start);
        r = vc_source_pread(src, boot, sizeof boot, start);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.boot", start,
                                      "reading the exFAT boot sector: %s", strerror(-r));
        r = parse_boot(boot, start, limit, &p, problems);
        if (r < 0)
                return r;
        {
                _cleanup_free_ uint8_t *region = malloc((size_t) EXFAT_BOOT_SECTORS * p.bps);
                if (!region)
                        return -ENOMEM;
                r = vc_source_pread(src, region, (size_t) EXFAT_BOOT_SECTORS * p.bps, start);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.boot", start,
                                              "reading the exFAT boot region: %s", strerror(-r));
                r = check_checksum(region, &p, start, problems);
                if (r < 0)
                        return r;
        }

        info.cluster_size = (uint32_t) p.cluster_size;
        info.total_clusters = p.count;
        info.clean = !(p.flags & (EXFAT_VOLUME_DIRTY | EXFAT_MEDIA_FAILURE));
        if (!info.clean) {
                snprintf(info.not_clean_reason, sizeof info.not_clean_reason, "%s",
                         p.flags & EXFAT_VOLUME_DIRTY ? "exFAT VolumeDirty is set: not cleanly unmounted"
                                                      : "exFAT MediaFailure is set: the medium reported errors");
                if (!opts->force_dirty) {
                        vc_problem_add(problems, VC_PROBLEM_FS_DIRTY, -EUCLEAN, "exfat.boot.volume_flags",
                                       start + 0x6A, "%s", info.not_clean_reason);
                        *ret_info = info;
                        return 0;
                }
        }

        r = find_bitmap(src, start, &p, &bm_first, &length, problems);
        if (r < 0)
                return r;
        bm_clusters = (uint32_t) DIV_ROUND_UP(length, p.cluster_size);
        r = check_bitmap_chain(src, start, &p, bm_first, bm_clusters, problems);
        if (r < 0)
                return r;

        _cleanup_free_ uint8_t *bm = malloc(BITMAP_CHUNK);
        if (!bm)
                return -ENOMEM;
        uint64_t bm_at = cluster_at(&p, start, bm_first), needed = DIV_ROUND_UP((uint64_t) p.count, 8);
        for (uint64_t off = 0; off < needed; off += BITMAP_CHUNK) {
                size_t n = (size_t) MIN((uint64_t) BITMAP_CHUNK, needed - off);
                r = vc_source_pread(src, bm, n, bm_at + off);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, "exfat.bitmap", bm_at + off,
                                              "reading the allocation bitmap: %s", strerror(-r));
                for (uint64_t i = 0; i < (uint64_t) n * 8 && off * 8 + i < p.count; i++) {
                        uint64_t c = off * 8 + i + 2;
                        bool is_free = !(bm[i / 8] & (1u << (i % 8))) &&
                                       !(c >= bm_first && c < (uint64_t) bm_first + bm_clusters) &&
                                       c != p.root_cluster;
                        if (is_free) {
                                if (!run_len)
                                        run_start = c;
                                run_len++;
                                free_clusters++;
                                continue;
                        }
                        if (run_len) {
                                r = freemap_add(free_out, cluster_at(&p, start, (uint32_t) run_start),
                                                run_len * p.cluster_size);
                                if (r < 0)
                                        return r;
                                run_len = 0;
                        }
                }
        }
        if (run_len) {
                r = freemap_add(free_out, cluster_at(&p, start, (uint32_t) run_start), run_len * p.cluster_size);
                if (r < 0)
                        return r;
        }
        info.free_clusters = free_clusters;
        *ret_info = info;
        return 0;
}

const struct vc_fs_type vc_fs_exfat = {
        .name = "exfat",
        .probe = exfat_probe,
        .scan = exfat_scan,
};
