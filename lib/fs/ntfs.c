/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfs_scan(): the order in which an NTFS volume is read, and the final
 * free-range map.
 *
 * Design note: what we grant is destroyed by the compaction, so the scan
 * is built to fail closed:
 *   - geometry from the boot sector, validated field by field;
 *   - $MFT's runlist from record 0 (through its attribute list if it has
 *     one), so every later record is found even in a fragmented MFT;
 *   - $Bitmap (record 6) and $BadClus:$Bad (record 8) located and checked
 *     *before* deciding anything, so a corrupt volume is an error, not a
 *     "not clean" that force-dirty could override;
 *   - the clean-shutdown witnesses (ntfs-clean.c);
 *   - the bitmap walk, 1 MiB of $Bitmap at a time: a free run loses the
 *     clusters of $Bad, and a free run that touches metadata we read
 *     ourselves ($Boot, $MFT, the first cluster of $MFTMirr, $Bitmap,
 *     $LogFile, attribute lists, the root index, $UpCase) proves the bitmap
 *     wrong and fails the scan - the cross-check ntfsresize does before
 *     moving anything;
 *   - the runs go straight into the caller's map; vc_fs_scan() (fs.c)
 *     restores it exactly if anything fails on the way.
 * Ranges are whole clusters below total_clusters, so the partial cluster
 * and the backup boot sector at the end of the partition are never granted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "../util/span.h"
#include "fs.h"
#include "ntfs-internal.h"
#include "ntfs.h"

static int ntfs_fs_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret_evidence)
{
        return vc_fs_probe_magic(head, NTFS_BOOT_OFF_OEM_ID, NTFS_OEM_ID, 8, "ntfs.boot.oem_id",
                                 ret_evidence);
}

bool ntfs_probe(struct vc_source *src, uint64_t part_start)
{
        uint8_t sector[NTFS_BOOT_SIZE];
        const struct span head = SPAN(sector, sizeof sector);
        struct vc_fs_evidence ev;

        if (vc_source_pread(src, sector, sizeof sector, part_start) < 0)
                return false;
        return ntfs_fs_probe(&head, 0, &ev) > VC_FS_PROBE_NO;
}

#define CORRUPT(field, where, ...) \
        vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, (field), (where), __VA_ARGS__)

static bool has_hole(const struct ntfs_runlist *rl)
{
        for (size_t i = 0; i < rl->n; i++)
                if (rl->v[i].lcn == NTFS_LCN_HOLE)
                        return true;
        return false;
}

/* $MFT: record 0 read where the boot sector says, then its full runlist. */
static int load_mft(struct ntfs_volume *v, struct ntfs_record *rec)
{
        const struct ntfs_boot *b = &v->boot;
        struct ntfs_stream s = {};
        int r;

        /* Bootstrap: just record 0, contiguous at the MFT LCN. */
        v->mft_rl.n = 0;
        r = ntfs_runlist_append(&v->mft_rl, 0, b->mft_lcn,
                                DIV_ROUND_UP(b->mft_record_size, b->cluster_size));
        if (r < 0)
                return r;
        v->mft_valid = b->mft_record_size;
        r = ntfs_mft_read(v, NTFS_REC_MFT, rec);
        if (r < 0)
                return r;
        if (!(rec->flags & NTFS_MFT_FLAG_IN_USE) || rec->base_ref != 0)
                return CORRUPT("ntfs.mft.flags", ntfs_block_where(&rec->blk, NTFS_MFT_OFF_FLAGS),
                               "MFT record 0 ($MFT) is not an in-use base record");

        v->mft_rl.n = 0;
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "", "$MFT", &v->mft_rl, &s);
        if (r == 0)
                r = CORRUPT("ntfs.mft.data", ntfs_block_where(&rec->blk, rec->attrs_offset),
                            "$MFT has no $DATA attribute");
        if (r < 0)
                goto out;
        if (s.resident || (s.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED |
                                      NTFS_ATTR_FLAG_SPARSE)) || has_hole(&v->mft_rl)) {
                r = CORRUPT("ntfs.mft.data", s.attr_where,
                            "$MFT data is resident, sparse, compressed or encrypted (flags 0x%04x)",
                            s.flags);
                goto out;
        }
        /* Record 0 was read contiguously at the boot sector's LCN: the
         * runlist must agree, its first run covering the whole record. */
        if (v->mft_rl.n == 0 || v->mft_rl.v[0].lcn != b->mft_lcn ||
            (v->mft_rl.v[0].len << b->cluster_shift) < b->mft_record_size) {
                r = CORRUPT("ntfs.boot.mft_lcn", v->part_start + NTFS_BOOT_OFF_MFT_LCN,
                            "boot sector puts $MFT at cluster %llu, its runlist starts with "
                            "%llu clusters at %llu", (unsigned long long) b->mft_lcn,
                            (unsigned long long) (v->mft_rl.n ? v->mft_rl.v[0].len : 0),
                            (unsigned long long) (v->mft_rl.n ? v->mft_rl.v[0].lcn : 0));
                goto out;
        }
        v->mft_valid = s.initialized_size;
        if (v->mft_valid < (uint64_t) NTFS_REC_FIRST_USER * b->mft_record_size) {
                r = CORRUPT("ntfs.attr.initialized_size", s.data_size_where,
                            "$MFT holds %llu bytes, fewer than the %u system records",
                            (unsigned long long) v->mft_valid, NTFS_REC_FIRST_USER);
                goto out;
        }
        /* Only now: the name may live in an extension record. */
        r = ntfs_record_check_name(v, rec, "$MFT", NTFS_REC_ROOT, "ntfs.mft.file_name");
        if (r < 0)
                goto out;
        r = ntfs_volume_note_used(v, &v->mft_rl);
        if (r < 0)
                goto out;
        r = ntfs_volume_note_used_range(v, 0, DIV_ROUND_UP(NTFS_BOOT_FILE_SIZE, b->cluster_size));
        if (r < 0)
                goto out;
        r = ntfs_volume_note_used_range(v, b->mftmirr_lcn, 1);
out:
        ntfs_stream_done(&s);
        return r;
}

/* $Bitmap: record 6, checked hard, with its whole $DATA stream. */
static int load_bitmap(struct ntfs_volume *v, struct ntfs_record *rec, struct ntfs_stream *ret)
{
        const uint64_t need = DIV_ROUND_UP(v->boot.total_clusters, 8);
        struct ntfs_stream s = {};
        int r;

        r = ntfs_mft_read_system(v, NTFS_REC_BITMAP, "$Bitmap", "ntfs.bitmap.file_name", rec);
        if (r < 0)
                return r;
        if (rec->seq != NTFS_REC_BITMAP || (rec->flags & NTFS_MFT_FLAG_DIRECTORY))
                return CORRUPT("ntfs.mft.sequence", ntfs_block_where(&rec->blk, NTFS_MFT_OFF_SEQUENCE),
                               "$Bitmap record has sequence number %u (expected 6) or is a "
                               "directory", rec->seq);
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "", "$Bitmap", NULL, &s);
        if (r == 0)
                r = CORRUPT("ntfs.bitmap.data", ntfs_block_where(&rec->blk, rec->attrs_offset),
                            "$Bitmap has no unnamed $DATA attribute");
        if (r < 0)
                goto fail;
        if (s.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED | NTFS_ATTR_FLAG_SPARSE)) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                   "ntfs.bitmap.flags", s.attr_where + NTFS_ATTR_OFF_FLAGS,
                                   "$Bitmap is compressed, encrypted or sparse (flags 0x%04x)",
                                   s.flags);
                goto fail;
        }
        if (has_hole(&s.rl)) {
                /* A hole reads as zeros, i.e. "free": never accept one. */
                r = CORRUPT("ntfs.bitmap.runlist", s.attr_where, "$Bitmap has a sparse run");
                goto fail;
        }
        if (s.data_size < need) {
                r = CORRUPT("ntfs.bitmap.data_size", s.data_size_where,
                            "$Bitmap holds %llu bytes, %llu clusters need %llu",
                            (unsigned long long) s.data_size,
                            (unsigned long long) v->boot.total_clusters, (unsigned long long) need);
                goto fail;
        }
        if (s.initialized_size < need) {
                /* Bytes past the initialized size read as zeros too. */
                r = CORRUPT("ntfs.bitmap.initialized_size",
                            s.data_size_where - NTFS_ATTR_OFF_DATA_SIZE + NTFS_ATTR_OFF_INITIALIZED_SIZE,
                            "$Bitmap has %llu initialized bytes, %llu clusters need %llu",
                            (unsigned long long) s.initialized_size,
                            (unsigned long long) v->boot.total_clusters, (unsigned long long) need);
                goto fail;
        }
        r = ntfs_volume_note_used(v, &s.rl);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        ntfs_stream_done(&s);
        return r;
}

static int cmp_run_lcn(const void *a, const void *b)
{
        const struct ntfs_run *x = a, *y = b;
        return x->lcn < y->lcn ? -1 : x->lcn > y->lcn;
}

/* Sorts by LCN and merges overlapping or adjacent cluster ranges
 * (vcn is ignored). */
static void sort_merge(struct ntfs_runlist *l)
{
        size_t w = 0;

        if (l->n == 0)
                return;
        qsort(l->v, l->n, sizeof *l->v, cmp_run_lcn);
        for (size_t i = 1; i < l->n; i++) {
                struct ntfs_run *last = &l->v[w];
                if (l->v[i].lcn <= last->lcn + last->len) {
                        uint64_t end = MAX(last->lcn + last->len, l->v[i].lcn + l->v[i].len);
                        last->len = end - last->lcn;
                } else
                        l->v[++w] = l->v[i];
        }
        l->n = w + 1;
}

/* $BadClus:$Bad: the clusters it maps (its holes are the good ones). */
static int load_bad(struct ntfs_volume *v, struct ntfs_record *rec, struct ntfs_runlist *ret)
{
        struct ntfs_stream s = {};
        struct ntfs_runlist bad = {};
        int r;

        r = ntfs_mft_read_system(v, NTFS_REC_BADCLUS, "$BadClus", "ntfs.badclus.file_name", rec);
        if (r < 0)
                return r;
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "$Bad", "$BadClus:$Bad", NULL, &s);
        if (r == 0)
                r = CORRUPT("ntfs.badclus.data", ntfs_block_where(&rec->blk, rec->attrs_offset),
                            "$BadClus has no $Bad stream");
        if (r < 0)
                goto out;
        if (s.resident && s.data_size > 0) {
                r = CORRUPT("ntfs.badclus.data", s.attr_where, "$BadClus:$Bad is resident and not "
                            "empty");
                goto out;
        }
        for (size_t i = 0; i < s.rl.n; i++) {
                if (s.rl.v[i].lcn == NTFS_LCN_HOLE)
                        continue;
                /* vcn = lcn: this list is sorted by LCN below. */
                r = ntfs_runlist_append(&bad, s.rl.v[i].lcn, s.rl.v[i].lcn, s.rl.v[i].len);
                if (r < 0)
                        goto out;
        }
        sort_merge(&bad);
        *ret = bad;
        bad = (struct ntfs_runlist) {};
        r = 0;
out:
        ntfs_runlist_done(&bad);
        ntfs_stream_done(&s);
        return r;
}

struct walk_ctx {
        struct ntfs_volume *v;
        const struct ntfs_stream *bitmap;
        const struct ntfs_runlist *bad, *used;
        size_t bad_i, used_i;
        struct vc_freemap *map;
        uint64_t runs;                  /* free runs granted so far */
};

/* Disk offset of the $Bitmap byte holding cluster @lcn's bit. */
static uint64_t bitmap_bit_where(const struct walk_ctx *c, uint64_t lcn)
{
        const struct ntfs_volume *v = c->v;
        uint64_t byte = lcn / 8;
        const struct ntfs_run *run;

        if (c->bitmap->resident)
                return c->bitmap->attr_where;
        run = ntfs_runlist_lookup(&c->bitmap->rl, byte >> v->boot.cluster_shift);
        if (!run)
                return c->bitmap->attr_where;
        return ntfs_lcn_offset(v, run->lcn) + (byte - (run->vcn << v->boot.cluster_shift));
}

static int grant(struct walk_ctx *c, uint64_t lcn, uint64_t count)
{
        const uint32_t shift = c->v->boot.cluster_shift;

        if (count == 0)
                return 0;
        /* Each run costs the caller 16 bytes: a bitmap fragmented to the
         * cluster could otherwise ask for gigabytes. */
        if (++c->runs > NTFS_MAX_FREE_RUNS)
                return vc_problem_add(c->v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                      "ntfs.bitmap.data", bitmap_bit_where(c, lcn),
                                      "free space is split into more than %u runs",
                                      NTFS_MAX_FREE_RUNS);
        return freemap_add(c->map, c->v->part_start + (lcn << shift), count << shift);
}

static int on_free_run(void *userdata, uint64_t lcn, uint64_t count)
{
        struct walk_ctx *c = userdata;
        struct ntfs_volume *v = c->v;
        const uint64_t end = lcn + count;
        uint64_t cur = lcn;
        size_t k;
        int r;

        if (count == 0 || end > v->boot.total_clusters || end < lcn)
                return CORRUPT("ntfs.bitmap.data", c->bitmap->attr_where,
                               "free run %llu+%llu is outside the volume",
                               (unsigned long long) lcn, (unsigned long long) count);

        /* Metadata we read ourselves must be marked in use. */
        while (c->used_i < c->used->n &&
               c->used->v[c->used_i].lcn + c->used->v[c->used_i].len <= lcn)
                c->used_i++;
        if (c->used_i < c->used->n && c->used->v[c->used_i].lcn < end) {
                uint64_t bad_lcn = MAX(lcn, c->used->v[c->used_i].lcn);
                return CORRUPT("ntfs.bitmap.data", bitmap_bit_where(c, bad_lcn),
                               "$Bitmap marks cluster %llu free, but it holds file-system "
                               "metadata", (unsigned long long) bad_lcn);
        }

        /* Grant [lcn, end) minus the bad clusters. */
        while (c->bad_i < c->bad->n && c->bad->v[c->bad_i].lcn + c->bad->v[c->bad_i].len <= lcn)
                c->bad_i++;
        for (k = c->bad_i; k < c->bad->n && c->bad->v[k].lcn < end; k++) {
                const struct ntfs_run *b = &c->bad->v[k];
                if (b->lcn > cur) {
                        r = grant(c, cur, b->lcn - cur);
                        if (r < 0)
                                return r;
                }
                cur = MAX(cur, b->lcn + b->len);
        }
        if (cur < end)
                return grant(c, cur, end - cur);
        return 0;
}

static int walk_bitmap(struct ntfs_volume *v, const struct ntfs_stream *bitmap,
                       const struct ntfs_runlist *bad, struct vc_freemap *map, uint64_t *ret_free)
{
        const uint64_t total = v->boot.total_clusters;
        const uint64_t need = DIV_ROUND_UP(total, 8);
        struct walk_ctx c = { .v = v, .bitmap = bitmap, .bad = bad, .used = &v->used, .map = map };
        struct ntfs_bitmap_walk w;
        size_t chunk = (size_t) MIN(need, (uint64_t) NTFS_BITMAP_CHUNK);
        uint8_t *buf;
        int r = 0;

        sort_merge(&v->used);
        buf = malloc(chunk);
        if (!buf)
                return -ENOMEM;
        ntfs_bitmap_walk_init(&w, on_free_run, &c);
        for (uint64_t pos = 0; pos < need; pos += chunk) {
                size_t len = (size_t) MIN((uint64_t) chunk, need - pos);
                uint64_t nbits = MIN((uint64_t) len * 8, total - pos * 8);

                r = ntfs_stream_pread(v, bitmap, buf, len, pos, "ntfs.bitmap.data");
                if (r < 0)
                        goto out;
                r = ntfs_bitmap_walk_feed(&w, buf, nbits);
                if (r < 0)
                        goto out;
        }
        r = ntfs_bitmap_walk_finish(&w);
        if (r < 0)
                goto out;
        *ret_free = w.free;
out:
        free(buf);
        return r;
}

/* The scan proper.  It appends straight into the caller's map (half the
 * peak memory of a private copy); vc_fs_scan() undoes that on failure. */
static int scan_volume(struct vc_source *src, uint64_t part_start, uint64_t part_size, bool force_dirty,
                       struct vc_freemap *free_out, struct ntfs_info *ret_info,
                       struct vc_problems *problems)
{
        struct ntfs_volume vol = { .src = src, .part_start = part_start, .problems = problems };
        struct ntfs_volume *v = &vol;
        struct ntfs_state st = { .clean = true };
        struct ntfs_stream bitmap = {};
        struct ntfs_runlist bad = {};
        struct ntfs_record *rec = NULL;
        struct ntfs_info info = {};
        uint8_t sector[NTFS_BOOT_SIZE];
        uint64_t limit, free_clusters = 0;
        int r;

        if (part_start >= src->size || src->size - part_start < NTFS_BOOT_SIZE)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.boot",
                                      part_start, "partition at %llu starts past the end of the "
                                      "disk (%llu bytes)", (unsigned long long) part_start,
                                      (unsigned long long) src->size);
        limit = MIN(part_size, src->size - part_start);
        r = ntfs_read(v, sector, sizeof sector, part_start, "ntfs.boot");
        if (r < 0)
                return r;
        r = ntfs_boot_parse(sector, part_start, limit, &v->boot, problems);
        if (r < 0)
                return r;

        rec = malloc(sizeof *rec);
        if (!rec) {
                r = -ENOMEM;
                goto out;
        }
        r = load_mft(v, rec);
        if (r < 0)
                goto out;
        r = load_bitmap(v, rec, &bitmap);
        if (r < 0)
                goto out;
        r = load_bad(v, rec, &bad);
        if (r < 0)
                goto out;

        r = ntfs_check_volume(v, &st);
        if (r < 0)
                goto out;
        r = ntfs_check_logfile(v, &st);
        if (r < 0)
                goto out;
        r = ntfs_check_hiberfil(v, &st);
        if (r < 0)
                goto out;

        info = (struct ntfs_info) {
                .bytes_per_sector = v->boot.bytes_per_sector,
                .cluster_size = v->boot.cluster_size,
                .mft_record_size = v->boot.mft_record_size,
                .total_sectors = v->boot.total_sectors,
                .total_clusters = v->boot.total_clusters,
                .bad_clusters = ntfs_runlist_allocated(&bad),
                .mft_lcn = v->boot.mft_lcn,
                .version_major = st.major,
                .version_minor = st.minor,
                .volume_flags = st.volume_flags,
                .clean = st.clean,
        };
        memcpy(info.label, st.label, sizeof info.label);
        if (!st.clean)
                memcpy(info.not_clean_reason, st.reason, sizeof info.not_clean_reason);

        if (!st.clean && !force_dirty) {
                vc_problem_add(problems, VC_PROBLEM_FS_DIRTY, -EUCLEAN, st.reason_field,
                               st.reason_where, "%s", st.reason);
                *ret_info = info;
                r = 0;
                goto out;
        }

        r = walk_bitmap(v, &bitmap, &bad, free_out, &free_clusters);
        if (r < 0)
                goto out;
        info.free_clusters = free_clusters;
        *ret_info = info;
        r = 0;
out:
        ntfs_runlist_done(&bad);
        ntfs_stream_done(&bitmap);
        ntfs_volume_done(v);
        free(rec);
        return r;
}

static int ntfs_fs_scan(struct vc_source *src, uint64_t start, uint64_t size,
                        const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                        struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        struct ntfs_info info;
        int r;

        r = scan_volume(src, start, size, opts->force_dirty, free_out, &info, problems);
        if (r < 0)
                return r;
        *ret_info = (struct vc_fs_info) {
                .cluster_size = info.cluster_size,
                .total_clusters = info.total_clusters,
                .free_clusters = info.free_clusters,
                .clean = info.clean,
        };
        memcpy(ret_info->not_clean_reason, info.not_clean_reason, sizeof ret_info->not_clean_reason);
        memcpy(ret_info->label, info.label, sizeof ret_info->label);
        if (ret_detail)
                *(struct ntfs_info *) ret_detail = info;
        return 0;
}

/* The registry's entry (fs.c). */
const struct vc_fs_type vc_fs_ntfs = {
        .name = "ntfs",
        .probe = ntfs_fs_probe,
        .scan = ntfs_fs_scan,
};

int ntfs_scan(struct vc_source *src, uint64_t part_start, uint64_t part_size, bool force_dirty,
              struct vc_freemap *free_out, struct ntfs_info *ret_info, struct vc_problems *problems)
{
        const struct vc_fs_scan_opts opts = { .force_dirty = force_dirty };
        struct vc_fs_info generic;

        return vc_fs_scan(&vc_fs_ntfs, src, part_start, part_size, &opts, free_out, &generic,
                          ret_info, problems);
}
