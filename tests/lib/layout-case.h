/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A random layout of a dynamic or differencing VHD, for the executor's
 * tests (test-compact-exec, test-compact-powercut, test-compact-stall).
 * A case has 8 to 47 blocks of LC_BLOCK_SIZE bytes; about three in four
 * are allocated, a random half of those to be dropped; block b holds the
 * pattern vb_pattern_fill(seed[b], b * LC_BLOCK_SIZE).  lc_write() writes
 * the image allocating the blocks in a random order drawn from its seed,
 * so that survivors move.  lc_contents_ok() says whether an image is
 * right after a run (or a part of one), and why not.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhd-builder.h"

#define LC_BLOCK_SIZE (64u << 10)       /* small blocks keep the tests fast */
#define LC_MAX_BLOCKS 64

struct layout_case {
        bool diff;              /* a differencing child with two locators */
        uint32_t n_blocks;
        bool alloc[LC_MAX_BLOCKS];
        bool drop[LC_MAX_BLOCKS];
        uint8_t seed[LC_MAX_BLOCKS];
};

/* The layout of seed: a dynamic image (diff false). */
void lc_make(struct layout_case *c, unsigned seed);
/* The order in which lc_write(c, seed) allocates the n blocks of a case:
 * order[0] is the block in the lowest slot of the file. */
void lc_order(uint32_t *order, uint32_t n, unsigned seed);
/* The first block lc_write(c, seed) allocates (the lowest slot) is
 * dropped, and the last one kept, so that something moves into that slot. */
void lc_drop_lowest(struct layout_case *c, unsigned seed);
/* Writes the image to path (replacing it), allocating the blocks in the
 * order drawn from seed.  A differencing case is a child of parent (an
 * empty image written at parent_path), with a W2ru locator besides the
 * builder's, and must drop the block right after the locators
 * (lc_drop_lowest); parent is unused otherwise. */
void lc_write(const struct layout_case *c, unsigned seed, const char *path, const struct vb_image *parent,
              const char *parent_path);
/* Whether the image at path validates with no problem and reads right:
 * unallocated blocks zeros, kept blocks their pattern, dropped blocks
 * their pattern or zeros, and zeros only when final (after a finished
 * run).  If not, why (a sentence) in why.  An image still locked by a
 * dying child (-EBUSY) is waited for, up to 2 s. */
bool lc_contents_ok(const struct layout_case *c, const char *path, bool final, char *why, size_t size);
/* The same, failing the test with the reason when not. */
void lc_assert_contents(const struct layout_case *c, const char *path, bool final);

/* vc_image_open(path, flags) that waits, up to 2 s, while a dying child
 * still holds the image's lock (-EBUSY: its io_uring is torn down a
 * moment after it exits); fails the test if it cannot open. */
struct vc_image;
void lc_open_image(const char *path, unsigned flags, struct vc_image **img);
