/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent every differencing input of fuzz-vhd (and fuzz-plan) gets: a
 * small dynamic image with two blocks, built the same way each time, with
 * a fixed unique id so that seeds made by gen-corpus name it.  The opener
 * hook hands it out for whatever path the child's locators resolve to.
 */
#pragma once

#include "vhd-builder.h"
#include "vhd/format.h"

#define FUZZ_PARENT_PATH "/fuzz/parent.vhd"
#define FUZZ_CHILD_PATH "/fuzz/child.vhd"

static const uint8_t fuzz_parent_uuid[16] = { 'f', 'u', 'z', 'z', 'p', 'a', 'r', 'e',
                                              'n', 't', 0, 1, 2, 3, 4, 5 };

static inline struct vb_image *fuzz_vhd_parent(void)
{
        struct vb_image *p = vb_dynamic(1 << 20, 4096, VHD_TYPE_DYNAMIC);

        vb_alloc_block(p, 0, 7, VB_BITMAP_FULL);
        vb_alloc_block(p, 5, 9, VB_BITMAP_PARTIAL);
        vb_footer_put_bytes(p, VHD_FOOTER_OFF_UNIQUE_ID, fuzz_parent_uuid, 16, 0);
        return p;
}
