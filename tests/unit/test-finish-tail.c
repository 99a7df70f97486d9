/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/image/finish-tail.c: finishing an interrupted compaction on open,
 * on VHDs from the builder (an independent writer).
 *
 * A dynamic VHD with blocks 0-3 allocated and unreferenced space between
 * the last block and the footer (what a compaction stopped before its
 * cut leaves, with or without the footer already at the new end):
 *   - read-only, VC_OPEN_NOLOCK and VC_OPEN_NOFINISH opens write nothing;
 *   - a read-write open cuts the file right after block 3 plus the
 *     footer: the bytes before are the builder's, the footer the same,
 *     the image reports the new size and appends its next block there;
 *   - every crash point of that open (forked): the file opens, reads as
 *     before and is as long as before or cut; a later open finishes;
 *   - a file with no block allocated keeps its space (its creator's);
 *   - a differencing child is cut, its parent (opened read-only) never.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image.h"
#include "tests.h"
#include "util/endian.h"
#include "util/fault.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define MiB (1024ull * 1024)
#define BS (64 * 1024u)
#define VSIZE (1 * MiB)
#define SLACK (3 * (BS + 512) + 1024)

static char dir[VB_PATH_MAX];

static uint8_t *read_disk(const char *path)
{
        struct vc_problems ps = {};
        _cleanup_(vc_image_freep) struct vc_image *img = NULL;
        uint8_t *buf = malloc(VSIZE);

        ASSERT_TRUE(buf);
        ASSERT_OK(vc_image_open(path, NULL, 0, &ps, &img));
        ASSERT_OK(vc_image_pread(img, buf, VSIZE, 0));
        vc_problems_done(&ps);
        return buf;
}

static void assert_checks_clean(const char *path)
{
        struct vc_problems ps = { .collect = true };

        ASSERT_EQ_INT(vc_image_check(path, NULL, &ps), 0);
        vc_problems_done(&ps);
}

/* The image of the test: blocks 0-3, SLACK bytes before the footer; with
 * footer_at_end, the footer already written right after block 3 too (a
 * run stopped after "compact: footer synced").  *ret_end: where a
 * finished file ends. */
static struct vb_image *make(bool footer_at_end, uint32_t type, const struct vb_image *parent, const char *ppath,
                             uint64_t *ret_end)
{
        struct vb_image *b = vb_dynamic(VSIZE, BS, type);

        if (parent)
                vb_set_parent(b, parent, ppath);
        for (uint32_t i = 0; i < 4; i++)
                vb_alloc_block(b, i, (uint8_t) (0x30 + i), VB_BITMAP_FULL);
        uint64_t end = vb_footer_off(b) + VHD_FOOTER_SIZE;
        uint64_t at = vb_append(b, SLACK);
        ASSERT_EQ_U64(at + VHD_FOOTER_SIZE, end);
        if (footer_at_end)
                vb_put_bytes(b, end - VHD_FOOTER_SIZE, vb_footer(b), VHD_FOOTER_SIZE);
        else
                vb_put_bytes(b, end - VHD_FOOTER_SIZE, "left by someone", 15);
        *ret_end = end;
        return b;
}

static void test_flags(void)
{
        char path[VB_PATH_MAX];
        uint64_t end;
        _cleanup_vb_ struct vb_image *b = make(true, VHD_TYPE_DYNAMIC, NULL, NULL, &end);
        const unsigned flags[] = { 0, VC_OPEN_RDWR | VC_OPEN_NOLOCK, VC_OPEN_RDWR | VC_OPEN_NOFINISH };

        vb_path_join(path, dir, "flags.vhd");
        vb_write_file(b, path);
        size_t n0;
        _cleanup_free_ uint8_t *orig = vb_read_file(path, &n0);
        for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
                struct vc_problems ps = {};
                struct vc_image *img = NULL;
                ASSERT_OK(vc_image_open(path, NULL, flags[i], &ps, &img));
                ASSERT_EQ_U64(vc_image_file_size(img), n0);
                vc_image_free(img);
                size_t n;
                _cleanup_free_ uint8_t *now = vb_read_file(path, &n);
                ASSERT_EQ_U64(n, n0);
                ASSERT_MEMEQ(now, orig, n);
        }
        printf("flags: read-only, NOLOCK and NOFINISH opens leave %zu bytes as they are\n", n0);
}

/* A read-write open finishes: the file cut at end, the bytes before it
 * the builder's with the footer there, reads unchanged, the image's own
 * state the new file's (its next block appended at the new footer). */
static void finish_ok(const char *path, const uint8_t *orig, const uint8_t *disk, uint64_t end, const uint8_t *footer)
{
        struct vc_problems ps = {};
        struct vc_image *img = NULL;
        size_t n;

        ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, &ps, &img));
        ASSERT_EQ_U64(vc_image_file_size(img), end);
        _cleanup_free_ uint8_t *now = vb_read_file(path, &n);
        ASSERT_EQ_U64(n, end);
        ASSERT_MEMEQ(now, orig, end - VHD_FOOTER_SIZE);
        ASSERT_MEMEQ(now + end - VHD_FOOTER_SIZE, footer, VHD_FOOTER_SIZE);
        _cleanup_free_ uint8_t *buf = malloc(VSIZE), *blk = malloc(BS);
        ASSERT_TRUE(buf && blk);
        ASSERT_OK(vc_image_pread(img, buf, VSIZE, 0));
        ASSERT_MEMEQ(buf, disk, VSIZE);
        /* The image's state is the cut file's: block 5 goes where its
         * footer was. */
        memset(blk, 0x77, BS);
        ASSERT_OK(vc_image_pwrite(img, blk, BS, 5 * (uint64_t) BS));
        ASSERT_OK(vc_image_flush(img));
        vc_image_free(img);
        vc_problems_done(&ps);
        _cleanup_free_ uint8_t *after = vb_read_file(path, &n);
        ASSERT_EQ_U64(n, end + BS + 512);
        ASSERT_EQ_U64(get_be32(after + VHD_FOOTER_SIZE + VHD_DYN_SIZE + 5 * 4), (end - VHD_FOOTER_SIZE) / 512);
        ASSERT_MEMEQ(after + n - VHD_FOOTER_SIZE, footer, VHD_FOOTER_SIZE);
        assert_checks_clean(path);
}

static void test_finish(bool footer_at_end)
{
        char path[VB_PATH_MAX];
        uint64_t end;
        _cleanup_vb_ struct vb_image *b = make(footer_at_end, VHD_TYPE_DYNAMIC, NULL, NULL, &end);

        vb_path_join(path, dir, "finish.vhd");
        vb_write_file(b, path);
        size_t n0;
        _cleanup_free_ uint8_t *orig = vb_read_file(path, &n0);
        _cleanup_free_ uint8_t *disk = read_disk(path);
        ASSERT_EQ_U64(n0, end + SLACK);
        finish_ok(path, orig, disk, end, vb_footer(b));
        printf("finish (footer %s): %zu bytes cut to %llu\n", footer_at_end ? "already at the new end" : "written",
               n0, (unsigned long long) end);
}

/* Every crash point of the finishing open, in a child. */
static void test_crash_points(bool footer_at_end)
{
        char path[VB_PATH_MAX];
        uint64_t end;
        _cleanup_vb_ struct vb_image *b = make(footer_at_end, VHD_TYPE_DYNAMIC, NULL, NULL, &end);
        unsigned long n;

        vb_path_join(path, dir, "crash.vhd");
        vb_write_file(b, path);
        size_t n0;
        _cleanup_free_ uint8_t *orig = vb_read_file(path, &n0);
        _cleanup_free_ uint8_t *disk = read_disk(path);
        for (n = 1;; n++) {
                /* The child says through a pipe that its open returned (no
                 * crash point was left to reach): its exit status cannot,
                 * since under valgrind a child that _exit()s with memory
                 * live exits 98 whether it crashed or not. */
                int done[2];
                ASSERT_TRUE(pipe2(done, O_CLOEXEC) == 0);
                vb_write_file(b, path);
                fflush(stdout);         /* not printed again by the child */
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        struct vc_image *img = NULL;
                        struct vc_problems ps = {};
                        close(done[0]);
                        vc_fault_arm(vc_fault_count() + n);
                        char ok = vc_image_open(path, NULL, VC_OPEN_RDWR, &ps, &img) < 0 ? 'f' : 'o';
                        _exit(write(done[1], &ok, 1) == 1 ? 0 : 1);
                }
                close(done[1]);
                int status;
                char said = 0;
                ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
                ASSERT_TRUE(WIFEXITED(status));
                ssize_t got = read(done[0], &said, 1);
                close(done[0]);
                if (got == 1) {
                        if (said != 'o')
                                TEST_FAIL("crash point %lu: the open failed without a crash", n);
                        break;
                }
                if (!vc_fault_exited(status, 98))
                        TEST_FAIL("crash point %lu: the child's wait status is %#x", n, status);
                uint64_t size = vb_file_size(path);
                if (size != n0 && size != end)
                        TEST_FAIL("crash point %lu: %llu bytes", n, (unsigned long long) size);
                assert_checks_clean(path);
                _cleanup_free_ uint8_t *now = read_disk(path);
                ASSERT_MEMEQ(now, disk, VSIZE);
                finish_ok(path, orig, disk, end, vb_footer(b));
        }
        /* footer written (when not there), tail prepared, truncated, synced */
        ASSERT_EQ_U64(n - 1, footer_at_end ? 3 : 4);
        printf("crash points (footer %s): %lu, each valid and then finished\n",
               footer_at_end ? "already at the new end" : "written", n - 1);
}

static void test_no_block(void)
{
        char path[VB_PATH_MAX];
        _cleanup_vb_ struct vb_image *b = vb_dynamic(VSIZE, BS, VHD_TYPE_DYNAMIC);
        struct vc_problems ps = {};
        struct vc_image *img = NULL;

        vb_append(b, 7 * 512);
        vb_path_join(path, dir, "empty.vhd");
        vb_write_file(b, path);
        size_t n0, n;
        _cleanup_free_ uint8_t *orig = vb_read_file(path, &n0);
        ASSERT_OK(vc_image_open(path, NULL, VC_OPEN_RDWR, &ps, &img));
        vc_image_free(img);
        _cleanup_free_ uint8_t *now = vb_read_file(path, &n);
        ASSERT_EQ_U64(n, n0);
        ASSERT_MEMEQ(now, orig, n);
        printf("no block: the space after the BAT is left (%zu bytes)\n", n0);
}

static void test_child(void)
{
        char ppath[VB_PATH_MAX], cpath[VB_PATH_MAX];
        uint64_t pend, cend;
        _cleanup_vb_ struct vb_image *p = make(true, VHD_TYPE_DYNAMIC, NULL, NULL, &pend);

        vb_path_join(ppath, dir, "parent.vhd");
        vb_path_join(cpath, dir, "child.vhd");
        vb_write_file(p, ppath);
        _cleanup_vb_ struct vb_image *c = make(false, VHD_TYPE_DIFFERENCING, p, ppath, &cend);
        vb_write_file(c, cpath);
        size_t pn0, cn0, pn;
        _cleanup_free_ uint8_t *porig = vb_read_file(ppath, &pn0);
        _cleanup_free_ uint8_t *corig = vb_read_file(cpath, &cn0);
        _cleanup_free_ uint8_t *disk = read_disk(cpath);
        finish_ok(cpath, corig, disk, cend, vb_footer(c));
        _cleanup_free_ uint8_t *pnow = vb_read_file(ppath, &pn);
        ASSERT_EQ_U64(pn, pn0);
        ASSERT_MEMEQ(pnow, porig, pn);
        printf("child: cut from %zu to %llu bytes; its parent (%zu bytes, space left too) untouched\n", cn0,
               (unsigned long long) cend, pn0);
}

int main(void)
{
        vb_temp_dir(dir);
        test_flags();
        test_finish(true);
        test_finish(false);
        test_crash_points(true);
        test_crash_points(false);
        test_no_block();
        test_child();
        vb_remove_dir(dir);
        return 0;
}
