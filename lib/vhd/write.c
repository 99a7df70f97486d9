/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing: data into allocated blocks, allocation of new blocks, and the
 * zero/trim/flush operations.
 *
 * Allocation appends a block where the footer was, in an order that keeps
 * the file a valid VHD at every instant:
 *   1. write the footer again, one block further on, and fdatasync: the
 *      file now ends in a valid footer with unreferenced space before it;
 *   2. write the block's data and its sector bitmap into that space, and
 *      fdatasync: still unreferenced;
 *   3. point the BAT entry at the block (durable at the next flush).
 * A crash leaves either no new block or a complete one.  Within an existing
 * block, data is written before its bitmap bits are set, so a sector never
 * claims contents that are not on disk yet.
 *
 * Differencing disks: a sector whose bit is clear reads from the parent, so
 * a write that covers only part of a sector first copies that sector's
 * merged contents; sectors not touched keep their clear bit and go on
 * reading from the parent.  Nothing else is copied.
 */
#include <fcntl.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "image-internal.h"

static bool is_diff(const struct vhd_image *img)
{
        return img->footer.disk_type == VHD_TYPE_DIFFERENCING;
}

static int write_bat_entry(struct vhd_image *img, uint32_t blk, uint32_t e)
{
        uint8_t be[4];
        int r;

        put_be32(be, e);
        r = pwrite_full(img->fd, be, 4, img->dyn.table_offset + 4 * (uint64_t) blk);
        if (r < 0)
                return r;
        bat_publish(img, blk, e);
        return 0;
}

/*
 * Builds the sector-aligned image of [s0, s1] (block-relative sectors) with
 * buf written at inoff: partial head and tail sectors are filled from the
 * current merged contents first.  e is the block's entry (may be unused).
 */
static int build_sectors(struct vhd_image *img, uint32_t blk, uint32_t e, const uint8_t *buf,
                         uint64_t inoff, uint64_t len, uint8_t **ret, uint64_t *ret_s0,
                         uint64_t *ret_n)
{
        uint64_t s0 = inoff / VHD_SECTOR_SIZE, s1 = (inoff + len - 1) / VHD_SECTOR_SIZE;
        uint64_t n = s1 - s0 + 1, head = inoff - s0 * VHD_SECTOR_SIZE;
        uint8_t *v = malloc(n * VHD_SECTOR_SIZE);
        int r;

        if (!v)
                return -ENOMEM;
        if (head != 0) {
                r = vhd_block_read(img, blk, e, v, s0 * VHD_SECTOR_SIZE, VHD_SECTOR_SIZE);
                if (r < 0)
                        goto fail;
        }
        if ((inoff + len) % VHD_SECTOR_SIZE != 0 && (s1 != s0 || head == 0)) {
                r = vhd_block_read(img, blk, e, v + (n - 1) * VHD_SECTOR_SIZE,
                                   s1 * VHD_SECTOR_SIZE, VHD_SECTOR_SIZE);
                if (r < 0)
                        goto fail;
        }
        memcpy(v + head, buf, len);
        *ret = v;
        *ret_s0 = s0;
        *ret_n = n;
        return 0;
fail:
        free(v);
        return r;
}

/* Step 1-3 of the allocation protocol above.  Caller holds the write lock. */
static int allocate_block(struct vhd_image *img, uint32_t blk, const uint8_t *buf, uint64_t inoff,
                          uint64_t len)
{
        uint64_t at = img->append_off, new_footer;
        uint64_t s0, n;
        int r;

        if (ADD_OVERFLOW(at, img->stride, &new_footer) ||
            at / VHD_SECTOR_SIZE >= VHD_BAT_UNUSED || new_footer + VHD_FOOTER_SIZE > (2ull << 40))
                return -EFBIG;  /* BAT entries are 32-bit sector numbers */

        _cleanup_free_ uint8_t *sectors = NULL;
        r = build_sectors(img, blk, VHD_BAT_UNUSED, buf, inoff, len, &sectors, &s0, &n);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *bm = calloc(1, img->bitmap_bytes);
        if (!bm)
                return -ENOMEM;
        if (is_diff(img))
                for (uint64_t s = s0; s < s0 + n; s++)
                        bitmap_set(bm, s);
        else
                /* Like qemu: a new dynamic block is wholly present; the rest
                 * of it is zeros from the file's extension. */
                memset(bm, 0xFF, img->bitmap_bytes);

        r = pwrite_full(img->fd, img->footer.raw, VHD_FOOTER_SIZE, new_footer);
        if (r < 0)
                return r;
        vc_fault_point("allocate: footer moved");
        if (fdatasync(img->fd) < 0)
                return -errno;
        vc_fault_point("allocate: footer synced");
        img->file_size = new_footer + VHD_FOOTER_SIZE;
        img->footer_off = new_footer;
        img->append_off = new_footer;

        /* The old footer lies where the bitmap goes and must read as data
         * zeros afterwards: the whole bitmap area is rewritten here. */
        r = pwrite_full(img->fd, sectors, n * VHD_SECTOR_SIZE,
                        at + img->bitmap_bytes + s0 * VHD_SECTOR_SIZE);
        if (r < 0)
                return r;
        vc_fault_point("allocate: data written");
        r = pwrite_full(img->fd, bm, img->bitmap_bytes, at);
        if (r < 0)
                return r;
        vc_fault_point("allocate: bitmap written");
        if (fdatasync(img->fd) < 0)
                return -errno;
        vc_fault_point("allocate: block synced");

        r = write_bat_entry(img, blk, (uint32_t) (at / VHD_SECTOR_SIZE));
        if (r < 0)
                return r;
        vc_fault_point("allocate: BAT entry written");
        __atomic_store_n(&img->bitmap_state[blk], is_diff(img) ? BITMAP_PARTIAL : BITMAP_FULL,
                         __ATOMIC_RELAXED);
        return 0;
}

/* Writes into an allocated block and sets its bitmap bits.  Caller holds the
 * write lock. */
static int write_allocated(struct vhd_image *img, uint32_t blk, uint32_t e, const uint8_t *buf,
                           uint64_t inoff, uint64_t len)
{
        uint64_t block_off = (uint64_t) e * VHD_SECTOR_SIZE, s0, n;
        _cleanup_free_ uint8_t *sectors = NULL;
        int r;

        r = build_sectors(img, blk, e, buf, inoff, len, &sectors, &s0, &n);
        if (r < 0)
                return r;
        r = pwrite_full(img->fd, sectors, n * VHD_SECTOR_SIZE,
                        block_off + img->bitmap_bytes + s0 * VHD_SECTOR_SIZE);
        if (r < 0)
                return r;
        vc_fault_point("write: data written");

        uint64_t b0 = s0 / 8, b1 = (s0 + n - 1) / 8;
        _cleanup_free_ uint8_t *bm = malloc(b1 - b0 + 1);
        if (!bm)
                return -ENOMEM;
        r = pread_full(img->fd, bm, b1 - b0 + 1, block_off + b0);
        if (r < 0)
                return r;
        bool changed = false;
        for (uint64_t s = s0; s < s0 + n; s++)
                if (!bitmap_bit(bm, s - b0 * 8)) {
                        bitmap_set(bm, s - b0 * 8);
                        changed = true;
                }
        if (!changed)
                return 0;
        r = pwrite_full(img->fd, bm, b1 - b0 + 1, block_off + b0);
        if (r < 0)
                return r;
        vc_fault_point("write: bitmap bits set");
        /* A dynamic block may now be full; find out on the next read. */
        if (!is_diff(img))
                __atomic_store_n(&img->bitmap_state[blk], BITMAP_UNKNOWN, __ATOMIC_RELAXED);
        return 0;
}

int vhd_image_pwrite(struct vhd_image *img, const void *buf, size_t count, uint64_t offset)
{
        const uint8_t *p = buf;
        int r = 0;

        if (img->readonly)
                return -EROFS;
        if (range_outside(offset, count, img->virtual_size))
                return -EINVAL;
        if (img->footer.disk_type == VHD_TYPE_FIXED)
                return pwrite_full(img->fd, buf, count, offset);

        while (count > 0) {
                uint32_t blk = (uint32_t) (offset / img->block_size);
                uint64_t inoff = offset % img->block_size;
                uint64_t len = MIN((uint64_t) count, img->block_size - inoff);
                uint32_t e;

                /* Fast path: a full dynamic block needs no bitmap update.
                 * The lock is held shared so that a partial-sector rewrite
                 * under the write lock cannot interleave with this write. */
                pthread_rwlock_rdlock(&img->lock);
                e = bat_load(img, blk);
                bool fast = e != VHD_BAT_UNUSED && vhd_bitmap_learn(img, blk, e) == BITMAP_FULL;
                if (fast)
                        r = pwrite_full(img->fd, p, len,
                                        (uint64_t) e * VHD_SECTOR_SIZE + img->bitmap_bytes + inoff);
                pthread_rwlock_unlock(&img->lock);
                if (!fast) {
                        pthread_rwlock_wrlock(&img->lock);
                        e = bat_load(img, blk);
                        if (e == VHD_BAT_UNUSED)
                                r = allocate_block(img, blk, p, inoff, len);
                        else
                                r = write_allocated(img, blk, e, p, inoff, len);
                        pthread_rwlock_unlock(&img->lock);
                }
                if (r < 0)
                        return r;
                p += len;
                offset += len;
                count -= len;
        }
        return 0;
}

/* Calls f for each block wholly inside [offset, offset+count), counting the
 * last, short block of a disk as whole when the range reaches the end. */
static int unallocate_whole_blocks(struct vhd_image *img, size_t count, uint64_t offset)
{
        uint64_t end = offset + count;
        uint64_t first = DIV_ROUND_UP(offset, img->block_size);
        int r = 0;

        for (uint64_t b = first; b < img->n_entries; b++) {
                uint64_t bstart = b * img->block_size;
                uint64_t bend = MIN(bstart + img->block_size, img->virtual_size);
                if (bstart >= img->virtual_size || bend > end)
                        break;
                pthread_rwlock_wrlock(&img->lock);
                if (bat_load(img, (uint32_t) b) != VHD_BAT_UNUSED) {
                        r = write_bat_entry(img, (uint32_t) b, VHD_BAT_UNUSED);
                        vc_fault_point("unallocate: BAT entry written");
                }
                __atomic_store_n(&img->bitmap_state[b], BITMAP_UNKNOWN, __ATOMIC_RELAXED);
                pthread_rwlock_unlock(&img->lock);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_zeros(struct vhd_image *img, size_t count, uint64_t offset)
{
        size_t chunk = MIN(count, (size_t) 1 << 20);
        _cleanup_free_ uint8_t *z = calloc(1, chunk ? chunk : 1);
        int r;

        if (!z)
                return -ENOMEM;
        while (count > 0) {
                size_t n = MIN(count, chunk);
                r = vhd_image_pwrite(img, z, n, offset);
                if (r < 0)
                        return r;
                count -= n;
                offset += n;
        }
        return 0;
}

int vhd_image_zero(struct vhd_image *img, size_t count, uint64_t offset)
{
        int r;

        if (img->readonly)
                return -EROFS;
        if (range_outside(offset, count, img->virtual_size))
                return -EINVAL;
        if (img->footer.disk_type == VHD_TYPE_FIXED) {
                if (fallocate(img->fd, FALLOC_FL_ZERO_RANGE, (off_t) offset, (off_t) count) == 0)
                        return 0;
                return write_zeros(img, count, offset);
        }
        if (is_diff(img))
                /* Unallocating would show the parent: zeros must be written. */
                return write_zeros(img, count, offset);

        r = unallocate_whole_blocks(img, count, offset);
        if (r < 0)
                return r;
        /* Partial blocks: only allocated ones can hold non-zero bytes. */
        while (count > 0) {
                uint32_t blk = (uint32_t) (offset / img->block_size);
                uint64_t inoff = offset % img->block_size;
                uint64_t len = MIN((uint64_t) count, img->block_size - inoff);
                if (vhd_image_bat_entry(img, blk) != VHD_BAT_UNUSED) {
                        r = write_zeros(img, len, offset);
                        if (r < 0)
                                return r;
                }
                offset += len;
                count -= len;
        }
        return 0;
}

int vhd_image_trim(struct vhd_image *img, size_t count, uint64_t offset)
{
        if (img->readonly)
                return -EROFS;
        if (range_outside(offset, count, img->virtual_size))
                return -EINVAL;
        switch (img->footer.disk_type) {
        case VHD_TYPE_FIXED:
                /* Advisory: a file system without hole punching simply keeps the data. */
                if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                              (off_t) count) < 0 && errno != EOPNOTSUPP)
                        return -errno;
                return 0;
        case VHD_TYPE_DYNAMIC:
                return unallocate_whole_blocks(img, count, offset);
        default:
                /* Dropping a child block would expose the parent's older data. */
                return 0;
        }
}

int vhd_image_flush(struct vhd_image *img)
{
        if (img->readonly)
                return 0;
        return fdatasync(img->fd) < 0 ? -errno : 0;
}

static int extent_below(struct vhd_image *img, uint64_t off, uint64_t max, uint64_t *ret_len,
                        enum vc_extent_kind *ret_kind);

/* The allocation status of the run starting at off, at most max bytes. */
static int extent_at(struct vhd_image *img, uint64_t off, uint64_t max, uint64_t *ret_len,
                     enum vc_extent_kind *ret_kind)
{
        if (img->footer.disk_type == VHD_TYPE_FIXED) {
                *ret_len = max;
                *ret_kind = VC_EXTENT_DATA;
                return 0;
        }
        uint32_t blk = (uint32_t) (off / img->block_size);
        uint64_t len = MIN(max, img->block_size - off % img->block_size);
        if (vhd_image_bat_entry(img, blk) != VHD_BAT_UNUSED) {
                *ret_len = len;
                *ret_kind = VC_EXTENT_DATA;
                return 0;
        }
        return extent_below(img, off, len, ret_len, ret_kind);
}

static int extent_below(struct vhd_image *img, uint64_t off, uint64_t max, uint64_t *ret_len,
                        enum vc_extent_kind *ret_kind)
{
        if (!is_diff(img) || !img->parent || off >= img->parent->virtual_size) {
                *ret_len = max;
                *ret_kind = VC_EXTENT_HOLE_ZERO;
                return 0;
        }
        return extent_at(img->parent, off, MIN(max, img->parent->virtual_size - off), ret_len,
                         ret_kind);
}

int vhd_image_extents(struct vhd_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata)
{
        uint64_t end;

        if (ADD_OVERFLOW(offset, count, &end) || end > img->virtual_size)
                return -EINVAL;
        while (offset < end) {
                enum vc_extent_kind kind, k2;
                uint64_t len, l2;
                int r = extent_at(img, offset, end - offset, &len, &kind);
                if (r < 0)
                        return r;
                /* Merge runs of the same kind so callers see few extents. */
                while (offset + len < end &&
                       extent_at(img, offset + len, end - offset - len, &l2, &k2) == 0 && k2 == kind)
                        len += l2;
                r = f(offset, len, kind, userdata);
                if (r != 0)
                        return r;
                offset += len;
        }
        return 0;
}
