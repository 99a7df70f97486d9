/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CHS geometry and the two notions of virtual size.  We expose the footer's
 * Current Size, as Windows, Hyper-V and VirtualBox do.  qemu instead sizes
 * some images by the CHS product; vhd_footer_qemu_size() reproduces qemu's
 * rule so that `vhdctl info` can say when the two disagree.
 */
#include <string.h>

#include "vhd.h"

struct vhd_geometry vhd_geometry_from_size(uint64_t size)
{
        uint64_t total = size / VHD_SECTOR_SIZE;
        uint64_t spt, heads, cth;

        /* The algorithm from the VHD specification's appendix. */
        if (total > 65535ull * 16 * 255)
                total = 65535ull * 16 * 255;
        if (total >= 65535ull * 16 * 63) {
                spt = 255;
                heads = 16;
                cth = total / spt;
        } else {
                spt = 17;
                cth = total / spt;
                heads = (cth + 1023) / 1024;
                if (heads < 4)
                        heads = 4;
                if (cth >= heads * 1024 || heads > 16) {
                        spt = 31;
                        heads = 16;
                        cth = total / spt;
                }
                if (cth >= heads * 1024) {
                        spt = 63;
                        heads = 16;
                        cth = total / spt;
                }
        }
        return (struct vhd_geometry) {
                .cylinders = (uint16_t) (cth / heads),
                .heads = (uint8_t) heads,
                .sectors = (uint8_t) spt,
        };
}

uint64_t vhd_geometry_size(struct vhd_geometry g)
{
        return (uint64_t) g.cylinders * g.heads * g.sectors * VHD_SECTOR_SIZE;
}

uint64_t vhd_footer_qemu_size(const struct vhd_footer *f)
{
        struct vhd_geometry g = { f->cylinders, f->heads, f->sectors };
        bool max_chs = f->cylinders == 65535 && f->heads == 16 && f->sectors == 255;
        bool use_chs = memcmp(f->creator_app, "vpc ", 4) == 0 ||
                       memcmp(f->creator_app, "qemu", 4) == 0;

        /* qemu >= 10.0: only Virtual PC and qemu's own images use CHS, and
         * never when the geometry is the maximum that CHS can express. */
        if (!use_chs || max_chs)
                return f->current_size;
        return vhd_geometry_size(g);
}
