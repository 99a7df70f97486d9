/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file-system registry (fs.h): the table, the probe that picks the
 * best entry, the scan wrapper that restores the caller's map, and the
 * entries we recognise without scanning them.
 *
 * Design note: the signatures below and the scanners' probes (fat.c,
 * exfat.c, swap.c) are the only ones in the tree.  The
 * partition reader asks for a *signature* (sector 0 of a whole-disk file
 * system, which would make an MBR in the same sector ambiguous), the scan
 * for anything it can name.  The difference matters for FAT and ReFS: their
 * strings sit inside an MBR's boot code, so only the full string with the
 * x86 jump FAT needs (or ReFS's eight bytes) counts as a signature; a bare
 * "FAT32   " or "FAT1" or "ReFS" is a hint, enough to name an unscanned
 * partition, never enough to doubt a partition table.  Scores order the
 * rest: an 8-byte string at byte 3 beats a FAT string, which beats the
 * 2-byte ext magic.
 */
#include <errno.h>
#include <string.h>

#include "../util/macro.h"
#include "fs.h"

#define BOOT_SECTOR_SIZE 512u
#define OEM_ID_OFF 3u
#define OEM_ID_LEN 8u

static int evidence(int score, uint32_t offset, const char *field, struct vc_fs_evidence *ret)
{
        *ret = (struct vc_fs_evidence) { .offset = offset, .field = field };
        return score;
}

static bool has_bytes(const struct span *head, uint32_t offset, const char *magic, size_t len)
{
        return span_check(head, offset, len) >= 0 && memcmp(head->p + offset, magic, len) == 0;
}

int vc_fs_probe_magic(const struct span *head, uint32_t offset, const char *magic, size_t len,
                      const char *field, struct vc_fs_evidence *ret_evidence)
{
        if (head->len < BOOT_SECTOR_SIZE || !has_bytes(head, offset, magic, len))
                return VC_FS_PROBE_NO;
        return evidence(VC_FS_PROBE_CERTAIN, offset, field, ret_evidence);
}

/* ---- recognised, not scanned -------------------------------------------- */

static int bitlocker_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        return vc_fs_probe_magic(head, OEM_ID_OFF, "-FVE-FS-", OEM_ID_LEN, "bitlocker.boot.signature", ret);
}

static int refs_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        int score = vc_fs_probe_magic(head, OEM_ID_OFF, "ReFS\0\0\0\0", OEM_ID_LEN, "refs.boot.oem_id", ret);

        if (score == VC_FS_PROBE_NO && head->len >= BOOT_SECTOR_SIZE &&
            has_bytes(head, OEM_ID_OFF, "ReFS", 4))
                return evidence(VC_FS_PROBE_HINT, OEM_ID_OFF, "refs.boot.oem_id", ret);
        return score;
}

static const struct vc_fs_type vc_fs_bitlocker = { .name = "bitlocker", .probe = bitlocker_probe };
static const struct vc_fs_type vc_fs_refs = { .name = "refs", .probe = refs_probe };

/* ---- the registry ------------------------------------------------------- */

/* In probe order (equal scores: the earlier wins); one line per file
 * system, which also declares the entries defined in other files. */
#define FOR_EACH_FS_TYPE(X)     \
        X(vc_fs_ntfs)           \
        X(vc_fs_bitlocker)      \
        X(vc_fs_exfat)          \
        X(vc_fs_fat)            \
        X(vc_fs_ext)            \
        X(vc_fs_refs)           \
        X(vc_fs_swap)

#define FS_TYPE_DECLARE(t) extern const struct vc_fs_type t;
FOR_EACH_FS_TYPE(FS_TYPE_DECLARE)

#define FS_TYPE_ENTRY(t) &t,
const struct vc_fs_type *const vc_fs_types[] = { FOR_EACH_FS_TYPE(FS_TYPE_ENTRY) NULL };

const struct vc_fs_type *vc_fs_type_by_name(const char *name)
{
        for (size_t i = 0; name && vc_fs_types[i]; i++)
                if (strcmp(vc_fs_types[i]->name, name) == 0)
                        return vc_fs_types[i];
        return NULL;
}

const struct vc_fs_type *vc_fs_probe(const struct span *head, uint64_t size, int min_score,
                                     struct vc_fs_evidence *ret_evidence)
{
        const struct vc_fs_type *best = NULL;
        struct vc_fs_evidence best_ev = {};
        int best_score = MAX(min_score, VC_FS_PROBE_NO + 1) - 1;

        for (size_t i = 0; vc_fs_types[i]; i++) {
                struct vc_fs_evidence ev = {};
                int score = vc_fs_types[i]->probe(head, size, &ev);

                if (score > best_score) {
                        best = vc_fs_types[i];
                        best_score = score;
                        best_ev = ev;
                }
        }
        if (best && ret_evidence)
                *ret_evidence = best_ev;
        return best;
}

int vc_fs_scan(const struct vc_fs_type *type, struct vc_source *src, uint64_t start, uint64_t size,
               const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
               struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        const struct vc_fs_scan_opts defaults = {};
        struct vc_fs_info info = {};
        size_t n0;
        uint64_t last_len0;
        int r;

        if (!type || !src || !free_out || !ret_info)
                return -EINVAL;
        if (!type->scan)
                return -EOPNOTSUPP;
        if (!opts)
                opts = &defaults;

        /* Scanners only append (freemap_add), so a checkpoint is the count
         * and the length of the last range, which an adjacent first grant
         * grows in place. */
        n0 = free_out->n;
        last_len0 = n0 ? free_out->v[n0 - 1].len : 0;
        r = type->scan(src, start, size, opts, free_out, &info, ret_detail, problems);
        if (r < 0 || (!info.clean && !opts->force_dirty)) {
                free_out->n = n0;
                if (n0)
                        free_out->v[n0 - 1].len = last_len0;
        }
        if (r < 0)
                return r;
        *ret_info = info;
        return 0;
}
