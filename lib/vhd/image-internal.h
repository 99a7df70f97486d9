/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image object shared by image.c (open, validate, read), write.c,
 * parent.c and check.c.  Not part of the public interface.
 *
 * Locking: `lock` guards bat[], append_off and the on-disk sector bitmaps.
 * Readers hold it shared only to look up a BAT entry and do their pread
 * unlocked; allocation, bitmap updates and BAT changes hold it exclusively.
 *
 * A BAT entry is also loaded and stored atomically (bat_load(),
 * bat_publish()), so that a reader outside the lock (a count of the
 * allocated blocks) sees it whole, old or new.  The order: a new block's
 * data, bitmap and moved footer are written and fdatasync'ed, then its
 * entry written to the file's BAT, and only then published in memory with
 * release; a reader's acquire load that sees the new entry therefore
 * happens after those writes returned, and its pread finds the data.  An
 * entry that goes back to unused leaves the block's bytes where they were
 * (the file only grows at its end while it is open), so a reader that
 * loaded the old entry still reads what the block held.
 */
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include "../image/open.h"
#include "vhd.h"

enum bitmap_state { BITMAP_UNKNOWN = 0, BITMAP_FULL = 1, BITMAP_PARTIAL = 2 };

struct vhd_image {
        int fd;
        bool readonly;
        char *path;
        dev_t dev;
        ino_t ino;
        uint64_t file_size;
        uint64_t footer_off;            /* where the end footer is */
        struct vhd_footer footer;
        bool has_dyn;
        struct vhd_dyn_header dyn;
        uint64_t virtual_size;

        /* dynamic and differencing only */
        uint32_t n_entries;
        uint32_t block_size;
        uint32_t bitmap_bytes;          /* sector bitmap, padded to 512 */
        uint64_t stride;                /* bitmap_bytes + block_size */
        uint32_t *bat;                  /* host byte order */
        uint8_t *bitmap_state;          /* enum bitmap_state per block, atomic access */
        uint64_t append_off;            /* where the next block goes */

        struct vhd_image *parent;
        /* How parents are opened by name: the opener of the context the
         * image was opened with (its fd and dir_fd are not kept). */
        struct vc_open_ctx ctx;
        pthread_rwlock_t lock;
        bool lock_init;
};

static inline uint32_t bat_load(const struct vhd_image *img, uint32_t n)
{
        return __atomic_load_n(&img->bat[n], __ATOMIC_ACQUIRE);
}

/* The one writer, under the exclusive lock, after the block is durable. */
static inline void bat_publish(struct vhd_image *img, uint32_t n, uint32_t e)
{
        __atomic_store_n(&img->bat[n], e, __ATOMIC_RELEASE);
}

/* The images below one being opened as a parent, child first: its file
 * must be none of theirs (a loop A -> B -> A).  Checked before the parent
 * is opened, so before its lock, which a loop back to the image being
 * compacted would otherwise find taken and call "in use". */
struct vhd_chain {
        const struct vhd_chain *below;
        dev_t dev;
        ino_t ino;
};

/* parent.c: BELOW is the chain under img (NULL for the image opened). */
int vhd_parent_open(struct vhd_image *img, unsigned flags, int depth, const struct vhd_chain *below,
                    struct vc_problems *problems);

/* image.c: reads [inoff, inoff+len) of block blk whose BAT entry is e,
 * without taking img->lock (the caller holds it or accepts the race). */
int vhd_block_read(struct vhd_image *img, uint32_t blk, uint32_t e, uint8_t *buf,
                   uint64_t inoff, uint64_t len);
/* image.c: whether dynamic block blk (entry e) has every bitmap bit set,
 * learnt once per block from the disk and then remembered. */
int vhd_bitmap_learn(struct vhd_image *img, uint32_t blk, uint32_t e);
int vhd_image_open_depth(const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                         const struct vhd_chain *below, struct vc_problems *problems, struct vhd_image **ret);
/* image.c: the same on fd, which it takes over (closed on failure too). */
int vhd_image_open_fd_depth(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                            const struct vhd_chain *below, struct vc_problems *problems, struct vhd_image **ret);

static inline bool bitmap_bit(const uint8_t *bm, uint64_t sector)
{
        /* VHD sector bitmaps are MSB first: bit 7 of byte 0 is sector 0. */
        return bm[sector / 8] & (0x80u >> (sector % 8));
}

static inline void bitmap_set(uint8_t *bm, uint64_t sector)
{
        bm[sector / 8] |= (uint8_t) (0x80u >> (sector % 8));
}
