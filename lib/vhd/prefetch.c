/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHD side of read-ahead (lib/image/prefetch.h): where the bytes of a
 * virtual range live in the file, hinted to the kernel.  A fixed disk's
 * bytes are where they read; a dynamic block's data follows its sector
 * bitmap; what a differencing disk does not hold is hinted in its parent.
 * Adjacent blocks are one hint.
 */
#include <fcntl.h>
#include <pthread.h>

#include "../image/prefetch.h"
#include "../util/macro.h"
#include "image-internal.h"

unsigned vhd_image_willneed(struct vhd_image *img, uint64_t offset, uint64_t count)
{
        struct vc_willneed w = { .fd = img->fd };
        unsigned issued = 0;

        if (offset >= img->virtual_size)
                return 0;
        count = MIN(count, img->virtual_size - offset);
        if (img->footer.disk_type == VHD_TYPE_FIXED) {
                vc_willneed_add(&w, offset, count);
                vc_willneed_flush(&w);
                return w.issued;
        }
        while (count > 0) {
                uint32_t blk = (uint32_t) (offset / img->block_size);
                uint64_t inoff = offset % img->block_size;
                uint64_t len = MIN(count, img->block_size - inoff);
                uint32_t e;

                pthread_rwlock_rdlock(&img->lock);
                e = bat_load(img, blk);
                pthread_rwlock_unlock(&img->lock);
                if (e != VHD_BAT_UNUSED)
                        vc_willneed_add(&w, (uint64_t) e * VHD_SECTOR_SIZE + img->bitmap_bytes + inoff, len);
                else if (img->footer.disk_type == VHD_TYPE_DIFFERENCING && img->parent)
                        issued += vhd_image_willneed(img->parent, offset, len);
                offset += len;
                count -= len;
        }
        vc_willneed_flush(&w);
        return issued + w.issued;
}
