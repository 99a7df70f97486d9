/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * In-memory VHD images for the unit tests; see vhd-builder.h for the layout
 * and the rules.  The builder only ever appends before the end footer, so
 * offsets handed out earlier (blocks, locator payloads) stay valid, and it
 * re-derives both footer copies and the header checksum after each
 * structural change.  It uses the library's own checksum and geometry
 * helpers: the tests of those helpers pin them against qemu-img's output, so
 * using them here does not make the other tests circular.
 */
#include <ftw.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/endian.h"
#include "util/utf16.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define VB_TIMESTAMP 0x2A000000u

static void *xmalloc0(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                TEST_FAIL("out of memory allocating %zu bytes", n);
        return p;
}

uint8_t vb_pattern_byte(uint8_t seed, uint64_t voff)
{
        /* 13 is odd, so the 512 bytes of a sector take every value twice and a
         * sector is never all zeros; neighbouring sectors differ by 7. */
        return (uint8_t) (seed * 29u + (voff >> 9) * 7u + voff * 13u);
}

void vb_pattern_fill(uint8_t *buf, size_t len, uint8_t seed, uint64_t voff)
{
        for (size_t i = 0; i < len; i++)
                buf[i] = vb_pattern_byte(seed, voff + i);
}

bool vb_partial_bit(uint64_t sector)
{
        return sector % 3 != 1;
}

static void make_unique_id(uint8_t id[16])
{
        static uint32_t counter;
        uint32_t pid = (uint32_t) getpid();

        memcpy(id, "vbld", 4);
        put_be32(id + 4, pid);
        put_be32(id + 8, ++counter);
        put_be32(id + 12, 0x5eed0000u ^ (counter * 2654435761u));
}

static void init_footer(uint8_t *f, uint64_t size, uint32_t type, uint64_t data_offset)
{
        struct vhd_geometry g = vhd_geometry_from_size(size);

        memset(f, 0, VHD_FOOTER_SIZE);
        memcpy(f + VHD_FOOTER_OFF_COOKIE, VHD_FOOTER_COOKIE, 8);
        put_be32(f + VHD_FOOTER_OFF_FEATURES, VHD_FEATURE_RESERVED);
        put_be32(f + VHD_FOOTER_OFF_VERSION, VHD_VERSION_1_0);
        put_be64(f + VHD_FOOTER_OFF_DATA_OFFSET, data_offset);
        put_be32(f + VHD_FOOTER_OFF_TIMESTAMP, VB_TIMESTAMP);
        memcpy(f + VHD_FOOTER_OFF_CREATOR_APP, "vbld", 4);
        put_be32(f + VHD_FOOTER_OFF_CREATOR_VERSION, 0x00010000);
        memcpy(f + VHD_FOOTER_OFF_CREATOR_OS, "Wi2k", 4);
        put_be64(f + VHD_FOOTER_OFF_ORIGINAL_SIZE, size);
        put_be64(f + VHD_FOOTER_OFF_CURRENT_SIZE, size);
        put_be16(f + VHD_FOOTER_OFF_CYLINDERS, g.cylinders);
        f[VHD_FOOTER_OFF_HEADS] = g.heads;
        f[VHD_FOOTER_OFF_SECTORS] = g.sectors;
        put_be32(f + VHD_FOOTER_OFF_DISK_TYPE, type);
        make_unique_id(f + VHD_FOOTER_OFF_UNIQUE_ID);
        vhd_footer_set_checksum(f);
}

static bool is_dynamic(const struct vb_image *img)
{
        return img->type != VHD_TYPE_FIXED;
}

uint64_t vb_footer_off(const struct vb_image *img)
{
        if (img->len < VHD_FOOTER_SIZE)
                TEST_FAIL("image of %zu bytes has no footer", img->len);
        return img->len - VHD_FOOTER_SIZE;
}

uint8_t *vb_footer(struct vb_image *img)
{
        return img->buf + vb_footer_off(img);
}

uint8_t *vb_header(struct vb_image *img)
{
        if (!is_dynamic(img))
                TEST_FAIL("fixed images have no dynamic header");
        return img->buf + img->header_off;
}

struct vb_image *vb_dynamic(uint64_t virtual_size, uint32_t block_size, uint32_t type)
{
        struct vb_image *img;
        uint64_t bat_bytes;
        uint8_t *h;

        if (virtual_size % VHD_SECTOR_SIZE || block_size < VHD_SECTOR_SIZE ||
            (block_size & (block_size - 1)) ||
            (type != VHD_TYPE_DYNAMIC && type != VHD_TYPE_DIFFERENCING))
                TEST_FAIL("vb_dynamic(%" PRIu64 ", %u, %u): bad arguments", virtual_size,
                          block_size, type);
        img = xmalloc0(sizeof *img);
        img->type = type;
        img->virtual_size = virtual_size;
        img->block_size = block_size;
        img->n_entries = (uint32_t) ((virtual_size + block_size - 1) / block_size);
        img->bitmap_bytes = (uint32_t) ((block_size / VHD_SECTOR_SIZE + 8 * VHD_SECTOR_SIZE - 1) /
                                        (8 * VHD_SECTOR_SIZE) * VHD_SECTOR_SIZE);
        img->header_off = VHD_FOOTER_SIZE;
        img->bat_off = VHD_FOOTER_SIZE + VHD_DYN_SIZE;
        bat_bytes = ((uint64_t) img->n_entries * 4 + VHD_SECTOR_SIZE - 1) / VHD_SECTOR_SIZE *
                    VHD_SECTOR_SIZE;
        if (bat_bytes == 0)
                bat_bytes = VHD_SECTOR_SIZE;
        img->len = img->bat_off + bat_bytes + VHD_FOOTER_SIZE;
        img->buf = xmalloc0(img->len);

        init_footer(img->buf, virtual_size, type, img->header_off);
        memcpy(img->buf + vb_footer_off(img), img->buf, VHD_FOOTER_SIZE);

        h = img->buf + img->header_off;
        memcpy(h + VHD_DYN_OFF_COOKIE, VHD_DYN_COOKIE, 8);
        put_be64(h + VHD_DYN_OFF_DATA_OFFSET, UINT64_MAX);
        put_be64(h + VHD_DYN_OFF_TABLE_OFFSET, img->bat_off);
        put_be32(h + VHD_DYN_OFF_VERSION, VHD_VERSION_1_0);
        put_be32(h + VHD_DYN_OFF_MAX_ENTRIES, img->n_entries);
        put_be32(h + VHD_DYN_OFF_BLOCK_SIZE, block_size);
        vhd_dyn_header_set_checksum(h);

        memset(img->buf + img->bat_off, 0xFF, bat_bytes);
        return img;
}

struct vb_image *vb_fixed(uint64_t size)
{
        struct vb_image *img;

        if (size % VHD_SECTOR_SIZE)
                TEST_FAIL("vb_fixed(%" PRIu64 "): not a multiple of 512", size);
        img = xmalloc0(sizeof *img);
        img->type = VHD_TYPE_FIXED;
        img->virtual_size = size;
        img->len = size + VHD_FOOTER_SIZE;
        img->buf = xmalloc0(img->len);
        init_footer(img->buf + size, size, VHD_TYPE_FIXED, UINT64_MAX);
        return img;
}

struct vb_image *vb_free(struct vb_image *img)
{
        if (img) {
                free(img->buf);
                free(img);
        }
        return NULL;
}

uint32_t vb_bat_get(const struct vb_image *img, uint32_t blk)
{
        if (!is_dynamic(img) || blk >= img->n_entries)
                TEST_FAIL("vb_bat_get: no BAT entry %u", blk);
        return get_be32(img->buf + img->bat_off + 4 * (uint64_t) blk);
}

uint64_t vb_block_off(const struct vb_image *img, uint32_t blk)
{
        uint32_t e = vb_bat_get(img, blk);
        return e == VHD_BAT_UNUSED ? 0 : (uint64_t) e * VHD_SECTOR_SIZE;
}

void vb_set_bat(struct vb_image *img, uint32_t blk, uint32_t entry)
{
        if (!is_dynamic(img) || blk >= img->n_entries)
                TEST_FAIL("vb_set_bat: no BAT entry %u", blk);
        put_be32(img->buf + img->bat_off + 4 * (uint64_t) blk, entry);
}

uint64_t vb_append(struct vb_image *img, size_t len)
{
        uint64_t at = vb_footer_off(img);
        uint8_t footer[VHD_FOOTER_SIZE];
        uint8_t *nb;

        if (len % VHD_SECTOR_SIZE)
                TEST_FAIL("vb_append(%zu): not a multiple of 512", len);
        memcpy(footer, img->buf + at, VHD_FOOTER_SIZE);
        nb = realloc(img->buf, img->len + len);
        if (!nb)
                TEST_FAIL("out of memory growing an image by %zu bytes", len);
        img->buf = nb;
        img->len += len;
        memset(img->buf + at, 0, len);
        memcpy(img->buf + vb_footer_off(img), footer, VHD_FOOTER_SIZE);
        return at;
}

void vb_resize_raw(struct vb_image *img, size_t len)
{
        uint8_t *nb = realloc(img->buf, len ? len : 1);

        if (!nb)
                TEST_FAIL("out of memory resizing an image to %zu bytes", len);
        if (len > img->len)
                memset(nb + img->len, 0, len - img->len);
        img->buf = nb;
        img->len = len;
}

uint8_t *vb_block_bitmap(struct vb_image *img, uint32_t blk)
{
        uint64_t off = vb_block_off(img, blk);

        if (off == 0)
                TEST_FAIL("block %u is not allocated", blk);
        return img->buf + off;
}

uint8_t *vb_block_data(struct vb_image *img, uint32_t blk)
{
        return vb_block_bitmap(img, blk) + img->bitmap_bytes;
}

void vb_set_bit(struct vb_image *img, uint32_t blk, uint64_t sector, bool on)
{
        uint8_t *bm = vb_block_bitmap(img, blk);
        uint8_t mask = (uint8_t) (0x80u >> (sector % 8));

        if (sector >= img->block_size / VHD_SECTOR_SIZE)
                TEST_FAIL("sector %" PRIu64 " is outside a block", sector);
        if (on)
                bm[sector / 8] |= mask;
        else
                bm[sector / 8] &= (uint8_t) ~mask;
}

uint64_t vb_alloc_block(struct vb_image *img, uint32_t blk, uint8_t seed, enum vb_bitmap mode)
{
        uint64_t stride = (uint64_t) img->bitmap_bytes + img->block_size, at;
        uint64_t nbits = img->block_size / VHD_SECTOR_SIZE;

        if (vb_block_off(img, blk) != 0)
                TEST_FAIL("block %u is already allocated", blk);
        at = vb_append(img, stride);
        vb_set_bat(img, blk, (uint32_t) (at / VHD_SECTOR_SIZE));
        vb_pattern_fill(img->buf + at + img->bitmap_bytes, img->block_size, seed,
                        (uint64_t) blk * img->block_size);
        switch (mode) {
        case VB_BITMAP_FULL:
                /* Like qemu: the padding of the bitmap is all ones too. */
                memset(img->buf + at, 0xFF, img->bitmap_bytes);
                break;
        case VB_BITMAP_PARTIAL:
                for (uint64_t s = 0; s < nbits; s++)
                        vb_set_bit(img, blk, s, vb_partial_bit(s));
                break;
        case VB_BITMAP_EMPTY:
                break;
        }
        return at;
}

void vb_put_bytes(struct vb_image *img, uint64_t off, const void *p, size_t n)
{
        if (off > img->len || n > img->len - off)
                TEST_FAIL("store of %zu bytes at %" PRIu64 " is outside the image (%zu bytes)", n,
                          off, img->len);
        memcpy(img->buf + off, p, n);
}

void vb_put_be32(struct vb_image *img, uint64_t off, uint32_t v)
{
        uint8_t b[4];
        put_be32(b, v);
        vb_put_bytes(img, off, b, 4);
}

void vb_put_be64(struct vb_image *img, uint64_t off, uint64_t v)
{
        uint8_t b[8];
        put_be64(b, v);
        vb_put_bytes(img, off, b, 8);
}

void vb_footer_put_bytes(struct vb_image *img, size_t field, const void *p, size_t n,
                         unsigned flags)
{
        bool end = !(flags & VB_COPY_ONLY), copy = is_dynamic(img) && !(flags & VB_END_ONLY);

        if (field + n > VHD_FOOTER_SIZE)
                TEST_FAIL("footer field %zu+%zu is outside the footer", field, n);
        if ((flags & VB_COPY_ONLY) && !is_dynamic(img))
                TEST_FAIL("fixed images have no footer copy");
        if (end) {
                uint8_t *f = vb_footer(img);
                memcpy(f + field, p, n);
                if (!(flags & VB_KEEP_CHECKSUM))
                        vhd_footer_set_checksum(f);
        }
        if (copy) {
                memcpy(img->buf + field, p, n);
                if (!(flags & VB_KEEP_CHECKSUM))
                        vhd_footer_set_checksum(img->buf);
        }
}

void vb_footer_put_be32(struct vb_image *img, size_t field, uint32_t v, unsigned flags)
{
        uint8_t b[4];
        put_be32(b, v);
        vb_footer_put_bytes(img, field, b, 4, flags);
}

void vb_footer_put_be64(struct vb_image *img, size_t field, uint64_t v, unsigned flags)
{
        uint8_t b[8];
        put_be64(b, v);
        vb_footer_put_bytes(img, field, b, 8, flags);
}

void vb_header_put_bytes(struct vb_image *img, size_t field, const void *p, size_t n,
                         unsigned flags)
{
        uint8_t *h = vb_header(img);

        if (field + n > VHD_DYN_SIZE)
                TEST_FAIL("header field %zu+%zu is outside the header", field, n);
        memcpy(h + field, p, n);
        if (!(flags & VB_KEEP_CHECKSUM))
                vhd_dyn_header_set_checksum(h);
}

void vb_header_put_be32(struct vb_image *img, size_t field, uint32_t v, unsigned flags)
{
        uint8_t b[4];
        put_be32(b, v);
        vb_header_put_bytes(img, field, b, 4, flags);
}

void vb_header_put_be64(struct vb_image *img, size_t field, uint64_t v, unsigned flags)
{
        uint8_t b[8];
        put_be64(b, v);
        vb_header_put_bytes(img, field, b, 8, flags);
}

void vb_fix_checksums(struct vb_image *img)
{
        vhd_footer_set_checksum(vb_footer(img));
        if (is_dynamic(img)) {
                vhd_footer_set_checksum(img->buf);
                vhd_dyn_header_set_checksum(vb_header(img));
        }
}

unsigned vb_add_locator(struct vb_image *img, uint32_t code, const void *payload, size_t len)
{
        size_t space = (len + VHD_SECTOR_SIZE - 1) / VHD_SECTOR_SIZE * VHD_SECTOR_SIZE;
        unsigned slot = img->n_locators;
        uint64_t at, e;

        if (!is_dynamic(img) || slot >= VHD_DYN_N_LOCATORS)
                TEST_FAIL("no free parent locator slot");
        at = vb_append(img, space ? space : VHD_SECTOR_SIZE);
        vb_put_bytes(img, at, payload, len);
        e = VHD_DYN_OFF_LOCATORS + slot * (uint64_t) VHD_DYN_LOCATOR_SIZE;
        uint8_t *h = vb_header(img);
        put_be32(h + e + VHD_LOC_OFF_CODE, code);
        put_be32(h + e + VHD_LOC_OFF_DATA_SPACE, (uint32_t) (space ? space : VHD_SECTOR_SIZE));
        put_be32(h + e + VHD_LOC_OFF_DATA_LENGTH, (uint32_t) len);
        put_be64(h + e + VHD_LOC_OFF_DATA_OFFSET, at);
        vhd_dyn_header_set_checksum(h);
        img->n_locators++;
        return slot;
}

void vb_set_parent(struct vb_image *img, const struct vb_image *parent, const char *parent_path)
{
        const uint8_t *pf = parent->buf + vb_footer_off(parent);
        uint8_t name[VHD_DYN_PARENT_NAME_SIZE] = {}, loc[2 * VB_PATH_MAX];
        const char *base = strrchr(parent_path, '/');
        int n;

        if (img->type != VHD_TYPE_DIFFERENCING)
                TEST_FAIL("only differencing images have a parent");
        base = base ? base + 1 : parent_path;
        n = utf8_to_utf16(base, true, name, sizeof name - 2);
        if (n < 0)
                TEST_FAIL("parent name '%s' does not fit in the header", base);
        vb_header_put_bytes(img, VHD_DYN_OFF_PARENT_UUID, pf + VHD_FOOTER_OFF_UNIQUE_ID, 16, 0);
        vb_header_put_be32(img, VHD_DYN_OFF_PARENT_TIMESTAMP, VB_TIMESTAMP, 0);
        vb_header_put_bytes(img, VHD_DYN_OFF_PARENT_NAME, name, sizeof name, 0);
        n = utf8_to_utf16(parent_path, false, loc, sizeof loc);
        if (n < 0)
                TEST_FAIL("parent path '%s' is too long", parent_path);
        vb_add_locator(img, VHD_LOC_W2KU, loc, (size_t) n);
}

static void write_fd(int fd, const struct vb_image *img, const char *path)
{
        size_t done = 0;

        while (done < img->len) {
                ssize_t w = write(fd, img->buf + done, img->len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        TEST_FAIL("writing '%s': %s", path, strerror(errno));
                done += (size_t) w;
        }
        if (close(fd) < 0)
                TEST_FAIL("closing '%s': %s", path, strerror(errno));
}

static const char *tmp_root(void)
{
        const char *t = getenv("TMPDIR");
        return t && *t ? t : "/tmp";
}

void vb_write_temp(const struct vb_image *img, char *path)
{
        int fd;

        if (snprintf(path, VB_PATH_MAX, "%s/vhd-test-XXXXXX", tmp_root()) >= VB_PATH_MAX)
                TEST_FAIL("TMPDIR is too long");
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                TEST_FAIL("mkstemp '%s': %s", path, strerror(errno));
        write_fd(fd, img, path);
}

void vb_write_file(const struct vb_image *img, const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                TEST_FAIL("creating '%s': %s", path, strerror(errno));
        write_fd(fd, img, path);
}

/* Folders to remove should the test abort (a failed assertion, a sanitizer
 * report): a failing run must not litter $TMPDIR.  VHD_TEST_KEEP=1 keeps
 * them for a post-mortem. */
static char abort_dirs[8][VB_PATH_MAX];
static volatile sig_atomic_t n_abort_dirs;

static int remove_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
        (void) st;
        (void) ftw;
        return type == FTW_DP ? rmdir(p) : unlink(p);
}

static int remove_tree(const char *path)
{
        return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_abort(int sig)
{
        const char *keep = getenv("VHD_TEST_KEEP");

        signal(sig, SIG_DFL);
        for (int i = 0; i < n_abort_dirs; i++) {
                if (!abort_dirs[i][0])
                        continue;
                if (keep && *keep)
                        fprintf(stderr, "kept test folder %s\n", abort_dirs[i]);
                else
                        remove_tree(abort_dirs[i]);
        }
        raise(sig);
}

void vb_path_join(char *out, const char *dir, const char *name)
{
        int n = snprintf(out, VB_PATH_MAX, "%s/%s", dir, name);
        if (n < 0 || n >= VB_PATH_MAX)
                TEST_FAIL("path '%s/%s' is too long", dir, name);
}

void vb_temp_dir(char *path)
{
        if (snprintf(path, VB_PATH_MAX, "%s/vhd-test-XXXXXX", tmp_root()) >= VB_PATH_MAX)
                TEST_FAIL("TMPDIR is too long");
        if (!mkdtemp(path))
                TEST_FAIL("mkdtemp '%s': %s", path, strerror(errno));
        /* Absolute, so that paths stored in locators mean the same everywhere. */
        char *abs = realpath(path, NULL);
        if (!abs || strlen(abs) >= VB_PATH_MAX)
                TEST_FAIL("realpath '%s': %s", path, strerror(errno));
        strcpy(path, abs);
        free(abs);
        if (n_abort_dirs < (int) (sizeof abort_dirs / sizeof abort_dirs[0])) {
                strcpy(abort_dirs[n_abort_dirs], path);
                n_abort_dirs++;
                signal(SIGABRT, on_abort);
        }
}

void vb_remove_dir(const char *path)
{
        if (remove_tree(path) < 0)
                TEST_FAIL("removing '%s': %s", path, strerror(errno));
        for (int i = 0; i < n_abort_dirs; i++)
                if (strcmp(abort_dirs[i], path) == 0)
                        abort_dirs[i][0] = 0;
}

uint8_t *vb_read_file(const char *path, size_t *ret_len)
{
        struct stat st;
        uint8_t *buf;
        size_t done = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &st) < 0)
                TEST_FAIL("reading '%s': %s", path, strerror(errno));
        buf = xmalloc0((size_t) st.st_size);
        while (done < (size_t) st.st_size) {
                ssize_t r = read(fd, buf + done, (size_t) st.st_size - done);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        TEST_FAIL("reading '%s': %s", path, r < 0 ? strerror(errno) : "short file");
                done += (size_t) r;
        }
        close(fd);
        *ret_len = done;
        return buf;
}

uint64_t vb_file_size(const char *path)
{
        struct stat st;
        if (stat(path, &st) < 0)
                TEST_FAIL("stat '%s': %s", path, strerror(errno));
        return (uint64_t) st.st_size;
}
