/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file-system registry: one entry per file system we recognise, in one
 * table that both the partition-table reader (is sector 0 a whole-disk file
 * system?) and the scan (what is in this partition?) probe.
 *
 * Each entry has a name, a pure probe over the volume's first bytes, and
 * optionally a scanner.  The scan is a *push*: the scanner appends the byte
 * ranges its file system does not use to the caller's free map, which only
 * ever grants, and reports generic facts (struct vc_fs_info).  An entry
 * without a scanner is recognised (named in the report) but never scanned:
 * its whole volume counts as in use.
 *
 * vc_fs_scan() is the only way to run a scanner.  It keeps the promise every
 * scanner would otherwise have to keep by hand: when the scan fails, or the
 * volume is not clean and the caller did not force it, the caller's map is
 * left exactly as it was, including its last range, which a first granted
 * range adjacent to it would have grown (freemap_add merges).
 *
 * How to add a file system (say ext4):
 *   1. lib/fs/ext4*.c with the parser; lib/fs/ext4.c ends in
 *        const struct vc_fs_type vc_fs_ext4 = {
 *                .name = "ext4", .probe = ext4_probe, .scan = ext4_scan,
 *        };
 *      The probe reads only @head (bounds-checked), returns a score, and
 *      fills *ret_evidence.  The scan appends whole free blocks inside
 *      [start, start + size) and the disk with freemap_add() only (never
 *      sorting or removing: the restore relies on it), fills *ret_info on
 *      success, and needs no clean-up of the map on failure:
 *      vc_fs_scan() does it.
 *   2. One line in fs.c's FOR_EACH_FS_TYPE (in place of the signature-only
 *      entry for ext there), and the files in lib/meson.build.
 *   3. Tests (tests/unit/test-ext4-*.c, an integration test with mkfs.ext4
 *      as the oracle) and docs (docs/vhdctl-analyze.md's list of names).
 * Nothing outside lib/fs/ names a file system: analyze.c, vhdctl and the
 * daemon see only the registry and struct vc_fs_info.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../source.h"
#include "../util/problem.h"
#include "../util/span.h"
#include "freemap.h"

/* Bytes of a volume's start a probe may look at: the boot sector and the
 * ext superblock's magic at 1080, the swap signature at 4086.  Callers
 * pass fewer when the disk ends. */
#define VC_FS_PROBE_SIZE 4096u

/* Probe scores.  A *signature* (>= VC_FS_PROBE_SIGNATURE) is strong
 * enough to make the partition reader doubt an MBR in the same sector; a
 * *hint* below it only names an unscanned volume in the report.  The
 * highest score wins; equal scores go to the earlier entry. */
#define VC_FS_PROBE_NO 0
#define VC_FS_PROBE_HINT 10
#define VC_FS_PROBE_SIGNATURE 50
#define VC_FS_PROBE_CERTAIN 100

/* Where a probe found its evidence, for a problem that must name it. */
struct vc_fs_evidence {
        uint32_t offset;        /* in the volume's first bytes */
        const char *field;      /* static: "ntfs.boot.oem_id", "ext.magic", ... */
};

/* Generic facts about a scanned volume: what `vhdctl analyze` prints. */
struct vc_fs_info {
        uint32_t cluster_size;          /* bytes of the allocation unit; 0 = nothing known */
        uint64_t total_clusters;
        uint64_t free_clusters;         /* 0 when the allocation map was not read
                                         * (not clean and not forced) */
        bool clean;                     /* false: dirty, unclean journal, hibernated,
                                         * or one of these undeterminable */
        char not_clean_reason[160];     /* human reason when !clean */
        char label[128];                /* UTF-8, may be empty */
};

struct vc_fs_scan_opts {
        bool force_dirty;               /* grant free space of a volume that is not clean */
        bool offline;                   /* the disk provably is not running: the caller
                                         * holds the image's exclusive lock and its
                                         * saved-state flag is clear (swap needs it) */
};

struct vc_fs_type {
        const char *name;               /* "ntfs", "exfat", ...: in reports and JSON */

        /* A score from VC_FS_PROBE_NO to VC_FS_PROBE_CERTAIN for @head, the
         * first bytes of a volume of @size bytes (up to VC_FS_PROBE_SIZE,
         * fewer at the end of the disk).  Pure: no I/O, no allocation.  A
         * score promises nothing: the scan validates.  Sets *ret_evidence
         * when it returns more than NO. */
        int (*probe)(const struct span *head, uint64_t size, struct vc_fs_evidence *ret_evidence);

        /* NULL: recognised, never scanned.  Otherwise: append the free byte
         * ranges (absolute on @src) of the volume at [start, start + size)
         * to @free_out, only inside it and inside @src.  Returns 0 and fills
         * *ret_info (also for a volume that is not clean: clean = false, a
         * reason, nothing appended unless opts->force_dirty, and one
         * VC_PROBLEM_FS_DIRTY problem); @ret_detail, when not NULL, is the
         * file system's own facts (struct ntfs_info for "ntfs").  On
         * failure: a negative errno and one problem naming the field and
         * its absolute offset; whatever it appended is undone by
         * vc_fs_scan(). */
        int (*scan)(struct vc_source *src, uint64_t start, uint64_t size,
                    const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                    struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems);
};

/* The registry, in probe order, NULL-terminated. */
extern const struct vc_fs_type *const vc_fs_types[];

/* The entry of that name, or NULL. */
const struct vc_fs_type *vc_fs_type_by_name(const char *name);

/*
 * vc_fs_probe - which file system @head (the first bytes of a volume of
 * @size bytes) holds: the entry with the highest score of at least
 * @min_score, or NULL.  *ret_evidence (optional) says where its signature is.
 */
const struct vc_fs_type *vc_fs_probe(const struct span *head, uint64_t size, int min_score,
                                     struct vc_fs_evidence *ret_evidence);

/*
 * vc_fs_scan - run @type's scanner on the volume at [start, start + size)
 * of @src (see struct vc_fs_type.scan).  -EOPNOTSUPP when @type has no
 * scanner.  On failure, and when the volume is not clean and
 * opts->force_dirty is not set, @free_out is left exactly as it was.
 * *ret_info is written only when 0 is returned.
 */
int vc_fs_scan(const struct vc_fs_type *type, struct vc_source *src, uint64_t start, uint64_t size,
               const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
               struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems);

/* The probe of an entry that is only a byte signature (exFAT, BitLocker,
 * ReFS at byte 3): CERTAIN when @magic of @len bytes is at @offset and the
 * head holds a whole 512-byte boot sector. */
int vc_fs_probe_magic(const struct span *head, uint32_t offset, const char *magic, size_t len,
                      const char *field, struct vc_fs_evidence *ret_evidence);
