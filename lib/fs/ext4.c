/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ext4_scan(): the order in which an ext2/3/4 volume is read, and the
 * registry's entry (FS-AWARE.md §1.8).
 *
 * Design note: what we grant is destroyed by the compaction, so the scan
 * fails closed.  The superblock (checksum first), then every group
 * descriptor (checksums and locations), then the always-in-use set with
 * the journal's blocks, then the clean-shutdown witnesses, all before a
 * single bitmap bit is believed; a checksum mismatch anywhere refuses the
 * volume (fs-corrupt: counted in use), a volume that is not clean grants
 * nothing unless forced.  An external journal device is not a file system
 * of blocks we could free: counted in use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "../util/span.h"
#include "ext4-format.h"
#include "ext4-internal.h"
#include "ext4.h"
#include "fs.h"

/* The ext magic is two bytes only: a signature, but below FAT's and the
 * 8-byte strings (fs.c). */
#define SCORE_EXT (VC_FS_PROBE_SIGNATURE + 10)
#define EXT_MAGIC_OFF (EXT4_SB_OFF + EXT4_SB_MAGIC)

static int ext4_fs_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        uint16_t magic;

        if (span_get_le16(head, EXT_MAGIC_OFF, &magic) < 0 || magic != EXT4_MAGIC)
                return VC_FS_PROBE_NO;
        *ret = (struct vc_fs_evidence) { .offset = EXT_MAGIC_OFF, .field = "ext.magic" };
        return SCORE_EXT;
}

static void volume_done(struct ext4_volume *v)
{
        free(v->desc);
        ext4_extent_done(&v->used);
}

static int scan_volume(struct ext4_volume *v, bool force_dirty, struct vc_freemap *free_out,
                       struct ext4_info *ret_info)
{
        const struct ext4_sb *sb = &v->sb;
        struct ext4_info info = {};
        int r;

        r = ext4_super_parse(v);
        if (r < 0)
                return r;
        /* A feature we do not know may move or add metadata the bitmaps do
         * not show: refused even with --force-dirty (a compat feature, which
         * a kernel that ignores it may still write beside, only makes the
         * volume not clean: ext4-clean.c). */
        if (sb->incompat & ~EXT4_INCOMPAT_KNOWN)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "ext.feature_incompat",
                                      v->start + EXT4_SB_OFF + EXT4_SB_FEATURE_INCOMPAT,
                                      "ext has unsupported incompatible features 0x%x: counted as in use",
                                      sb->incompat & ~EXT4_INCOMPAT_KNOWN);
        if (sb->ro_compat & ~EXT4_RO_COMPAT_KNOWN)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "ext.feature_ro_compat",
                                      v->start + EXT4_SB_OFF + EXT4_SB_FEATURE_RO_COMPAT,
                                      "ext has unsupported read-only-compatible features 0x%x: counted as in use",
                                      sb->ro_compat & ~EXT4_RO_COMPAT_KNOWN);
        if (sb->incompat & EXT4_INCOMPAT_JOURNAL_DEV)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "ext.feature_incompat",
                                      v->start + EXT4_SB_OFF + EXT4_SB_FEATURE_INCOMPAT,
                                      "an external ext journal device: counted as in use");
        r = ext4_desc_load(v);
        if (r < 0)
                return r;
        r = ext4_meta_build(v);
        if (r < 0)
                return r;
        r = ext4_check_clean(v);
        if (r < 0)
                return r;

        info = (struct ext4_info) {
                .block_size = sb->block_size,
                .cluster_size = sb->block_size << sb->log_ratio,
                .blocks_count = sb->blocks_count,
                .clusters_count = sb->blocks_count >> sb->log_ratio,
                .groups = sb->groups,
                .compat = sb->compat,
                .incompat = sb->incompat,
                .ro_compat = sb->ro_compat,
                .clean = v->clean,
        };
        if (!v->clean && !force_dirty) {
                vc_problem_add(v->problems, VC_PROBLEM_FS_DIRTY, -EUCLEAN, v->reason_field, v->reason_where,
                               "%s", v->reason);
                *ret_info = info;
                return 0;
        }
        r = ext4_bitmap_walk(v, free_out, &info.free_clusters);
        if (r < 0)
                return r;
        info.uninit_groups = v->uninit_groups;
        *ret_info = info;
        return 0;
}

static int ext4_fs_scan(struct vc_source *src, uint64_t start, uint64_t size,
                        const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                        struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        struct ext4_volume v = { .src = src, .start = start, .problems = problems, .clean = true };
        struct ext4_info info;
        int r;

        if (start >= src->size)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.superblock", start,
                                      "volume at %llu starts past the end of the disk (%llu bytes)",
                                      (unsigned long long) start, (unsigned long long) src->size);
        v.limit = MIN(size, src->size - start);
        r = scan_volume(&v, opts->force_dirty, free_out, &info);
        if (r >= 0) {
                *ret_info = (struct vc_fs_info) {
                        .cluster_size = info.cluster_size,
                        .total_clusters = info.clusters_count,
                        .free_clusters = info.free_clusters,
                        .clean = info.clean,
                };
                memcpy(ret_info->not_clean_reason, v.reason, sizeof ret_info->not_clean_reason);
                /* The label: 16 bytes, NUL-padded. */
                memcpy(ret_info->label, v.sb.raw + EXT4_SB_VOLUME_NAME, 16);
                ret_info->label[16] = '\0';
                if (ret_detail)
                        *(struct ext4_info *) ret_detail = info;
        }
        volume_done(&v);
        return r;
}

/* The registry's entry (fs.c). */
const struct vc_fs_type vc_fs_ext = {
        .name = "ext2/3/4",
        .probe = ext4_fs_probe,
        .scan = ext4_fs_scan,
};
