/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX tests' one comparison: what lib/vhdx reads (through the image
 * seam or its own API) against what the independent builder says the disk
 * holds (vxb_expected_read).  It lives here, not in vhdx-builder.c, because
 * the builder must stay independent of lib/ (it is the oracle).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhdx-builder.h"

/* A reader under test: @h is a struct vc_image (vxe_read_image) or a
 * struct vhdx_image (vxe_read_vhdx). */
typedef int (*vxe_read_fn)(void *h, void *buf, size_t len, uint64_t off);
int vxe_read_image(void *h, void *buf, size_t len, uint64_t off);
int vxe_read_vhdx(void *h, void *buf, size_t len, uint64_t off);

/* [off, off+len) read through rd is the builder's @view of x; else the
 * test fails naming @what, the offset and the first byte that differs. */
void vxe_assert_range(struct vxb_image *x, enum vxb_view view, vxe_read_fn rd, void *h, uint64_t off, size_t len,
                      const char *what);
/* The whole disk in 1 MiB steps; with @sample, every step to 16 MiB and
 * then steps of about a seventh of the disk. */
void vxe_assert_disk(struct vxb_image *x, enum vxb_view view, vxe_read_fn rd, void *h, bool sample,
                     const char *what);
