/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FAT12, FAT16 and FAT32 (FS-AWARE.md §2.1): the BPB, the clean-shutdown
 * witnesses and the walk of every FAT copy.
 *
 * Design note: a cluster is free only when its entry is zero in every FAT
 * copy (all 32 bits on FAT32: the reserved top nibble set is not "free" to
 * us).  FSInfo's free count is a hint drivers update lazily and is never
 * read.  The reserved sectors, the FATs, the FAT12/16 root directory and
 * the sectors after the last whole cluster are never granted.  The type is
 * decided by the cluster count, as fatgen103 and Windows do; a BPB shaped
 * for the other type (FATSz16 = 0 with fewer than 65525 clusters, say:
 * Linux would read it as FAT32) is refused, as is anything out of bounds.
 * Not clean: the boot sector's state byte (bit 0, when the extended boot
 * signature says the byte is there) or, on FAT16/32, a clear clean-shutdown
 * or no-hard-error bit in FAT[1] of any copy.
 *
 * The FATs are read in chunks of an even number of entries, the same
 * chunk of each copy at a time, so the memory is bounded whatever the
 * volume's size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "fs.h"

#define BOOT_SIZE 512u
#define FAT12_MAX 4085u                 /* fewer clusters: FAT12 */
#define FAT16_MAX 65525u                /* fewer clusters: FAT16 */
#define FAT32_MAX_CLUSTERS 0x0FFFFFF5u
#define FAT_MAX_COPIES 4u
#define CHUNK_ENTRIES (256u * 1024u)    /* even: FAT12 entries pair in 3 bytes */

/* The type strings sit where an MBR keeps boot code: with the x86 jump
 * FAT needs they are a signature, alone a hint (fs.c's design note). */
#define SCORE_FAT (VC_FS_PROBE_SIGNATURE + 30)

struct fat_bpb {
        uint32_t bps, spc, rsvd, nfats, root_ents, fat_size;
        uint64_t tot_sec, first_data, root_dir_sectors, count;
        unsigned bits;                  /* 12, 16, 32 */
        uint32_t root_clus;             /* FAT32 */
        uint8_t state;                  /* boot-sector state byte, 0 when absent */
        bool has_state;
        char label[12];
};

static bool has_bytes(const struct span *head, uint32_t off, const char *s, size_t n)
{
        return span_check(head, off, n) >= 0 && memcmp(head->p + off, s, n) == 0;
}

static int fat_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        uint8_t jump;
        bool jumps;
        uint32_t off = 0;
        int score = VC_FS_PROBE_NO;

        if (head->len < BOOT_SIZE)
                return VC_FS_PROBE_NO;
        jumps = span_get_u8(head, 0, &jump) >= 0 && (jump == 0xEB || jump == 0xE9);
        if (has_bytes(head, 82, "FAT32   ", 8)) {
                off = 82;
                score = jumps ? SCORE_FAT : VC_FS_PROBE_HINT;
        } else if (jumps && (has_bytes(head, 54, "FAT12   ", 8) || has_bytes(head, 54, "FAT16   ", 8))) {
                off = 54;
                score = SCORE_FAT;
        } else if (has_bytes(head, 54, "FAT1", 4)) {
                off = 54;
                score = VC_FS_PROBE_HINT;
        }
        if (score != VC_FS_PROBE_NO)
                *ret = (struct vc_fs_evidence) { .offset = off, .field = "fat.boot.fs_type" };
        return score;
}

#define BAD(field, off, ...) \
        vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, (field), start + (off), __VA_ARGS__)

/* Validates the BPB of the volume at [start, start + limit). */
static int parse_bpb(const uint8_t *b, uint64_t start, uint64_t limit, struct fat_bpb *ret,
                     struct vc_problems *problems)
{
        struct fat_bpb p = {};
        uint32_t tot16 = get_le16(b + 0x13), tot32 = get_le32(b + 0x20), fatsz16 = get_le16(b + 0x16);
        bool fat32_shape = fatsz16 == 0;
        uint64_t fat_bytes, need_bits;

        if (b[0] != 0xEB && b[0] != 0xE9)
                return BAD("fat.boot.jump", 0, "no x86 jump at the start of the FAT boot sector (0x%02x)", b[0]);
        if (get_le16(b + 0x1FE) != 0xAA55)
                return BAD("fat.boot.signature", 0x1FE, "FAT boot sector signature is 0x%04x, not 0xAA55",
                           get_le16(b + 0x1FE));
        p.bps = get_le16(b + 0x0B);
        if (p.bps != 512 && p.bps != 1024 && p.bps != 2048 && p.bps != 4096)
                return BAD("fat.bpb.bytes_per_sector", 0x0B, "%u bytes per sector", p.bps);
        p.spc = b[0x0D];
        if (!IS_POWER_OF_2(p.spc))
                return BAD("fat.bpb.sectors_per_cluster", 0x0D, "%u sectors per cluster", p.spc);
        p.rsvd = get_le16(b + 0x0E);
        if (p.rsvd < 1)
                return BAD("fat.bpb.reserved_sectors", 0x0E, "no reserved sector");
        p.nfats = b[0x10];
        if (p.nfats < 1 || p.nfats > FAT_MAX_COPIES)
                return BAD("fat.bpb.num_fats", 0x10, "%u FATs", p.nfats);
        p.root_ents = get_le16(b + 0x11);
        p.tot_sec = tot16 ? tot16 : tot32;
        if (p.tot_sec == 0)
                return BAD("fat.bpb.total_sectors", 0x20, "no sectors");
        if (p.tot_sec > limit / p.bps)
                return BAD("fat.bpb.total_sectors", tot16 ? 0x13 : 0x20,
                           "%llu sectors of %u bytes run past the volume's %llu bytes",
                           (unsigned long long) p.tot_sec, p.bps, (unsigned long long) limit);
        p.fat_size = fat32_shape ? get_le32(b + 0x24) : fatsz16;
        if (p.fat_size == 0)
                return BAD("fat.bpb.fat_size", 0x24, "FATs of 0 sectors");
        p.root_dir_sectors = DIV_ROUND_UP((uint64_t) p.root_ents * 32u, p.bps);
        p.first_data = p.rsvd + (uint64_t) p.nfats * p.fat_size + p.root_dir_sectors;
        if (p.first_data >= p.tot_sec)
                return BAD("fat.bpb.fat_size", fat32_shape ? 0x24 : 0x16,
                           "reserved sectors, FATs and root directory (%llu sectors) fill the volume",
                           (unsigned long long) p.first_data);
        p.count = (p.tot_sec - p.first_data) / p.spc;
        if (p.count == 0)
                return BAD("fat.bpb.total_sectors", 0x20, "no whole cluster on the volume");
        p.bits = p.count < FAT12_MAX ? 12 : p.count < FAT16_MAX ? 16 : 32;

        /* The count decides the type; a BPB shaped for the other is
         * ambiguous (Linux goes by the shape) and refused. */
        if ((p.bits == 32) != fat32_shape)
                return BAD("fat.bpb.fat_size", 0x16,
                           "%llu clusters make FAT%u, but the BPB is shaped for %s",
                           (unsigned long long) p.count, p.bits, fat32_shape ? "FAT32" : "FAT12/16");
        if (p.bits == 32) {
                if (p.root_ents != 0)
                        return BAD("fat.bpb.root_entries", 0x11, "FAT32 with %u root entries", p.root_ents);
                if (tot16 != 0)
                        return BAD("fat.bpb.total_sectors", 0x13, "FAT32 with a 16-bit sector count");
                if (get_le16(b + 0x2A) != 0)
                        return BAD("fat.bpb.fs_version", 0x2A, "FAT32 version %u.%u", b[0x2B], b[0x2A]);
                if (p.count > FAT32_MAX_CLUSTERS)
                        return BAD("fat.bpb.total_sectors", 0x20, "%llu clusters, more than FAT32 holds",
                                   (unsigned long long) p.count);
                p.root_clus = get_le32(b + 0x2C);
                if (p.root_clus < 2 || p.root_clus > p.count + 1)
                        return BAD("fat.bpb.root_cluster", 0x2C, "root directory at cluster %u of 2..%llu",
                                   p.root_clus, (unsigned long long) p.count + 1);
        } else if (p.root_ents == 0)
                return BAD("fat.bpb.root_entries", 0x11, "FAT%u with no root directory entries", p.bits);

        fat_bytes = (uint64_t) p.fat_size * p.bps;
        need_bits = (p.count + 2) * p.bits;
        if (fat_bytes * 8 < need_bits)
                return BAD("fat.bpb.fat_size", fat32_shape ? 0x24 : 0x16,
                           "a FAT of %llu bytes cannot hold %llu entries",
                           (unsigned long long) fat_bytes, (unsigned long long) p.count + 2);

        uint32_t ext = p.bits == 32 ? 0x40 : 0x24;     /* drive number; state byte at +1 */
        if (b[ext + 2] == 0x29 || b[ext + 2] == 0x28) {
                p.has_state = true;
                p.state = b[ext + 1];
        }
        if (b[ext + 2] == 0x29) {
                size_t n = 0;
                for (size_t i = 0; i < 11; i++) {
                        uint8_t c = b[ext + 7 + i];
                        p.label[n++] = c >= 0x20 && c < 0x7F ? (char) c : '?';
                }
                while (n && p.label[n - 1] == ' ')
                        n--;
                p.label[n] = '\0';
                if (strcmp(p.label, "NO NAME") == 0)
                        p.label[0] = '\0';
        }
        *ret = p;
        return 0;
}

/* Entry @e of a chunk whose first entry is @first (even), FAT12 packed. */
static uint32_t fat_entry(const uint8_t *buf, unsigned bits, uint64_t e, uint64_t first)
{
        uint64_t i = e - first;

        switch (bits) {
        case 12: {
                const uint8_t *p = buf + i * 3 / 2;
                uint16_t v = (uint16_t) (p[0] | p[1] << 8);
                return i & 1 ? v >> 4 : v & 0xFFF;
        }
        case 16:
                return get_le16(buf + i * 2);
        default:
                return get_le32(buf + i * 4);
        }
}

static uint64_t entry_bytes(unsigned bits, uint64_t n)
{
        /* n entries from an even one. */
        return bits == 12 ? DIV_ROUND_UP(n * 12, 8) : n * (bits / 8);
}

struct fat_walk {
        struct vc_source *src;
        uint64_t start;
        const struct fat_bpb *p;
        struct vc_freemap *out;
        uint64_t run_start, run_len, free_clusters;
        struct vc_problems *problems;
};

static int flush_run(struct fat_walk *w)
{
        const struct fat_bpb *p = w->p;
        int r = 0;

        if (w->run_len)
                r = freemap_add(w->out,
                                w->start + (p->first_data + (w->run_start - 2) * p->spc) * p->bps,
                                w->run_len * p->spc * p->bps);
        w->run_len = 0;
        return r;
}

/* Walks every copy, granting the clusters zero in all of them. */
static int walk_fats(struct fat_walk *w)
{
        const struct fat_bpb *p = w->p;
        uint64_t n_entries = p->count + 2;
        size_t cap = (size_t) entry_bytes(p->bits, CHUNK_ENTRIES);
        _cleanup_free_ uint8_t *bufs = malloc(cap * p->nfats);
        int r;

        if (!bufs)
                return -ENOMEM;
        for (uint64_t first = 0; first < n_entries; first += CHUNK_ENTRIES) {
                uint64_t n = MIN((uint64_t) CHUNK_ENTRIES, n_entries - first);
                uint64_t off = first * p->bits / 8, len = entry_bytes(p->bits, n);

                for (uint32_t k = 0; k < p->nfats; k++) {
                        uint64_t at = w->start + ((uint64_t) p->rsvd + (uint64_t) k * p->fat_size) * p->bps + off;
                        r = vc_source_pread(w->src, bufs + k * cap, (size_t) len, at);
                        if (r < 0)
                                return vc_problem_add(w->problems, VC_PROBLEM_IO, r, "fat.fat", at,
                                                      "reading FAT %u: %s", k, strerror(-r));
                }
                for (uint64_t e = MAX(first, (uint64_t) 2); e < first + n; e++) {
                        bool is_free = true;
                        for (uint32_t k = 0; k < p->nfats && is_free; k++)
                                is_free = fat_entry(bufs + k * cap, p->bits, e, first) == 0;
                        if (!is_free) {
                                r = flush_run(w);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (!w->run_len)
                                w->run_start = e;
                        w->run_len++;
                        w->free_clusters++;
                }
        }
        return flush_run(w);
}

static int fat_scan(struct vc_source *src, uint64_t start, uint64_t size,
                    const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                    struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        uint8_t boot[BOOT_SIZE];
        struct fat_bpb p;
        struct vc_fs_info info = {};
        uint64_t limit;
        int r;

        if (start >= src->size || src->size - start < BOOT_SIZE)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "fat.boot", start,
                                      "FAT volume at %llu has no whole boot sector", (unsigned long long) start);
        limit = MIN(size, src->size - start);
        r = vc_source_pread(src, boot, sizeof boot, start);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, "fat.boot", start,
                                      "reading the FAT boot sector: %s", strerror(-r));
        r = parse_bpb(boot, start, limit, &p, problems);
        if (r < 0)
                return r;

        info.cluster_size = p.spc * p.bps;
        info.total_clusters = p.count;
        memcpy(info.label, p.label, sizeof p.label);

        /* The state byte first: it needs no FAT read. */
        struct fat_walk w = { .src = src, .start = start, .p = &p, .out = free_out, .problems = problems };
        const char *dirty_field = "fat.boot.state";
        uint64_t dirty_at = start + (p.bits == 32 ? 0x41 : 0x25);
        info.clean = !(p.has_state && (p.state & 1));
        if (!info.clean)
                snprintf(info.not_clean_reason, sizeof info.not_clean_reason,
                         "the FAT%u boot sector's dirty flag is set: not cleanly unmounted", p.bits);
        /* Then FAT[1] of every copy, before the walk grants anything. */
        if (info.clean && p.bits != 12) {
                uint8_t e1[8];
                for (uint32_t k = 0; k < p.nfats && info.clean; k++) {
                        uint64_t at = start + ((uint64_t) p.rsvd + (uint64_t) k * p.fat_size) * p.bps;
                        r = vc_source_pread(src, e1, sizeof e1, at);
                        if (r < 0)
                                return vc_problem_add(problems, VC_PROBLEM_IO, r, "fat.fat", at,
                                                      "reading FAT %u: %s", k, strerror(-r));
                        uint32_t v = p.bits == 16 ? get_le16(e1 + 2) : get_le32(e1 + 4);
                        uint32_t clean_bit = p.bits == 16 ? 1u << 15 : 1u << 27;
                        uint32_t ok_bit = p.bits == 16 ? 1u << 14 : 1u << 26;
                        if (!(v & clean_bit) || !(v & ok_bit)) {
                                info.clean = false;
                                dirty_field = "fat.fat1";
                                dirty_at = at + (p.bits == 16 ? 2 : 4);
                                snprintf(info.not_clean_reason, sizeof info.not_clean_reason,
                                         "FAT[1] of FAT copy %u says %s", k + 1,
                                         !(v & clean_bit) ? "the volume was not cleanly unmounted"
                                                          : "a hard disk error happened");
                        }
                }
        }
        if (!info.clean && !opts->force_dirty) {
                vc_problem_add(problems, VC_PROBLEM_FS_DIRTY, -EUCLEAN, dirty_field, dirty_at, "%s",
                               info.not_clean_reason);
                *ret_info = info;
                return 0;
        }
        r = walk_fats(&w);
        if (r < 0)
                return r;
        info.free_clusters = w.free_clusters;
        *ret_info = info;
        return 0;
}

const struct vc_fs_type vc_fs_fat = {
        .name = "fat",
        .probe = fat_probe,
        .scan = fat_scan,
};
