/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ntfs-runlist: mapping pairs decoded as two consecutive extents of
 * one attribute, the way ntfs_stream_open() builds a runlist.
 *
 * Input: [0] flags (bit 0: the runlist already holds one run, so that the
 * first extent starts at VCN 16), [1..8] total clusters, [9..16] highest
 * VCN of extent 1, [17..24] highest VCN of extent 2, [25] length of
 * extent 1's mapping pairs, then those bytes, then extent 2's.  Each
 * extent's bytes are copied into a buffer of exactly that size, so any
 * read past the attribute is an ASan report.
 *
 * Invariants: on success the runs are gap-free from the first VCN, end at
 * highest + 1, have positive lengths, lie inside the volume and are found
 * by ntfs_runlist_lookup(); on failure there is a problem and the runlist
 * is exactly as it was.  And a reference decoder written from the format
 * description (ntfs-internal.h's contract) must accept exactly the same
 * extents and find exactly the same runs.
 */
#include "fs/ntfs-internal.h"
#include "fuzz-common.h"

static void check_runs(const struct ntfs_runlist *rl, uint64_t first, uint64_t total)
{
        uint64_t vcn = first, alloc = 0;

        for (size_t i = 0; i < rl->n; i++) {
                const struct ntfs_run *r = &rl->v[i];
                FUZZ_CHECK(r->vcn == vcn);
                FUZZ_CHECK(r->len > 0);
                FUZZ_CHECK(r->vcn + r->len > r->vcn);
                if (r->lcn != NTFS_LCN_HOLE) {
                        FUZZ_CHECK(r->lcn < total && total - r->lcn >= r->len);
                        alloc += r->len;
                }
                FUZZ_CHECK(ntfs_runlist_lookup(rl, r->vcn) == r);
                FUZZ_CHECK(ntfs_runlist_lookup(rl, r->vcn + r->len - 1) == r);
                vcn = r->vcn + r->len;
        }
        FUZZ_CHECK(ntfs_runlist_vcn_end(rl) == (rl->n ? vcn : 0));
        FUZZ_CHECK(ntfs_runlist_allocated(rl) == alloc);
        FUZZ_CHECK(ntfs_runlist_lookup(rl, vcn) == NULL);
}

/* The reference: one run at a time, the rules spelled out.  Appends to
 * @rl (merging like ntfs_runlist_append) and returns whether the extent is
 * valid; @rl is then only meaningful when it is. */
static bool ref_decode(struct ntfs_runlist *rl, const uint8_t *mp, size_t len, uint64_t lowest,
                       uint64_t highest, uint64_t total)
{
        uint64_t vcn = lowest, stop = highest + 1;
        __int128 lcn = 0;
        size_t off = 0;

        if (ntfs_runlist_vcn_end(rl) != lowest || stop < lowest)
                return false;
        for (;;) {
                unsigned lw, dw;
                __int128 l = 0, d = 0;
                if (off >= len)
                        return false;
                if (mp[off] == 0)
                        break;
                lw = mp[off] & 15;
                dw = mp[off] >> 4;
                if (lw < 1 || lw > 8 || dw > 8 || len - off - 1 < lw + dw)
                        return false;
                for (unsigned i = lw; i-- > 0;)
                        l = l * 256 + mp[off + 1 + i];
                if (mp[off + lw] & 0x80)
                        l -= (__int128) 1 << (8 * lw);
                if (l <= 0 || (unsigned __int128) vcn + (unsigned __int128) l > stop)
                        return false;
                if (dw) {
                        for (unsigned i = dw; i-- > 0;)
                                d = d * 256 + mp[off + 1 + lw + i];
                        if (mp[off + lw + dw] & 0x80)
                                d -= (__int128) 1 << (8 * dw);
                        lcn += d;
                        if (lcn < 0 || lcn > INT64_MAX || lcn + l > (__int128) total)
                                return false;
                }
                if (ntfs_runlist_append(rl, vcn, dw ? (uint64_t) lcn : NTFS_LCN_HOLE, (uint64_t) l) < 0)
                        return false;
                vcn += (uint64_t) l;
                off += 1 + lw + dw;
        }
        return vcn == stop;
}

/* Decodes one extent; returns whether it was accepted. */
static bool extent(struct ntfs_runlist *rl, const uint8_t *mp, size_t len, uint64_t lowest,
                   uint64_t highest, uint64_t total, uint64_t first)
{
        struct vc_problems ps = {};
        size_t n0 = rl->n;
        struct ntfs_run *saved = malloc((n0 + 1) * sizeof *saved);
        uint8_t *copy = malloc(len ? len : 1);
        struct span s;
        int r;

        if (!saved || !copy)
                abort();
        if (n0)
                memcpy(saved, rl->v, n0 * sizeof *saved);
        if (len)
                memcpy(copy, mp, len);
        s = SPAN(copy, len);
        {
                struct ntfs_runlist ref = {};
                bool ok;
                for (size_t i = 0; i < n0; i++)
                        if (ntfs_runlist_append(&ref, rl->v[i].vcn, rl->v[i].lcn, rl->v[i].len) < 0)
                                abort();
                ok = ref_decode(&ref, mp, len, lowest, highest, total);
                r = ntfs_runlist_decode(rl, &s, lowest, highest, total, 4096, &ps);
                if (r != -ENOMEM) {
                        FUZZ_CHECK(ok == (r >= 0));
                        if (ok)
                                FUZZ_CHECK(ref.n == rl->n &&
                                           (!ref.n || memcmp(ref.v, rl->v, ref.n * sizeof *ref.v) == 0));
                }
                ntfs_runlist_done(&ref);
        }
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(rl->n == n0);
                FUZZ_CHECK(n0 == 0 || memcmp(saved, rl->v, n0 * sizeof *saved) == 0);
        } else {
                FUZZ_CHECK(rl->n >= n0 || (n0 > 0 && rl->n == n0));
                FUZZ_CHECK(ntfs_runlist_vcn_end(rl) == highest + 1 || (highest + 1 == lowest && rl->n == n0));
                check_runs(rl, first, total);
        }
        vc_problems_done(&ps);
        free(saved);
        free(copy);
        return r >= 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ntfs_runlist rl = {};
        uint64_t total, h1, h2, lowest = 0;
        size_t len1;

        if (size < 26)
                return 0;
        total = get_le64(data + 1);
        h1 = get_le64(data + 9);
        h2 = get_le64(data + 17);
        len1 = data[25];
        data += 26;
        size -= 26;
        if (len1 > size)
                len1 = size;
        if ((data[-26] & 1) && total > 20) {
                if (ntfs_runlist_append(&rl, 0, 3, 16) < 0)
                        abort();
                lowest = 16;
        }
        if (extent(&rl, data, len1, lowest, h1, total, 0) && h1 != UINT64_MAX)
                extent(&rl, data + len1, size - len1, h1 + 1, h2, total, 0);
        ntfs_runlist_done(&rl);
        return 0;
}
