/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Analysis, the scan (docs/design.md, pipeline steps 1-4): on an open, validated image,
 * attach it read-only, read its partition table and the file systems
 * inside, and classify every allocated block as free (every byte free per
 * a file system), partially free, or used.  The plan (step 5) is the
 * caller's: compact/preview.h adds the final size for `vhdctl analyze`.  Anything not
 * understood — an unknown partition type, an unreadable table, a volume
 * that fails a check or was not shut down cleanly — frees nothing.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "fs/freemap.h"
#include "fs/fs.h"
#include "fs/partition.h"
#include "util/problem.h"

enum vc_block_class {
        VC_BLOCK_UNALLOCATED,
        VC_BLOCK_FREE,          /* every byte free per the file systems */
        VC_BLOCK_PARTIAL,       /* some bytes free */
        VC_BLOCK_USED,
        _VC_BLOCK_CLASS_MAX,
};
const char *vc_block_class_to_string(enum vc_block_class c);

struct vc_analyze_opts {
        bool force_dirty;       /* scan volumes that were not shut down cleanly */
        bool nolock;            /* the caller holds the image's lock */
        /* Read the guest's disk in-process, through the open image
         * (vc_source_image), instead of a read-only nbdkit attach of its
         * path: for the sandboxed worker, which can hand nbdkit no path it
         * could open.  The same bytes, so the same analysis. */
        bool in_process;
        /* A compaction's dry run: judge swap as the real run would (the
         * disk not running when it is no saved state), writing nothing,
         * so that the announced size is the real one. */
        bool dry_run;
        /* compact_preview only: the user's mapping for the disk's parent
         * (image/open.h); needs in_process, as the attach cannot say it. */
        const char *parent_path;
};

struct vc_volume {
        unsigned partition;     /* 1-based; 0 = no partition table */
        uint64_t start, size;
        char type_name[32];
        const char *fs;         /* the registry's name (fs/fs.h), or NULL when
                                 * not recognised */
        bool scanned;           /* its free space was read */
        char note[320];         /* why it was not scanned, when it was not */
        struct vc_fs_info fs_info; /* what its scanner reported; all zero when
                                    * it has none or the scan failed */
        uint64_t free_bytes;
};

struct vc_analysis {
        char *path;
        const char *type;               /* the format's kind of disk ("dynamic"); static */
        uint64_t virtual_size, file_size;
        uint32_t block_size, n_blocks, blocks_allocated;
        uint32_t blocks_by_class[_VC_BLOCK_CLASS_MAX];
        uint8_t *block_class;           /* enum vc_block_class per block */
        enum vc_part_scheme scheme;
        bool used_backup_gpt;
        char table_note[320];           /* set when the table could not be read */
        size_t n_volumes;
        struct vc_volume *volumes;
        uint64_t free_bytes;            /* total file-system-free bytes */
        uint64_t reclaimable_bytes;     /* file bytes the free blocks occupy */
        uint64_t final_size;            /* file size after dropping the free blocks:
                                         * set by compact_preview(), 0 from the scan */
        uint64_t bytes_read;            /* read through the attach */
        const char *format;             /* "vhd", "vhdx" (static) */
        bool compaction_unsupported;    /* the format has no compaction yet
                                         * (VHDX): final_size is file_size */
        /* The free byte ranges of the virtual disk, normalized
         * (fs/freemap.h): what the classes were made from, kept for the
         * combined rule's scan of partly free blocks (compact.c). */
        struct vc_freemap free_map;
        /* Set by compact_preview(): what a compaction in mode full would
         * do (the combined rule, compact.c): the file size after and the
         * blocks each reason drops. */
        uint64_t final_size_full;
        uint32_t full_dropped_fs, full_dropped_zero, full_dropped_fs_zero;
};

/* The scan of an image the caller has open (and locked).  Untrusted input
 * throughout.  On failure (the image itself is invalid or cannot be
 * attached) problems says why and *ret is untouched. */
struct vc_image;
int vc_analyze_image(struct vc_image *img, const struct vc_analyze_opts *opts,
                     struct vc_analysis *ret, struct vc_problems *problems);
void vc_analysis_done(struct vc_analysis *a);
