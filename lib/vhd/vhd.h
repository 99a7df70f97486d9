/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHD engine's public interface: open and validate an image (fixed,
 * dynamic, differencing with its parent chain), read the merged view, write
 * with crash-safe block allocation, and describe the image.
 *
 * All functions return a negative errno on failure.  Opening validates every
 * structure; on failure an optional struct vc_problems receives what was
 * wrong, with the field and its byte offset.  Nothing here logs or prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../image/image.h"
#include "../image/open.h"
#include "../util/problem.h"
#include "format.h"

struct vhd_image;

enum vhd_open_flags {
        VHD_OPEN_RDWR = 1 << 0,     /* default is read-only */
        VHD_OPEN_NOLOCK = 1 << 1,   /* take no OFD lock (caller holds one) */
        VHD_OPEN_NOPARENT = 1 << 2, /* do not open the parent chain */
};

struct vhd_footer {
        uint32_t features;
        uint32_t version;
        uint64_t data_offset;
        uint32_t timestamp;
        char creator_app[5];        /* NUL-terminated copy of the 4 bytes */
        uint32_t creator_version;
        uint32_t creator_os;
        uint64_t original_size;
        uint64_t current_size;
        uint16_t cylinders;
        uint8_t heads;
        uint8_t sectors;
        uint32_t disk_type;
        uint32_t checksum;
        uint8_t unique_id[16];
        uint8_t saved_state;
        uint8_t raw[VHD_FOOTER_SIZE];
};

struct vhd_locator {
        uint32_t code;
        uint32_t data_space;
        uint32_t data_length;
        uint64_t data_offset;
};

struct vhd_dyn_header {
        uint64_t data_offset;
        uint64_t table_offset;
        uint32_t version;
        uint32_t max_entries;
        uint32_t block_size;
        uint32_t checksum;
        uint8_t parent_uuid[16];
        uint32_t parent_timestamp;
        char parent_name[VHD_DYN_PARENT_NAME_SIZE * 3 / 2 + 1]; /* UTF-8 */
        struct vhd_locator locators[VHD_DYN_N_LOCATORS];
        uint8_t raw[VHD_DYN_SIZE];
};

struct vhd_geometry {
        uint16_t cylinders;
        uint8_t heads;
        uint8_t sectors;
};

/* footer.c */
uint32_t vhd_checksum(const uint8_t *p, size_t n, size_t checksum_off);
int vhd_footer_parse(const uint8_t raw[VHD_FOOTER_SIZE], uint64_t file_off, uint64_t file_size,
                     struct vc_problems *problems, struct vhd_footer *ret);
void vhd_footer_set_checksum(uint8_t raw[VHD_FOOTER_SIZE]);
const char *vhd_disk_type_to_string(uint32_t type);

/* dynheader.c */
int vhd_dyn_header_parse(const uint8_t raw[VHD_DYN_SIZE], uint64_t file_off,
                         uint32_t disk_type, struct vc_problems *problems,
                         struct vhd_dyn_header *ret);
void vhd_dyn_header_set_checksum(uint8_t raw[VHD_DYN_SIZE]);
const char *vhd_locator_code_to_string(uint32_t code);

/* geometry.c */
struct vhd_geometry vhd_geometry_from_size(uint64_t size);
uint64_t vhd_geometry_size(struct vhd_geometry g);
uint64_t vhd_footer_qemu_size(const struct vhd_footer *f);

/* image.c */
int vhd_image_open(const char *path, unsigned flags, struct vc_problems *problems,
                   struct vhd_image **ret);
/*
 * vhd_image_open_fd - open and validate the image behind a descriptor
 * @fd:       the image file, open read-write when @flags has VHD_OPEN_RDWR;
 *            duplicated (F_DUPFD_CLOEXEC), so the caller keeps and closes its own
 * @path:     the file's name: for messages, and to resolve relative parent
 *            locators and the parent name against its folder
 * @flags, @problems, @ret: as vhd_image_open()
 *
 * The same validation as vhd_image_open(), OFD lock included (taken on the
 * shared open file description).  Parents are opened by name with open(2)
 * (see vhd_image_open_ctx for an opener).  Returns 0, -EBADF when @fd is not open or
 * is read-only while VHD_OPEN_RDWR is asked, -EINVAL without @path, or what
 * vhd_image_open() returns; *ret is written on success only.
 */
int vhd_image_open_fd(int fd, const char *path, unsigned flags, struct vc_problems *problems,
                      struct vhd_image **ret);
/*
 * vhd_image_open_ctx - open and validate an image as the context says
 * @path:  its name (for messages and parent locators; opened by it when
 *         @ctx has no fd)
 * @ctx:   the image's descriptor or VC_BY_NAME, and the opener every open
 *         by name goes through, parents included (NULL: by name, open(2))
 *
 * vhd_image_open() and vhd_image_open_fd() are this with no opener.
 */
int vhd_image_open_ctx(const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                       struct vc_problems *problems, struct vhd_image **ret);
struct vhd_image *vhd_image_free(struct vhd_image *img);
static inline void vhd_image_freep(struct vhd_image **p) { vhd_image_free(*p); }

uint64_t vhd_image_virtual_size(const struct vhd_image *img);
uint64_t vhd_image_file_size(const struct vhd_image *img);
const struct vhd_footer *vhd_image_footer(const struct vhd_image *img);
/* NULL for fixed disks. */
const struct vhd_dyn_header *vhd_image_dyn_header(const struct vhd_image *img);
const struct vhd_image *vhd_image_parent(const struct vhd_image *img);
const char *vhd_image_path(const struct vhd_image *img);
uint32_t vhd_image_block_size(const struct vhd_image *img);
uint32_t vhd_image_n_blocks(const struct vhd_image *img);
/* Bytes a block occupies in the file: sector bitmap plus data. */
uint64_t vhd_image_block_stride(const struct vhd_image *img);
uint32_t vhd_image_blocks_allocated(const struct vhd_image *img);
/* File sector of block n's bitmap, or VHD_BAT_UNUSED. */
uint32_t vhd_image_bat_entry(struct vhd_image *img, uint32_t n);
/* All vhd_image_n_blocks() entries at once (host order; NULL for a fixed
 * disk), without the lock vhd_image_bat_entry takes: for callers that do
 * not write through the image meanwhile. */
const uint32_t *vhd_image_bat_table(const struct vhd_image *img);
bool vhd_image_is_readonly(const struct vhd_image *img);
/* The image file's descriptor, for the compaction executor, which writes
 * through it under the exclusive lock the image holds. */
int vhd_image_fd(const struct vhd_image *img);

/* Reads count bytes of the merged virtual disk at offset. */
int vhd_image_pread(struct vhd_image *img, void *buf, size_t count, uint64_t offset);
/* prefetch.c: WILLNEED hints for the file ranges of a virtual range (and
 * its parent's); returns the hints issued. */
unsigned vhd_image_willneed(struct vhd_image *img, uint64_t offset, uint64_t count);

/* write.c */
int vhd_image_pwrite(struct vhd_image *img, const void *buf, size_t count, uint64_t offset);
/* Makes [offset, offset+count) read as zeros; whole blocks of a dynamic disk
 * become unallocated. */
int vhd_image_zero(struct vhd_image *img, size_t count, uint64_t offset);
/* Advisory discard: whole blocks of a dynamic disk become unallocated;
 * everything else is left as it is. */
int vhd_image_trim(struct vhd_image *img, size_t count, uint64_t offset);
int vhd_image_flush(struct vhd_image *img);

/* extents: calls f for consecutive runs from offset, stopping at count or
 * when f returns non-zero (which is then returned); the seam's callback
 * and kinds (lib/image/image.h), so the format table takes it as it is. */
int vhd_image_extents(struct vhd_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata);

/* create.c: a new differencing child of parent_path (absolute and relative
 * locators).  Fails with -EEXIST rather than overwrite. */
int vhd_create_differencing(const char *path, const char *parent_path, uint32_t block_size);

/* check.c: validate everything, collecting all problems into *problems.
 * Returns 0 when the image is clean, 1 when problems were found, <0 when the
 * file cannot be opened at all. */
int vhd_check(const char *path, struct vc_problems *problems);
/* The same on fd (taken over: closed in every case), its parents opened
 * through ctx's opener (ctx may be NULL). */
int vhd_check_fd(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems);
