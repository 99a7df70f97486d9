/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NTFS runlists ("mapping pairs"): which clusters hold an attribute.
 *
 * Design note: a runlist is a sequence of (length, signed LCN delta) pairs
 * packed into variable-width little-endian fields, ended by a zero byte.  A
 * wrong decode here either reads metadata from the wrong place or - worse -
 * is later trusted as "these clusters are the bitmap", so the decoder is
 * strict: every field must lie inside the attribute, every length must be
 * positive, the running LCN may never leave [0, total_clusters), VCNs may
 * never wrap, and the extent must end exactly at its highest VCN + 1.
 * Sparse runs (delta field of width 0) are kept as holes; callers that
 * cannot accept holes ($MFT, $Bitmap) refuse them.  The decoder appends to
 * a runlist shared by all extents of the attribute and rolls back on error.
 */
#include <errno.h>
#include <stdlib.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "ntfs-internal.h"

#define RL_CORRUPT(field, off, ...) \
        vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.runlist." field, \
                       disk_off + (off), __VA_ARGS__)

uint64_t ntfs_runlist_vcn_end(const struct ntfs_runlist *rl)
{
        if (rl->n == 0)
                return 0;
        return rl->v[rl->n - 1].vcn + rl->v[rl->n - 1].len;
}

const struct ntfs_run *ntfs_runlist_lookup(const struct ntfs_runlist *rl, uint64_t vcn)
{
        size_t lo = 0, hi = rl->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct ntfs_run *r = &rl->v[mid];
                if (vcn < r->vcn)
                        hi = mid;
                else if (vcn - r->vcn >= r->len)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

uint64_t ntfs_runlist_allocated(const struct ntfs_runlist *rl)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < rl->n; i++)
                if (rl->v[i].lcn != NTFS_LCN_HOLE)
                        sum += rl->v[i].len;
        return sum;
}

int ntfs_runlist_append(struct ntfs_runlist *rl, uint64_t vcn, uint64_t lcn, uint64_t len)
{
        if (rl->n > 0) {
                struct ntfs_run *last = &rl->v[rl->n - 1];
                bool both_holes = last->lcn == NTFS_LCN_HOLE && lcn == NTFS_LCN_HOLE;
                bool contiguous = last->lcn != NTFS_LCN_HOLE && lcn != NTFS_LCN_HOLE &&
                                  last->lcn + last->len == lcn;
                if (last->vcn + last->len == vcn && (both_holes || contiguous)) {
                        last->len += len;
                        return 0;
                }
        }
        if (rl->n == rl->cap) {
                size_t cap = rl->cap ? rl->cap * 2 : 16;
                struct ntfs_run *v;

                if (cap > NTFS_MAX_RUNS)
                        cap = NTFS_MAX_RUNS;
                if (rl->n >= cap)
                        return -E2BIG;
                v = realloc(rl->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                rl->v = v;
                rl->cap = cap;
        }
        rl->v[rl->n++] = (struct ntfs_run) { .vcn = vcn, .lcn = lcn, .len = len };
        return 0;
}

void ntfs_runlist_truncate(struct ntfs_runlist *rl, size_t n)
{
        if (n < rl->n)
                rl->n = n;
}

void ntfs_runlist_done(struct ntfs_runlist *rl)
{
        free(rl->v);
        *rl = (struct ntfs_runlist) {};
}

/* Little-endian integer of @width bytes at @p, sign-extended from its top byte. */
static int64_t get_sle(const uint8_t *p, unsigned width)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < width; i++)
                v |= (uint64_t) p[i] << (8 * i);
        if (width < 8 && (p[width - 1] & 0x80))
                v |= ~0ull << (8 * width);
        return (int64_t) v;
}

int ntfs_runlist_decode(struct ntfs_runlist *rl, const struct span *mp, uint64_t lowest_vcn,
                        uint64_t highest_vcn, uint64_t total_clusters, uint64_t disk_off,
                        struct vc_problems *problems)
{
        const size_t n0 = rl->n;
        /* append() may grow the last run in place: remember it for the rollback. */
        const uint64_t last_len0 = n0 ? rl->v[n0 - 1].len : 0;
        /* The extent's last VCN + 1, computed so that an empty extent
         * (highest = lowest - 1, including lowest 0 / highest -1) is 0 runs. */
        const uint64_t vcn_stop = highest_vcn + 1;
        uint64_t vcn = lowest_vcn, off = 0;
        int64_t lcn = 0;
        int r;

        if (ntfs_runlist_vcn_end(rl) != lowest_vcn) {
                r = RL_CORRUPT("lowest_vcn", 0,
                               "extent starts at VCN %llu but the previous extents end at VCN %llu",
                               (unsigned long long) lowest_vcn,
                               (unsigned long long) ntfs_runlist_vcn_end(rl));
                goto fail;
        }
        if (vcn_stop < lowest_vcn) {
                r = RL_CORRUPT("highest_vcn", 0, "highest VCN %llu is below lowest VCN %llu",
                               (unsigned long long) highest_vcn, (unsigned long long) lowest_vcn);
                goto fail;
        }

        for (;;) {
                uint8_t header;
                unsigned len_width, delta_width;
                int64_t len;
                uint64_t run_lcn, end;

                if (span_get_u8(mp, off, &header) < 0) {
                        r = RL_CORRUPT("header", off, "mapping pairs run past the attribute "
                                       "without a terminator");
                        goto fail;
                }
                if (header == 0)
                        break;
                len_width = header & 0x0F;
                delta_width = header >> 4;
                if (len_width == 0 || len_width > 8 || delta_width > 8) {
                        r = RL_CORRUPT("header", off, "run header 0x%02x has a length field of %u "
                                       "bytes and an LCN field of %u bytes", header, len_width,
                                       delta_width);
                        goto fail;
                }
                if (span_check(mp, off + 1, (uint64_t) len_width + delta_width) < 0) {
                        r = RL_CORRUPT("header", off, "run at byte %llu of the mapping pairs is "
                                       "truncated", (unsigned long long) off);
                        goto fail;
                }
                len = get_sle(mp->p + off + 1, len_width);
                if (len <= 0) {
                        r = RL_CORRUPT("length", off + 1, "run length %lld is not positive",
                                       (long long) len);
                        goto fail;
                }
                if (ADD_OVERFLOW(vcn, (uint64_t) len, &end) || end > vcn_stop) {
                        r = RL_CORRUPT("length", off + 1, "run of %lld clusters at VCN %llu "
                                       "goes past the extent's highest VCN %llu", (long long) len,
                                       (unsigned long long) vcn, (unsigned long long) highest_vcn);
                        goto fail;
                }
                if (delta_width == 0)
                        run_lcn = NTFS_LCN_HOLE;
                else {
                        int64_t delta = get_sle(mp->p + off + 1 + len_width, delta_width);
                        uint64_t lcn_end;

                        if (ADD_OVERFLOW(lcn, delta, &lcn) || lcn < 0 ||
                            ADD_OVERFLOW((uint64_t) lcn, (uint64_t) len, &lcn_end) ||
                            lcn_end > total_clusters) {
                                r = RL_CORRUPT("lcn", off + 1 + len_width,
                                               "run of %lld clusters at LCN %lld (delta %lld) is "
                                               "outside the volume of %llu clusters",
                                               (long long) len, (long long) lcn, (long long) delta,
                                               (unsigned long long) total_clusters);
                                goto fail;
                        }
                        run_lcn = (uint64_t) lcn;
                }
                r = ntfs_runlist_append(rl, vcn, run_lcn, (uint64_t) len);
                if (r < 0) {
                        if (r == -E2BIG)
                                r = vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                                   "ntfs.runlist.header", disk_off + off,
                                                   "attribute has more than %u runs",
                                                   NTFS_MAX_RUNS);
                        goto fail;
                }
                vcn = end;
                off += 1 + len_width + delta_width;
        }

        if (vcn != vcn_stop) {
                r = RL_CORRUPT("highest_vcn", off, "runs end at VCN %llu but the extent's highest "
                               "VCN is %llu", (unsigned long long) vcn,
                               (unsigned long long) highest_vcn);
                goto fail;
        }
        return 0;

fail:
        ntfs_runlist_truncate(rl, n0);
        if (n0)
                rl->v[n0 - 1].len = last_len0;
        return r;
}
