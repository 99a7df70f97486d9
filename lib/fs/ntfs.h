/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NTFS: which clusters of a volume are free.
 *
 * The scan reads the boot sector, a handful of MFT records ($MFT, $LogFile,
 * $Volume, the root directory, $Bitmap, $BadClus and their extension
 * records), the first pages of $LogFile, a path through the root index to
 * find hiberfil.sys, and $Bitmap itself - nothing else.  Every byte it reads
 * is untrusted; everything it does not fully understand counts as in use.
 * See docs/formats/ntfs.md for the layout and the preconditions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "../source.h"
#include "../util/problem.h"
#include "freemap.h"

struct ntfs_info {
        uint32_t bytes_per_sector, cluster_size, mft_record_size;
        uint64_t total_sectors, total_clusters;
        uint64_t free_clusters;         /* zero bits of $Bitmap below total_clusters;
                                         * 0 when the bitmap was not walked (not clean
                                         * and !force_dirty) */
        uint64_t bad_clusters;          /* clusters in $BadClus:$Bad (never granted) */
        uint64_t mft_lcn;
        uint8_t version_major, version_minor;
        uint16_t volume_flags;
        bool clean;                     /* false: dirty flag, unclean $LogFile, hibernated,
                                         * or one of these could not be determined */
        char not_clean_reason[160];     /* human reason when !clean */
        char label[128];                /* $Volume name if present (UTF-8), may be empty */
};

/*
 * ntfs_probe - does the sector at @part_start look like an NTFS boot sector?
 *
 * True when "NTFS    " is at byte 3 (the registry's probe of vc_fs_ntfs).
 * Reads one sector; false on any read error.  A true answer promises
 * nothing: ntfs_scan() validates.
 */
bool ntfs_probe(struct vc_source *src, uint64_t part_start);

/*
 * ntfs_scan - find the free clusters of the NTFS volume in a partition
 * @src:         the virtual disk (untrusted content)
 * @part_start:  byte offset of the partition on @src
 * @part_size:   its length in bytes
 * @force_dirty: grant free space even when the volume is not clean
 * @free_out:    where the free byte ranges (absolute on @src) are appended
 * @ret_info:    volume facts, written on success only
 * @problems:    problem sink (may be NULL)
 *
 * Appends to @free_out the byte ranges of the clusters $Bitmap marks free,
 * minus $BadClus:$Bad, all inside [part_start, part_start + total_clusters *
 * cluster_size), which itself lies inside [part_start, part_start +
 * part_size) and inside @src.  The tail after the last whole cluster (the
 * backup boot sector) is never granted.
 *
 * Returns 0 on success.  A volume that is not clean (dirty flag, chkdsk
 * underway, unclean $LogFile, hibernated, or any of these undeterminable)
 * also returns 0, with ret_info->clean = false and a reason; unless
 * @force_dirty it appends nothing and records one VC_PROBLEM_FS_DIRTY
 * (error -EUCLEAN) naming the deciding field.
 *
 * On failure returns a negative errno (-EBADMSG corrupt, -EOPNOTSUPP beyond
 * what we support, -EIO unreadable, -ENOMEM) with a problem naming the field
 * and its absolute offset on @src, and leaves @free_out exactly as it was.
 *
 * This is vc_fs_scan() (fs.h) on the registry's entry vc_fs_ntfs, with
 * the NTFS facts the generic struct vc_fs_info leaves out: for ntfsdump,
 * the tests and the fuzzer.  The scan pipeline goes through the registry.
 */
int ntfs_scan(struct vc_source *src, uint64_t part_start, uint64_t part_size, bool force_dirty,
              struct vc_freemap *free_out, struct ntfs_info *ret_info, struct vc_problems *problems);
