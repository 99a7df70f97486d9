/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX side of read-ahead (lib/image/prefetch.h): where the bytes of a
 * virtual range live in the file, hinted to the kernel.  A block's payload
 * when it has one (a child's partially present block too: most of it is
 * usually the child's), the parent's own file for what reads from it;
 * nothing for blocks that read as zeros.  Adjacent payloads are one hint.
 */
#include <fcntl.h>

#include "../util/macro.h"
#include "image-private.h"

unsigned vhdx_image_willneed(struct vhdx_image *img, uint64_t offset, uint64_t count)
{
        const uint64_t bs = img->meta.block_size;
        struct vc_willneed w = { .fd = img->fd };
        unsigned issued = 0;

        if (offset >= img->meta.virtual_size)
                return 0;
        count = MIN(count, img->meta.virtual_size - offset);
        while (count > 0) {
                uint64_t b = offset / bs, in = offset % bs, len = MIN(count, bs - in);
                uint64_t e = vhdx_bat_entry_load(&img->bat, vhdx_bat_index(&img->bat, b));
                unsigned st = e & VHDX_BAT_STATE_MASK;

                if (st == VHDX_PAYLOAD_FULLY_PRESENT ||
                    (img->meta.has_parent && st == VHDX_PAYLOAD_PARTIALLY_PRESENT))
                        vc_willneed_add(&w, (e & VHDX_BAT_OFFSET_MASK) + in, len);
                if (img->meta.has_parent && img->parent &&
                    (st == VHDX_PAYLOAD_NOT_PRESENT || st == VHDX_PAYLOAD_PARTIALLY_PRESENT))
                        issued += vhdx_image_willneed(img->parent, offset, len);
                offset += len;
                count -= len;
        }
        vc_willneed_flush(&w);
        return issued + w.issued;
}
