/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX images made by qemu-img and written by qemu-io read, through the
 * image seam, exactly as `qemu-img convert -f vhdx -O raw` says: dynamic
 * with 1 MiB and 32 MiB blocks (a partial last block), a 2 MiB log,
 * NOT_PRESENT and ZERO block states, fixed (LeaveBlockAllocated, with its
 * BAT all ZERO or all FULLY_PRESENT).  For each: the format is told by
 * content (the file is named .img), the geometry is the metadata's, the
 * extents are data exactly where blocks are fully present, `check` finds
 * nothing, and a read-write open is refused with not-supported, the file
 * byte-identical.  Skipped (77) without qemu-img and qemu-io.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "tests.h"
#include "util/fd-util.h"
#include "vhdx/vhdx.h"

#define MiB (1024ull * 1024)

static char dir[] = "/tmp/test-vhdx-image.XXXXXX";

static void run(const char *fmt, ...) _printf_(1, 2);
static void run(const char *fmt, ...)
{
        char cmd[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof cmd, fmt, ap);
        va_end(ap);
        if (system(cmd) != 0)
                TEST_FAIL("command failed: %s", cmd);
}

struct img_case {
        const char *name;
        const char *create;     /* qemu-img create options */
        const char *size;
        const char *writes;     /* qemu-io -c arguments */
        const char *kind;
        uint32_t block_size;
};

static const struct img_case cases[] = {
        { "dyn-1M", "-o block_size=1M", "64M",
          "-c 'write -P 0xab 0 1M' -c 'write -P 0xcd 5M 512k' -c 'write -P 0x11 67104768 4k'", "dynamic", 1 << 20 },
        { "dyn-32M", "-o block_size=32M", "100M",
          "-c 'write -P 0x5a 0 64k' -c 'write -P 0x77 40M 3M' -c 'write -P 0x33 104853504 4k'", "dynamic", 32 << 20 },
        { "dyn-log2M", "-o block_size=2M,log_size=2M", "20M",
          "-c 'write -P 0x42 3M 2M' -c 'write -P 0x24 19M 1M'", "dynamic", 2 << 20 },
        { "dyn-notpresent", "-o block_size=1M,block_state_zero=off", "16M",
          "-c 'write -P 0x99 7M 12k'", "dynamic", 1 << 20 },
        { "dyn-empty", "-o block_size=8M", "1G", "", "dynamic", 8 << 20 },
        { "fixed-zero", "-o subformat=fixed", "16M", "-c 'write -P 0xee 1M 4k'", "fixed", 8 << 20 },
        { "fixed-present", "-o subformat=fixed,block_state_zero=off,block_size=1M", "8M",
          "-c 'write -P 0xfe 2M 1M'", "fixed", 1 << 20 },
};

static uint64_t file_size(const char *p)
{
        struct stat st;
        ASSERT_TRUE(stat(p, &st) == 0);
        return (uint64_t) st.st_size;
}

struct ext_check {
        struct vc_image *img;
        uint64_t next;
};

static int on_extent(uint64_t off, uint64_t len, enum vc_extent_kind kind, void *userdata)
{
        struct ext_check *c = userdata;
        uint32_t bs = vc_image_block_size(c->img);

        ASSERT_EQ_U64(off, c->next);
        ASSERT_TRUE(len > 0);
        for (uint64_t b = off / bs; b * bs < off + len; b++)
                ASSERT_EQ_INT(vc_image_block_allocated(c->img, (uint32_t) b), kind == VC_EXTENT_DATA);
        c->next = off + len;
        return 0;
}

static void one(const struct img_case *c)
{
        char path[256], raw[256], copy[256];
        struct vc_problems ps = { .collect = false };
        _cleanup_(vc_image_freep) struct vc_image *img = NULL;
        _cleanup_free_ uint8_t *a = malloc(MiB), *b = malloc(MiB);
        int fd;

        ASSERT_TRUE(a && b);
        snprintf(path, sizeof path, "%s/%s.img", dir, c->name);
        snprintf(raw, sizeof raw, "%s/%s.raw", dir, c->name);
        snprintf(copy, sizeof copy, "%s/%s.copy", dir, c->name);
        run("qemu-img create -q -f vhdx %s '%s' %s", c->create, path, c->size);
        if (c->writes[0])
                run("qemu-io -f vhdx %s '%s' >/dev/null", c->writes, path);
        run("qemu-img convert -f vhdx -O raw '%s' '%s'", path, raw);
        run("cp '%s' '%s'", path, copy);

        ASSERT_OK(vc_image_open(path, NULL, 0, &ps, &img));
        ASSERT_STREQ(vc_image_format(img)->name, "vhdx");
        ASSERT_STREQ(vc_image_kind(img), c->kind);
        ASSERT_EQ_U64(vc_image_virtual_size(img), file_size(raw));
        ASSERT_EQ_U64(vc_image_file_size(img), file_size(path));
        ASSERT_EQ_U64(vc_image_block_size(img), c->block_size);
        ASSERT_EQ_U64(vc_image_logical_sector_size(img), 512);
        ASSERT_EQ_U64(vc_image_n_blocks(img), (file_size(raw) + c->block_size - 1) / c->block_size);
        ASSERT_TRUE(vc_image_format(img)->compact != NULL);

        /* Every byte, in 1 MiB reads, and some odd-sized ones across
         * block boundaries. */
        fd = open(raw, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        uint64_t vsize = vc_image_virtual_size(img), allocated = 0;
        for (uint64_t off = 0; off < vsize; off += MiB) {
                size_t n = (size_t) MIN(MiB, vsize - off);
                ASSERT_OK(vc_image_pread(img, a, n, off));
                ASSERT_OK(pread_full(fd, b, n, off));
                if (memcmp(a, b, n))
                        TEST_FAIL("%s: bytes at %llu differ from qemu's", c->name, (unsigned long long) off);
        }
        for (uint64_t off = 4096 - 17; off + 70000 < vsize; off += c->block_size - 3) {
                ASSERT_OK(vc_image_pread(img, a, 70000, off));
                ASSERT_OK(pread_full(fd, b, 70000, off));
                ASSERT_MEMEQ(a, b, 70000);
        }
        ASSERT_EQ_INT(vc_image_pread(img, a, 2, vsize - 1), -EINVAL);
        close(fd);

        struct ext_check ec = { img, 0 };
        ASSERT_OK(vc_image_extents(img, 0, vsize, on_extent, &ec));
        ASSERT_EQ_U64(ec.next, vsize);
        for (uint32_t i = 0; i < vc_image_n_blocks(img); i++)
                allocated += vc_image_block_allocated(img, i);
        ASSERT_EQ_U64(allocated, vc_image_blocks_allocated(img));
        img = vc_image_free(img);

        /* check: clean. */
        struct vc_problems cps = { .collect = true };
        ASSERT_EQ_INT(vc_image_check(path, NULL, &cps), 0);
        vc_problems_done(&cps);

        /* Read-write, no change: nothing written (lib/vhdx/write.c writes
         * its first header only before the first change). */
        struct vc_problems rps = { .collect = false };
        ASSERT_EQ_INT(vc_image_open(path, NULL, VC_OPEN_RDWR, &rps, &img), 0);
        uint8_t z[512];
        ASSERT_OK(vc_image_pread(img, z, sizeof z, 0));
        ASSERT_OK(vc_image_flush(img));
        img = vc_image_free(img);
        run("cmp -s '%s' '%s'", path, copy);
        printf("%s: OK (%llu of %u blocks allocated)\n", c->name, (unsigned long long) allocated,
               (unsigned) ((vsize + c->block_size - 1) / c->block_size));
        run("rm -f '%s' '%s' '%s'", path, raw, copy);
}

int main(void)
{
        if (system("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") != 0) {
                printf("qemu-img or qemu-io missing: skipped\n");
                return 77;
        }
        ASSERT_TRUE(mkdtemp(dir));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                one(&cases[i]);
        run("rm -rf '%s'", dir);
        return 0;
}
