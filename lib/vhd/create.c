/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Creating a differencing child of an existing VHD.  qemu-img cannot make
 * these, and users need them to test chains.  The child copies the parent's
 * size fields and geometry, records the parent's unique id, and carries two
 * locators: W2ru (relative to the child's folder) and W2ku (absolute), both
 * UTF-16LE with their data space given in bytes, as Windows writes them.
 *
 * Layout: footer copy | header | BAT (all unused) | W2ru | W2ku | footer.
 * The file is written whole under a temporary name and linked into place
 * (fd_create_new_file()), so the target never exists half-written and an
 * existing file is never replaced.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/utf16.h"
#include "../util/win-path.h"
#include "image-internal.h"

#define LOCATOR_SPACE 512u

static const char *basename_of(const char *p)
{
        const char *s = strrchr(p, '/');
        return s ? s + 1 : p;
}

/* What the new file holds, where. */
struct child_bytes {
        const uint8_t *footer, *hdr, *bat;
        uint64_t bat_off, bat_bytes;
        const uint8_t *loc_rel;
        uint64_t rel_off;
        const uint8_t *loc_abs;
        uint64_t abs_off, footer_off;
};

static int write_child(int fd, void *userdata)
{
        const struct child_bytes *c = userdata;
        int r;

        if ((r = pwrite_full(fd, c->footer, VHD_FOOTER_SIZE, 0)) < 0 ||
            (r = pwrite_full(fd, c->hdr, VHD_DYN_SIZE, VHD_FOOTER_SIZE)) < 0 ||
            (r = pwrite_full(fd, c->bat, c->bat_bytes, c->bat_off)) < 0 ||
            (r = pwrite_full(fd, c->loc_rel, LOCATOR_SPACE, c->rel_off)) < 0 ||
            (r = pwrite_full(fd, c->loc_abs, LOCATOR_SPACE, c->abs_off)) < 0 ||
            (r = pwrite_full(fd, c->footer, VHD_FOOTER_SIZE, c->footer_off)) < 0)
                return r;
        return 0;
}

int vhd_create_differencing(const char *path, const char *parent_path, uint32_t block_size)
{
        _cleanup_(vhd_image_freep) struct vhd_image *parent = NULL;
        char parent_abs[PATH_MAX], child_abs[PATH_MAX + 256], rel[PATH_MAX], dir[PATH_MAX];
        uint8_t footer[VHD_FOOTER_SIZE], hdr[VHD_DYN_SIZE];
        uint8_t loc_rel[LOCATOR_SPACE] = {}, loc_abs[LOCATOR_SPACE] = {};
        struct stat st;
        int r, len_rel, len_abs;

        if (block_size == 0)
                block_size = 2u << 20;
        if (!IS_POWER_OF_2(block_size) || block_size < VHD_MIN_BLOCK_SIZE ||
            block_size > VHD_MAX_BLOCK_SIZE)
                return -EINVAL;
        r = vhd_image_open(parent_path, 0, NULL, &parent);
        if (r < 0)
                return r;
        if (!realpath(parent_path, parent_abs))
                return -errno;
        /* The child does not exist yet: resolve its folder. */
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                snprintf(dir, sizeof dir, "/");
        else if (slash)
                *slash = 0;
        else
                snprintf(dir, sizeof dir, ".");
        char dir_abs[PATH_MAX];
        if (!realpath(dir, dir_abs))
                return -errno;
        snprintf(child_abs, sizeof child_abs, "%s/%s", strcmp(dir_abs, "/") ? dir_abs : "",
                 basename_of(path));
        r = win_relative_path(child_abs, parent_abs, ".\\", rel, sizeof rel);
        if (r < 0)
                return r;
        len_rel = utf8_to_utf16(rel, false, loc_rel, sizeof loc_rel);
        len_abs = utf8_to_utf16(parent_abs, false, loc_abs, sizeof loc_abs);
        if (len_rel < 0 || len_abs < 0)
                return -ENAMETOOLONG;

        uint64_t size = parent->virtual_size;
        uint32_t entries = (uint32_t) DIV_ROUND_UP(size, block_size);
        uint64_t bat_off = VHD_FOOTER_SIZE + VHD_DYN_SIZE;
        uint64_t bat_bytes = ROUND_UP((uint64_t) entries * 4, VHD_SECTOR_SIZE);
        uint64_t rel_off = bat_off + bat_bytes, abs_off = rel_off + LOCATOR_SPACE;
        uint64_t footer_off = abs_off + LOCATOR_SPACE;

        /* Footer: the parent's sizes and geometry, our identity. */
        memcpy(footer, parent->footer.raw, VHD_FOOTER_SIZE);
        memset(footer + VHD_FOOTER_OFF_SAVED_STATE, 0, VHD_FOOTER_SIZE - VHD_FOOTER_OFF_SAVED_STATE);
        put_be32(footer + VHD_FOOTER_OFF_FEATURES, VHD_FEATURE_RESERVED);
        put_be32(footer + VHD_FOOTER_OFF_VERSION, VHD_VERSION_1_0);
        put_be64(footer + VHD_FOOTER_OFF_DATA_OFFSET, VHD_FOOTER_SIZE);
        put_be32(footer + VHD_FOOTER_OFF_TIMESTAMP, (uint32_t) (time(NULL) - VHD_EPOCH_OFFSET));
        memcpy(footer + VHD_FOOTER_OFF_CREATOR_APP, "vhdc", 4);
        put_be32(footer + VHD_FOOTER_OFF_CREATOR_VERSION, 0x00000001);
        put_be32(footer + VHD_FOOTER_OFF_CREATOR_OS, 0x4C6E7578); /* "Lnux" */
        put_be32(footer + VHD_FOOTER_OFF_DISK_TYPE, VHD_TYPE_DIFFERENCING);
        if (getrandom(footer + VHD_FOOTER_OFF_UNIQUE_ID, 16, 0) != 16)
                return -errno;
        footer[VHD_FOOTER_OFF_UNIQUE_ID + 6] = (footer[VHD_FOOTER_OFF_UNIQUE_ID + 6] & 0x0F) | 0x40;
        footer[VHD_FOOTER_OFF_UNIQUE_ID + 8] = (footer[VHD_FOOTER_OFF_UNIQUE_ID + 8] & 0x3F) | 0x80;
        vhd_footer_set_checksum(footer);

        memset(hdr, 0, sizeof hdr);
        memcpy(hdr + VHD_DYN_OFF_COOKIE, VHD_DYN_COOKIE, 8);
        put_be64(hdr + VHD_DYN_OFF_DATA_OFFSET, UINT64_MAX);
        put_be64(hdr + VHD_DYN_OFF_TABLE_OFFSET, bat_off);
        put_be32(hdr + VHD_DYN_OFF_VERSION, VHD_VERSION_1_0);
        put_be32(hdr + VHD_DYN_OFF_MAX_ENTRIES, entries);
        put_be32(hdr + VHD_DYN_OFF_BLOCK_SIZE, block_size);
        memcpy(hdr + VHD_DYN_OFF_PARENT_UUID, parent->footer.unique_id, 16);
        if (fstat(parent->fd, &st) < 0)
                return -errno;
        put_be32(hdr + VHD_DYN_OFF_PARENT_TIMESTAMP, (uint32_t) (st.st_mtime - VHD_EPOCH_OFFSET));
        if (utf8_to_utf16(basename_of(parent_abs), true, hdr + VHD_DYN_OFF_PARENT_NAME,
                          VHD_DYN_PARENT_NAME_SIZE - 2) < 0)
                return -ENAMETOOLONG;
        struct { uint32_t code; uint64_t off; int len; } locs[2] = {
                { VHD_LOC_W2RU, rel_off, len_rel }, { VHD_LOC_W2KU, abs_off, len_abs } };
        for (int i = 0; i < 2; i++) {
                uint8_t *e = hdr + VHD_DYN_OFF_LOCATORS + i * VHD_DYN_LOCATOR_SIZE;
                put_be32(e + VHD_LOC_OFF_CODE, locs[i].code);
                put_be32(e + VHD_LOC_OFF_DATA_SPACE, LOCATOR_SPACE);
                put_be32(e + VHD_LOC_OFF_DATA_LENGTH, (uint32_t) locs[i].len);
                put_be64(e + VHD_LOC_OFF_DATA_OFFSET, locs[i].off);
        }
        vhd_dyn_header_set_checksum(hdr);

        _cleanup_free_ uint8_t *bat = malloc(bat_bytes);
        if (!bat)
                return -ENOMEM;
        memset(bat, 0xFF, bat_bytes);

        const struct child_bytes c = { footer, hdr, bat, bat_off, bat_bytes, loc_rel, rel_off, loc_abs, abs_off,
                                       footer_off };
        return fd_create_new_file(path, 0644, write_child, (void *) &c);
}
