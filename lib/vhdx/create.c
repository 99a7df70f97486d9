/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * New VHDX files: dynamic (every block NOT_PRESENT, as Windows makes
 * them) or a differencing child of a VHDX parent (HasParent, a parent
 * locator with parent_linkage = the parent's current DataWriteGuid,
 * relative_path from the child's folder, absolute_win32_path = the
 * parent's absolute path with '\' separators, which only its basename
 * means anything to a reader that is not on Linux).
 *
 * Layout (openvmm's order): header section, a 1 MiB empty log at 1 MiB,
 * the metadata region (1 MiB) at 2 MiB, the BAT (MiB-rounded) at 3 MiB;
 * the file ends there.  Both headers are valid (sequence 1 and 2, the
 * same GUIDs), both region tables equal, known regions and items marked
 * required.
 *
 * A new file needs no log: it is written whole into a temporary file
 * beside the target, fsync'ed, then linked to its name (link(2) refuses
 * an existing name, so nothing is ever replaced) and the temporary name
 * removed (fd_create_new_file()); a crash leaves at worst a stray
 * temporary file, never a half-written disk under the target's name.  Parents are only read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../image/image.h"
#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/utf16.h"
#include "../util/win-path.h"
#include "vhdx.h"

#define LOG_OFF (1ull * VHDX_MiB)
#define LOG_LEN VHDX_MiB
#define META_OFF (2ull * VHDX_MiB)
#define META_LEN VHDX_MiB
#define BAT_OFF (3ull * VHDX_MiB)

static int new_guid(uint8_t g[16])
{
        if (getrandom(g, 16, 0) != 16)
                return -errno;
        g[7] = (g[7] & 0x0F) | 0x40;    /* version 4, Data3 stored little-endian */
        g[8] = (g[8] & 0x3F) | 0x80;
        return 0;
}

/* Appends a key and its value (UTF-8, encoded UTF-16LE) to the locator
 * item; *used is where the strings end. */
static int locator_add(uint8_t *item, size_t cap, uint32_t *used, unsigned i, const char *key, const char *value)
{
        uint8_t *e = item + 20 + 12 * i;
        int kl = utf8_to_utf16(key, false, item + *used, cap - *used);
        if (kl <= 0)
                return -ENAMETOOLONG;
        put_le32(e, *used);
        put_le16(e + 8, (uint16_t) kl);
        *used += (uint32_t) kl;
        int vl = utf8_to_utf16(value, false, item + *used, cap - *used);
        if (vl <= 0 || vl > UINT16_MAX)
                return -ENAMETOOLONG;
        put_le32(e + 4, *used);
        put_le16(e + 10, (uint16_t) vl);
        *used += (uint32_t) vl;
        return 0;
}

static void meta_entry(uint8_t *t, unsigned i, const uint8_t guid[16], uint32_t off, uint32_t len, uint32_t flags)
{
        uint8_t *e = t + VHDX_META_HEADER_SIZE + i * VHDX_META_ENTRY_SIZE;
        memcpy(e + VHDX_META_ENTRY_OFF_GUID, guid, 16);
        put_le32(e + VHDX_META_ENTRY_OFF_OFFSET, off);
        put_le32(e + VHDX_META_ENTRY_OFF_LENGTH, len);
        put_le32(e + VHDX_META_ENTRY_OFF_FLAGS, flags);
}

/* The child's absolute name (it does not exist yet: its folder's real path). */
static int child_abs_path(const char *path, char *out, size_t size)
{
        char dir[PATH_MAX], dir_abs[PATH_MAX];
        const char *base = strrchr(path, '/');

        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash == dir)
                snprintf(dir, sizeof dir, "/");
        else if (slash)
                *slash = 0;
        else
                snprintf(dir, sizeof dir, ".");
        if (!realpath(dir, dir_abs))
                return -errno;
        int n = snprintf(out, size, "%s/%s", strcmp(dir_abs, "/") ? dir_abs : "", base ? base + 1 : path);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* The structures up to the BAT, written; the BAT (all NOT_PRESENT, zero)
 * and the file's end made by the size alone. */
struct new_file {
        const uint8_t *buf;
        uint64_t file_len;
};

static int write_new(int fd, void *userdata)
{
        const struct new_file *nf = userdata;
        int r = pwrite_full(fd, nf->buf, BAT_OFF, 0);

        return r < 0 ? r : RET_NERRNO(ftruncate(fd, (off_t) nf->file_len));
}

int vhdx_create(const char *path, const struct vhdx_create_params *cp, struct vc_problems *problems)
{
        struct vhdx_create_params p = *cp;
        _cleanup_(vhdx_image_freep) struct vhdx_image *parent = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t loc[4096] = {};
        uint32_t loc_len = 0;
        int r;

        if (p.parent) {
                struct vc_image *any = NULL;
                r = vc_image_open(p.parent, NULL, 0, problems, &any);
                if (r < 0)
                        return r;
                if (strcmp(vc_image_format(any)->name, "vhdx")) {
                        vc_image_free(any);
                        return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EINVAL, NULL, 0,
                                              "'%s' is not a VHDX: a differencing VHDX's parent must be a VHDX "
                                              "(and a VHD's a VHD)", p.parent);
                }
                vc_image_free(any);
                /* Again, as our own, for its fields (the checks are the same). */
                int fd = vc_open_path(NULL, p.parent, false);
                if (fd < 0)
                        return fd;
                r = vhdx_image_open_fd(fd, p.parent, 0, problems, &parent);
                if (r < 0)
                        return r;
                const struct vhdx_metadata *pm = vhdx_image_metadata(parent);
                p.virtual_size = pm->virtual_size;
                p.logical_sector = pm->logical_sector_size;
                p.physical_sector = pm->physical_sector_size;
                if (!p.block_size)
                        p.block_size = pm->block_size;
        }
        if (!p.block_size)
                p.block_size = 32 * VHDX_MiB;
        if (!p.logical_sector)
                p.logical_sector = 512;
        if (!p.physical_sector)
                p.physical_sector = 4096;
        if (!IS_POWER_OF_2(p.block_size) || p.block_size < VHDX_BLOCK_MIN || p.block_size > VHDX_BLOCK_MAX ||
            (p.logical_sector != 512 && p.logical_sector != 4096) ||
            (p.physical_sector != 512 && p.physical_sector != 4096) || p.virtual_size == 0 ||
            p.virtual_size % p.logical_sector || p.virtual_size > VHDX_MAX_VIRTUAL_SIZE)
                return -EINVAL;

        const struct vhdx_metadata m = { .block_size = p.block_size, .has_parent = !!parent,
                                         .virtual_size = p.virtual_size, .logical_sector_size = p.logical_sector,
                                         .physical_sector_size = p.physical_sector };
        uint64_t entries, data_blocks, cr;
        r = vhdx_bat_geometry(&m, &entries, &data_blocks, &cr);
        if (r < 0)
                return r;
        const uint64_t bat_len = ROUND_UP(entries * 8, (uint64_t) VHDX_MiB);
        const uint64_t file_len = BAT_OFF + bat_len;

        if (parent) {
                char parent_abs[PATH_MAX], child_abs[PATH_MAX + 256], rel[PATH_MAX], link[40], g[37];
                const struct vhdx_headers *ph = vhdx_image_headers(parent);
                if (!realpath(p.parent, parent_abs))
                        return -errno;
                r = child_abs_path(path, child_abs, sizeof child_abs);
                if (r < 0)
                        return r;
                r = win_relative_path(child_abs, parent_abs, "", rel, sizeof rel);
                if (r < 0)
                        return r;
                vhdx_guid_format(ph->h[ph->current].data_write_guid, g);
                snprintf(link, sizeof link, "{%s}", g);
                for (char *c = parent_abs; *c; c++)
                        if (*c == '/')
                                *c = '\\';
                static const uint8_t type[16] = { 0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
                                                  0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };
                memcpy(loc, type, 16);
                put_le16(loc + 18, 3);
                loc_len = 20 + 3 * 12;
                if ((r = locator_add(loc, sizeof loc, &loc_len, 0, "parent_linkage", link)) < 0 ||
                    (r = locator_add(loc, sizeof loc, &loc_len, 1, "relative_path", rel)) < 0 ||
                    (r = locator_add(loc, sizeof loc, &loc_len, 2, "absolute_win32_path", parent_abs)) < 0)
                        return r;
        }

        /* Everything but the BAT (zeros: NOT_PRESENT, SB NOT_PRESENT), in memory. */
        buf = calloc(1, BAT_OFF);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, VHDX_IDENT_SIGNATURE, 8);
        utf8_to_utf16("vhdcompact", false, buf + VHDX_IDENT_OFF_CREATOR, VHDX_IDENT_CREATOR_SIZE);

        uint8_t fwg[16], dwg[16], page83[16];
        if ((r = new_guid(fwg)) < 0 || (r = new_guid(dwg)) < 0 || (r = new_guid(page83)) < 0)
                return r;
        for (int s = 0; s < 2; s++) {
                uint8_t *h = buf + (s ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET);
                memcpy(h, VHDX_HEADER_SIGNATURE, 4);
                put_le64(h + VHDX_HEADER_OFF_SEQUENCE, (uint64_t) s + 1);
                memcpy(h + VHDX_HEADER_OFF_FILE_WRITE_GUID, fwg, 16);
                memcpy(h + VHDX_HEADER_OFF_DATA_WRITE_GUID, dwg, 16);
                put_le16(h + VHDX_HEADER_OFF_VERSION, VHDX_HEADER_VERSION);
                put_le32(h + VHDX_HEADER_OFF_LOG_LENGTH, LOG_LEN);
                put_le64(h + VHDX_HEADER_OFF_LOG_OFFSET, LOG_OFF);
                put_le32(h + VHDX_HEADER_OFF_CHECKSUM, crc32c(0, h, VHDX_HEADER_SIZE));
        }
        static const uint8_t g_bat[16] = VHDX_GUID_BAT, g_meta[16] = VHDX_GUID_METADATA;
        for (int s = 0; s < 2; s++) {
                uint8_t *t = buf + (s ? VHDX_REGION2_OFFSET : VHDX_REGION1_OFFSET);
                memcpy(t, VHDX_REGION_SIGNATURE, 4);
                put_le32(t + VHDX_REGION_OFF_COUNT, 2);
                uint8_t *e = t + VHDX_REGION_HEADER_SIZE;
                memcpy(e + VHDX_REGION_ENTRY_OFF_GUID, g_bat, 16);
                put_le64(e + VHDX_REGION_ENTRY_OFF_OFFSET, BAT_OFF);
                put_le32(e + VHDX_REGION_ENTRY_OFF_LENGTH, (uint32_t) bat_len);
                put_le32(e + VHDX_REGION_ENTRY_OFF_REQUIRED, 1);
                e += VHDX_REGION_ENTRY_SIZE;
                memcpy(e + VHDX_REGION_ENTRY_OFF_GUID, g_meta, 16);
                put_le64(e + VHDX_REGION_ENTRY_OFF_OFFSET, META_OFF);
                put_le32(e + VHDX_REGION_ENTRY_OFF_LENGTH, META_LEN);
                put_le32(e + VHDX_REGION_ENTRY_OFF_REQUIRED, 1);
                put_le32(t + VHDX_REGION_OFF_CHECKSUM, crc32c(0, t, VHDX_REGION_SIZE));
        }
        static const uint8_t g_params[16] = VHDX_GUID_FILE_PARAMETERS, g_size[16] = VHDX_GUID_VIRTUAL_DISK_SIZE,
                             g_page83[16] = VHDX_GUID_PAGE83, g_lss[16] = VHDX_GUID_LOGICAL_SECTOR,
                             g_pss[16] = VHDX_GUID_PHYSICAL_SECTOR, g_loc[16] = VHDX_GUID_PARENT_LOCATOR;
        uint8_t *t = buf + META_OFF;
        const uint32_t vd = VHDX_META_FLAG_VIRTUAL_DISK | VHDX_META_FLAG_REQUIRED, rq = VHDX_META_FLAG_REQUIRED;
        uint32_t at = VHDX_META_TABLE_SIZE;
        memcpy(t, VHDX_META_SIGNATURE, 8);
        put_le16(t + VHDX_META_OFF_COUNT, parent ? 6 : 5);
        put_le32(t + at, p.block_size);
        put_le32(t + at + 4, parent ? VHDX_PARAM_HAS_PARENT : 0);
        meta_entry(t, 0, g_params, at, 8, rq);
        at += 8;
        put_le64(t + at, p.virtual_size);
        meta_entry(t, 1, g_size, at, 8, vd);
        at += 8;
        memcpy(t + at, page83, 16);
        meta_entry(t, 2, g_page83, at, 16, vd);
        at += 16;
        put_le32(t + at, p.logical_sector);
        meta_entry(t, 3, g_lss, at, 4, vd);
        at += 4;
        put_le32(t + at, p.physical_sector);
        meta_entry(t, 4, g_pss, at, 4, vd);
        at += 4;
        if (parent) {
                memcpy(t + at, loc, loc_len);
                meta_entry(t, 5, g_loc, at, loc_len, rq);
        }

        const struct new_file nf = { buf, file_len };
        return fd_create_new_file(path, 0644, write_new, (void *) &nf);
}
