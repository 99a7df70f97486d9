/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout-case.h"
#include "tests.h"
#include "util/macro.h"
#include "image/image.h"
#include "vhd/vhd.h"

#define BS LC_BLOCK_SIZE

void lc_make(struct layout_case *c, unsigned seed)
{
        srandom(seed);
        c->diff = false;
        c->n_blocks = 8 + (uint32_t) (random() % 40);
        for (uint32_t b = 0; b < c->n_blocks; b++) {
                c->alloc[b] = random() % 4 != 0;
                c->drop[b] = c->alloc[b] && random() % 2;
                c->seed[b] = (uint8_t) (1 + b);
        }
}

void lc_order(uint32_t *order, uint32_t n, unsigned seed)
{
        for (uint32_t b = 0; b < n; b++)
                order[b] = b;
        srandom(seed * 7919);
        for (uint32_t i = n; i > 1; i--) {
                uint32_t j = (uint32_t) (random() % i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
        }
}

void lc_drop_lowest(struct layout_case *c, unsigned seed)
{
        uint32_t order[LC_MAX_BLOCKS];

        lc_order(order, c->n_blocks, seed);
        c->alloc[order[0]] = c->drop[order[0]] = true;
        c->alloc[order[c->n_blocks - 1]] = true;
        c->drop[order[c->n_blocks - 1]] = false;
}

void lc_write(const struct layout_case *c, unsigned seed, const char *path, const struct vb_image *parent,
              const char *parent_path)
{
        _cleanup_vb_ struct vb_image *img = vb_dynamic((uint64_t) c->n_blocks * BS, BS,
                                                       c->diff ? VHD_TYPE_DIFFERENCING : VHD_TYPE_DYNAMIC);
        uint32_t order[LC_MAX_BLOCKS];

        if (c->diff) {
                static const uint8_t rel[] = { 'p', 0, '.', 0, 'v', 0, 'h', 0, 'd', 0 };
                ASSERT_TRUE(parent && parent_path);
                vb_set_parent(img, parent, parent_path);
                vb_add_locator(img, VHD_LOC_W2RU, rel, sizeof rel);
        }

        lc_order(order, c->n_blocks, seed);
        for (uint32_t i = 0; i < c->n_blocks; i++)
                if (c->alloc[order[i]])
                        vb_alloc_block(img, order[i], c->seed[order[i]], VB_BITMAP_FULL);
        /* A differencing layout drops the block right after the locators. */
        for (uint32_t i = 0; c->diff && i < c->n_blocks; i++)
                if (c->alloc[order[i]]) {
                        ASSERT_TRUE(c->drop[order[i]]);
                        break;
                }
        unlink(path);
        vb_write_file(img, path);
}

/* A child killed with writes in flight keeps the file, and so its lock,
 * until the kernel has torn its io_uring down, a moment after it exits:
 * the opens below wait for that, up to 2 s. */
static int open_vhd_waiting(const char *path, struct vhd_image **img)
{
        int r = -EBUSY;

        for (int i = 0; i < 200 && r == -EBUSY; i++) {
                if (i)
                        usleep(10000);
                r = vhd_image_open(path, 0, NULL, img);
        }
        return r;
}

void lc_open_image(const char *path, unsigned flags, struct vc_image **img)
{
        int r = -EBUSY;

        for (int i = 0; i < 200 && r == -EBUSY; i++) {
                if (i)
                        usleep(10000);
                r = vc_image_open(path, NULL, flags, NULL, img);
        }
        ASSERT_OK(r);
}

void lc_assert_contents(const struct layout_case *c, const char *path, bool final)
{
        char why[256];

        if (!lc_contents_ok(c, path, final, why, sizeof why))
                TEST_FAIL("%s", why);
}

bool lc_contents_ok(const struct layout_case *c, const char *path, bool final, char *why, size_t size)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        _cleanup_free_ uint8_t *buf = malloc(BS), *want = malloc(BS), *zero = calloc(1, BS);
        bool ok = true;
        int r;

        ASSERT_TRUE(buf && want && zero);
        if (vhd_check(path, &ps) != 0) {
                snprintf(why, size, "not clean: %.160s (at %" PRIu64 ")", ps.n ? ps.first.message : "?", ps.first.offset);
                vc_problems_done(&ps);
                return false;
        }
        vc_problems_done(&ps);
        r = open_vhd_waiting(path, &img);
        if (r < 0) {
                snprintf(why, size, "does not open: %s", strerror(-r));
                return false;
        }
        for (uint32_t b = 0; ok && b < c->n_blocks; b++) {
                if (vhd_image_pread(img, buf, BS, (uint64_t) b * BS) < 0) {
                        snprintf(why, size, "block %u cannot be read", b);
                        ok = false;
                        break;
                }
                vb_pattern_fill(want, BS, c->seed[b], (uint64_t) b * BS);
                bool is_want = !memcmp(buf, want, BS), is_zero = !memcmp(buf, zero, BS);
                if (!c->alloc[b] && !is_zero)
                        snprintf(why, size, "unallocated block %u does not read zeros", b), ok = false;
                else if (c->alloc[b] && !c->drop[b] && !is_want)
                        snprintf(why, size, "kept block %u does not read its data", b), ok = false;
                else if (c->alloc[b] && c->drop[b] && !is_want && !is_zero)
                        snprintf(why, size, "dropped block %u reads neither its data nor zeros", b), ok = false;
                else if (c->alloc[b] && c->drop[b] && final && !is_zero)
                        snprintf(why, size, "dropped block %u does not read zeros after the second run", b), ok = false;
        }
        vhd_image_free(img);
        return ok;
}
