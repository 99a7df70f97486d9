/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Windows' "4 KiB-aligned" dynamic VHDs stay aligned.  Windows pads before
 * each block so that its data area starts on a 4 KiB boundary; compaction
 * must not move a block to a place that breaks that (guests and hosts rely
 * on aligned I/O).  Random images are built that way, with creator "win ",
 * blocks in random order, half of them dropped; after planning and
 * executing, every block's data area is aligned, every kept block reads its
 * own pattern, and the size is the aligned optimum.  The same layout made
 * by another creator is packed tighter (alignment there is chance, not
 * intent).
 */
#include <unistd.h>

#include "compact/move.h"
#include "compact/plan.h"
#include "tests.h"
#include "vhd-builder.h"
#include "image/image.h"
#include "vhd/vhd.h"

#define BS (64u << 10)
#define SKEW 512u       /* the sector bitmap of a 64 KiB block */

static char dir[VB_PATH_MAX], path[VB_PATH_MAX];

static uint64_t aligned_from(uint64_t p)
{
        return ROUND_UP(p + SKEW, 4096) - SKEW;
}

/* Builds the image: n blocks, alloc[] of them allocated in a random order,
 * each padded to alignment first. */
static void build(uint32_t n, const bool *alloc, unsigned seed, const char *creator)
{
        _cleanup_vb_ struct vb_image *img = vb_dynamic((uint64_t) n * BS, BS, VHD_TYPE_DYNAMIC);
        uint32_t order[64];

        for (uint32_t b = 0; b < n; b++)
                order[b] = b;
        srandom(seed);
        for (uint32_t i = n; i > 1; i--) {
                uint32_t j = (uint32_t) (random() % i), t = order[i - 1];
                order[i - 1] = order[j];
                order[j] = t;
        }
        for (uint32_t i = 0; i < n; i++) {
                if (!alloc[order[i]])
                        continue;
                uint64_t at = vb_footer_off(img);
                if (aligned_from(at) > at)
                        vb_append(img, aligned_from(at) - at);
                vb_alloc_block(img, order[i], (uint8_t) (1 + order[i]), VB_BITMAP_FULL);
        }
        vb_footer_put_bytes(img, VHD_FOOTER_OFF_CREATOR_APP, creator, 4, 0);
        vb_fix_checksums(img);
        unlink(path);
        vb_write_file(img, path);
}

/* Plans and executes; returns the final size; checks alignment if asked. */
static uint64_t compact(uint32_t n, const bool *drop, bool want_aligned)
{
        struct vc_image *img = NULL;
        struct compact_layout l;
        struct compact_plan p;
        struct compact_exec_stats st;
        uint8_t d[64] = {};

        ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, NULL, &img));
        ASSERT_OK(compact_layout_from_image(img, &l));
        ASSERT_EQ_U64(l.align, want_aligned ? 4096 : 0);
        for (uint32_t b = 0; b < n; b++)
                d[b] = drop[b] && l.at[b] != COMPACT_ABSENT;
        ASSERT_OK(compact_plan_build(&l, d, &p));
        ASSERT_OK(compact_execute(img, &l, &p, NULL, &st));
        uint64_t size = p.final_size;
        compact_plan_done(&p);
        free(l.at);
        vc_image_free(img);
        return size;
}

static void check(uint32_t n, const bool *alloc, const bool *drop, bool aligned)
{
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        uint8_t *buf = malloc(BS), *want = malloc(BS);

        ASSERT_TRUE(buf && want);
        ASSERT_OK(vhd_image_open(path, 0, &ps, &img));
        ASSERT_EQ_INT(ps.n, 0);
        for (uint32_t b = 0; b < n; b++) {
                uint32_t e = vhd_image_bat_entry(img, b);
                if (!alloc[b] || drop[b]) {
                        ASSERT_EQ_U64(e, VHD_BAT_UNUSED);
                        continue;
                }
                ASSERT_TRUE(e != VHD_BAT_UNUSED);
                if (aligned)
                        ASSERT_EQ_U64(((uint64_t) e * 512 + SKEW) % 4096, 0);
                ASSERT_OK(vhd_image_pread(img, buf, BS, (uint64_t) b * BS));
                vb_pattern_fill(want, BS, (uint8_t) (1 + b), (uint64_t) b * BS);
                ASSERT_TRUE(memcmp(buf, want, BS) == 0);
        }
        vhd_image_free(img);
        free(buf);
        free(want);
}

int main(void)
{
        vb_temp_dir(dir);
        vb_path_join(path, dir, "disk.vhd");
        for (unsigned seed = 1; seed <= 40; seed++) {
                uint32_t n = 8 + (uint32_t) (seed * 7 % 40);
                bool alloc[64] = {}, drop[64] = {};
                srandom(seed * 31);
                for (uint32_t b = 0; b < n; b++) {
                        alloc[b] = random() % 4 != 0;
                        drop[b] = alloc[b] && random() % 2;
                }
                build(n, alloc, seed, "win ");
                uint64_t win = compact(n, drop, true);
                check(n, alloc, drop, true);
                /* Run again: nothing moves, the size stays. */
                ASSERT_EQ_U64(compact(n, drop, true), win);

                build(n, alloc, seed, "qemu");
                uint64_t other = compact(n, drop, false);
                check(n, alloc, drop, false);
                ASSERT_TRUE(other <= win);
        }
        unlink(path);
        rmdir(dir);
        printf("40 Windows-aligned images: every block stays 4 KiB-aligned\n");
        return 0;
}
