/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing a differencing VHDX (VHDX.md §2.3, §2.4, §3.6), with write.c's
 * session, log order and block allocation.  Called with the write lock
 * held, after the headers of the session (vhdx_session_begin).
 *
 * A write into a block that reads from the parent (NOT_PRESENT, or the
 * clear sectors of a PARTIALLY_PRESENT one) marks only the sectors it
 * writes present in the chunk's sector bitmap, as VHDX.md §3.6 asks: no
 * copy of the parent's block into the child (a 4 KiB write into a 32 MiB
 * block writes 4 KiB, not 32 MiB), and the parent keeps serving the rest.
 * Bytes of a sector the write covers only in part are filled first from
 * what the disk reads there now (the parent), so a sector is wholly the
 * child's once its bit is set.  The order, for a NOT_PRESENT block:
 *
 *   1. the file extended by the chunk's 1 MiB bitmap block when it has
 *      none (zeros), and by a whole BlockSize for the payload (zeros);
 *   2. the sectors written there, fdatasync;
 *   3. one log batch (write.c: entry, fdatasync, header naming it, pages
 *      in place, header clearing it) carrying the bitmap entry (when
 *      new), the pages of the block's bitmap slice with exactly the
 *      written sectors set (the rest cleared: a stale bit left by another
 *      writer must not expose the new block's zeros, VHDX.md §2.4) and the
 *      payload entry, PARTIALLY_PRESENT at the new block.
 *
 * A crash before 3 leaves the old BAT (unreferenced space at the end); in
 * or after 3 the log makes all of it or none of it.  In a
 * PARTIALLY_PRESENT block the sectors are written in place (a clear
 * sector's bytes are the child's own, unread while its bit is clear),
 * fdatasynced, then the bits set through the log when some were clear.
 * A write covering a whole NOT_PRESENT block, or into a block that reads
 * zeros (ZERO, UNMAPPED, UNDEFINED), allocates a FULLY_PRESENT block as
 * in a dynamic disk (the rest of it zeros, which is what those read).
 *
 * zero and trim (§3.6: never the parent's data where the guest expects
 * zeros, never stale data):
 *   - zero over a whole block: ZERO (offset 0), spec-defined zeros in a
 *     child, unless the block reads zeros already (ZERO, UNMAPPED,
 *     UNDEFINED, or NOT_PRESENT over a parent that reports zeros there).
 *     Over part of a block: real zeros in a FULLY_PRESENT block; a block
 *     that reads from the parent gets them written as above when what it
 *     reads there is not zeros already.
 *   - trim over a whole block the child holds (FULLY or PARTIALLY
 *     PRESENT): UNMAPPED (offset 0), which reads zeros here and in 7-Zip;
 *     never NOT_PRESENT, which would bring back the parent's older data.
 *     A NOT_PRESENT block is left: the parent's data is what the guest
 *     reads already.  Parts of blocks are left (NBD leaves them undefined).
 *   - a block leaving PARTIALLY_PRESENT has its bitmap slice cleared in
 *     the same batch (§2.4's stale-bit rule).
 * libvhdi reads ZERO and UNMAPPED blocks of a child from the parent, as
 * docs/formats/vhdx.md says; the spec, openvmm and 7-Zip read zeros.
 *
 * Not done: a block whose every sector became present stays
 * PARTIALLY_PRESENT (readers agree on it; FULLY_PRESENT would save the
 * bitmap look-up), and freed space is not reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/zero.h"
#include "image-private.h"

#define PAGE 4096u

static uint64_t sb_index(const struct vhdx_bat *bat, uint64_t chunk)
{
        return chunk * (bat->chunk_ratio + 1) + bat->chunk_ratio;
}

static uint64_t sb_entry_of(const struct vhdx_image *img, uint64_t b)
{
        return vhdx_bat_entry_load(&img->bat, sb_index(&img->bat, b / img->bat.chunk_ratio));
}

/* Where block b's slice of its chunk's bitmap lies in the bitmap block:
 * [*ret_first, *ret_first + *ret_len) bytes (whole bytes: a block has at
 * least 256 sectors). */
static void slice_of(const struct vhdx_image *img, uint64_t b, uint64_t *ret_first, uint64_t *ret_len)
{
        const uint64_t spb = img->meta.block_size / img->meta.logical_sector_size;
        *ret_first = b * spb % VHDX_SECTORS_PER_CHUNK / 8;
        *ret_len = spb / 8;
}

static size_t slice_pages(const struct vhdx_image *img, uint64_t b)
{
        uint64_t first, len;
        slice_of(img, b, &first, &len);
        return (size_t) ((first + len + PAGE - 1) / PAGE - first / PAGE);
}

/* Block b's slice in the bitmap block at sb_at, in the batch: sectors
 * [s0, s1) of the block set; the others cleared (clear_rest) or kept. */
static int slice_set(struct vhdx_image *img, struct vhdx_txn *t, uint64_t sb_at, uint64_t b, uint64_t s0,
                     uint64_t s1, bool clear_rest)
{
        uint64_t first, len;
        int r;

        slice_of(img, b, &first, &len);
        for (uint64_t i = 0; i < len;) {
                uint64_t at = sb_at + first + i, n = MIN(len - i, PAGE - at % PAGE);
                uint8_t *page;
                r = vhdx_txn_page(img, t, at / PAGE * PAGE, &page);
                if (r < 0)
                        return r;
                for (uint64_t k = 0; k < n; k++) {
                        uint8_t *byte = page + at % PAGE + k;
                        for (unsigned bit = 0; bit < 8; bit++) {
                                uint64_t s = (i + k) * 8 + bit;         /* sector of the block */
                                if (s >= s0 && s < s1)
                                        *byte |= (uint8_t) (1u << bit);
                                else if (clear_rest)
                                        *byte &= (uint8_t) ~(1u << bit);
                        }
                }
                i += n;
        }
        return 0;
}

/* Whether sectors [s0, s1) of block b are all set in the bitmap block at
 * sb_at (as in place: a read-write session has no log pending). */
static int slice_all_set(struct vhdx_image *img, uint64_t sb_at, uint64_t b, uint64_t s0, uint64_t s1)
{
        uint64_t first, len;
        uint8_t buf[512];

        slice_of(img, b, &first, &len);
        for (uint64_t s = s0; s < s1;) {
                const uint64_t byte = s / 8, end = MIN((s1 + 7) / 8, byte + sizeof buf);
                int r = pread_full(img->fd, buf, end - byte, sb_at + first + byte);
                if (r < 0)
                        return r;
                for (; s < s1 && s / 8 < end; s++)
                        if (!(buf[s / 8 - byte] >> (s % 8) & 1))
                                return 0;
        }
        return 1;
}

/* Whether block b's slice has any bit set. */
static int slice_any_set(struct vhdx_image *img, uint64_t sb_at, uint64_t b)
{
        uint64_t first, len;
        uint8_t buf[512];

        slice_of(img, b, &first, &len);
        for (uint64_t i = 0; i < len;) {
                size_t n = (size_t) MIN(len - i, (uint64_t) sizeof buf);
                int r = pread_full(img->fd, buf, n, sb_at + first + i);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n; k++)
                        if (buf[k])
                                return 1;
                i += n;
        }
        return 0;
}

/* Bytes [in, in + len) of block b through the bitmap: sectors written
 * present, partly covered sectors filled from what the disk reads. */
static int write_sectors(struct vhdx_image *img, uint64_t b, uint64_t e, const uint8_t *p, uint64_t in,
                         uint64_t len)
{
        const uint64_t ss = img->meta.logical_sector_size, bs = img->meta.block_size;
        const uint64_t a0 = in / ss * ss, a1 = (in + len + ss - 1) / ss * ss, n = a1 - a0;
        const uint64_t sbe = sb_entry_of(img, b);
        const bool fresh = (e & VHDX_BAT_STATE_MASK) == VHDX_PAYLOAD_NOT_PRESENT;
        const bool sb_new = (sbe & VHDX_BAT_STATE_MASK) != VHDX_SB_PRESENT;
        _cleanup_free_ uint8_t *buf = malloc(n);
        _cleanup_(vhdx_txn_done) struct vhdx_txn t = {};
        uint64_t sb_at = sbe & VHDX_BAT_OFFSET_MASK, at = e & VHDX_BAT_OFFSET_MASK;
        int r;

        if (!buf)
                return -ENOMEM;
        if (!fresh && sb_new)
                return -EIO;    /* refused at open (bat.c) */
        /* The sectors the write covers only in part, as the disk reads them. */
        if (in != a0 && (r = vhdx_image_pread(img, buf, ss, b * bs + a0)) < 0)
                return r;
        if ((in + len) % ss && (n > ss || in == a0) && (r = vhdx_image_pread(img, buf + n - ss, ss, b * bs + a1 - ss)) < 0)
                return r;
        memcpy(buf + (in - a0), p, len);

        if (fresh) {
                if (sb_new && (r = vhdx_extend(img, VHDX_MiB, &sb_at)) < 0)
                        return r;
                r = vhdx_extend(img, bs, &at);
                if (r < 0)
                        return r;
        }
        r = vhdx_write_block_data(img, buf, n, at + a0);
        if (r < 0)
                return r;
        if (!fresh) {
                r = slice_all_set(img, sb_at, b, a0 / ss, a1 / ss);
                if (r != 0)
                        return r < 0 ? r : 0;
        }

        r = vhdx_txn_init(img, &t);
        if (r < 0)
                return r;
        r = vhdx_txn_reserve(img, &t, slice_pages(img, b) + 2);
        if (r >= 0 && fresh && sb_new)
                r = vhdx_txn_set_entry(img, &t, sb_index(&img->bat, b / img->bat.chunk_ratio),
                                       sb_at | VHDX_SB_PRESENT);
        if (r >= 0)
                r = slice_set(img, &t, sb_at, b, a0 / ss, a1 / ss, fresh);
        if (r >= 0 && fresh)
                r = vhdx_txn_set_entry(img, &t, vhdx_bat_index(&img->bat, b), at | VHDX_PAYLOAD_PARTIALLY_PRESENT);
        return r < 0 ? r : vhdx_txn_commit(img, &t);
}

int vhdx_child_write(struct vhdx_image *img, uint64_t b, const uint8_t *p, uint64_t in, uint64_t len)
{
        const uint64_t bs = img->meta.block_size, whole = MIN(bs, img->meta.virtual_size - b * bs);
        const uint64_t e = vhdx_entry_of(img, b);

        switch (e & VHDX_BAT_STATE_MASK) {
        case VHDX_PAYLOAD_FULLY_PRESENT:
                return pwrite_full(img->fd, p, len, (e & VHDX_BAT_OFFSET_MASK) + in);
        case VHDX_PAYLOAD_NOT_PRESENT:
                if (in == 0 && len == whole)
                        return vhdx_allocate(img, b, p, len, in);
                __attribute__((fallthrough));
        case VHDX_PAYLOAD_PARTIALLY_PRESENT:
                return write_sectors(img, b, e, p, in, len);
        default:
                /* ZERO, UNMAPPED, UNDEFINED read zeros: so does a new block. */
                return vhdx_allocate(img, b, p, len, in);
        }
}

static int any_data(uint64_t off, uint64_t len, enum vc_extent_kind kind, void *userdata)
{
        (void) off;
        (void) len;
        (void) userdata;
        return kind == VC_EXTENT_DATA;
}

/* Whether [off, off + len) of the disk below the child may hold data
 * (the parent's extents; past its end: zeros). */
static int below_has_data(struct vhdx_image *img, uint64_t off, uint64_t len)
{
        if (!img->parent)
                return -EIO;            /* a read-write open has its parent */
        uint64_t psize = vhdx_image_metadata(img->parent)->virtual_size;
        if (off >= psize)
                return 0;
        return vhdx_image_extents(img->parent, off, MIN(len, psize - off), any_data, NULL);
}

/* Whether the disk reads zeros at [off, off + len). */
static int reads_zeros(struct vhdx_image *img, uint64_t off, uint64_t len)
{
        _cleanup_free_ uint8_t *buf = malloc(MIN(len, (uint64_t) VHDX_MiB));
        if (!buf)
                return -ENOMEM;
        for (uint64_t done = 0; done < len;) {
                size_t n = (size_t) MIN(len - done, (uint64_t) VHDX_MiB);
                int r = vhdx_image_pread(img, buf, n, off + done);
                if (r < 0)
                        return r;
                if (!mem_is_zero(buf, n))
                        return 0;
                done += n;
        }
        return 1;
}

/* Real zeros over [in, in + len) of block b, which reads from the parent
 * there (in part or whole), when it does not read zeros already. */
static int zero_sectors(struct vhdx_image *img, uint64_t b, uint64_t in, uint64_t len)
{
        const uint64_t bs = img->meta.block_size;
        int r = reads_zeros(img, b * bs + in, len);
        if (r != 0)
                return r < 0 ? r : 0;
        _cleanup_free_ uint8_t *z = calloc(1, len);
        if (!z)
                return -ENOMEM;
        r = vhdx_session_begin(img, true);
        return r < 0 ? r : write_sectors(img, b, vhdx_entry_of(img, b), z, in, len);
}

int vhdx_child_discard(struct vhdx_image *img, size_t count, uint64_t offset, bool trim)
{
        const uint64_t bs = img->meta.block_size, vs = img->meta.virtual_size;
        _cleanup_(vhdx_txn_done) struct vhdx_txn t = {};
        int r = vhdx_txn_init(img, &t);

        for (uint64_t off = offset, left = count; r >= 0 && left > 0;) {
                const uint64_t b = off / bs, in = off % bs, len = MIN(left, bs - in);
                const uint64_t e = vhdx_entry_of(img, b), whole = MIN(bs, vs - b * bs);
                const unsigned st = e & VHDX_BAT_STATE_MASK;
                const bool held = st == VHDX_PAYLOAD_FULLY_PRESENT || st == VHDX_PAYLOAD_PARTIALLY_PRESENT;
                off += len;
                left -= len;
                if (in == 0 && len == whole) {
                        bool change = held;
                        if (!trim && st == VHDX_PAYLOAD_NOT_PRESENT) {
                                r = below_has_data(img, b * bs, whole);
                                change = r > 0;
                        }
                        if (r < 0 || !change)
                                continue;
                        const uint64_t sbe = sb_entry_of(img, b);
                        const bool sb = (sbe & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT;
                        r = sb ? slice_any_set(img, sbe & VHDX_BAT_OFFSET_MASK, b) : 0;
                        const bool clear = r > 0;
                        if (r >= 0)
                                r = vhdx_session_begin(img, true);
                        if (r >= 0)
                                r = vhdx_txn_reserve(img, &t, 1 + (clear ? slice_pages(img, b) : 0));
                        if (r >= 0)
                                r = vhdx_txn_set_entry(img, &t, vhdx_bat_index(&img->bat, b),
                                                       trim ? VHDX_PAYLOAD_UNMAPPED : VHDX_PAYLOAD_ZERO);
                        if (r >= 0 && clear)
                                r = slice_set(img, &t, sbe & VHDX_BAT_OFFSET_MASK, b, 0, 0, true);
                } else if (trim)
                        continue;
                else if (st == VHDX_PAYLOAD_FULLY_PRESENT)
                        r = vhdx_write_zeros(img, (e & VHDX_BAT_OFFSET_MASK) + in, len);
                else if (st == VHDX_PAYLOAD_NOT_PRESENT || st == VHDX_PAYLOAD_PARTIALLY_PRESENT) {
                        /* Whole-block changes batched so far first: they
                         * are other blocks, but keep one order. */
                        r = vhdx_txn_commit(img, &t);
                        if (r >= 0)
                                r = zero_sectors(img, b, in, len);
                }
        }
        return r < 0 ? r : vhdx_txn_commit(img, &t);
}
