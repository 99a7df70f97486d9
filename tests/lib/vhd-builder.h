/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Building VHD images in memory for the unit tests.
 *
 * A test describes the image it wants (fixed, dynamic or differencing, which
 * blocks are allocated, what their bitmaps say), pokes whatever field it
 * means to damage, and writes the bytes to a temporary file that the library
 * then opens.  Everything is laid out like the images Windows and qemu
 * write:
 *
 *   dynamic/diff: [footer copy @0][header @512][BAT @1536, padded to 512]
 *                 [locator payloads and blocks, in the order they were added]
 *                 [footer]
 *   fixed:        [data][footer]
 *
 * The builder keeps the two footer copies and the header checksums right
 * after every structural change (adding a block, a locator, a parent); the
 * poke helpers say explicitly whether they fix checksums and which footer
 * copy they touch, so that a corruption test damages exactly one thing.
 *
 * Block data is a deterministic pattern of the virtual offset and a seed
 * (vb_pattern_byte), so tests compute the expected merged view without
 * keeping a second copy of the disk.  All functions abort on allocation or
 * I/O failure: a test cannot go on without its image.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhd/format.h"

enum vb_bitmap {
        VB_BITMAP_FULL,         /* every sector present */
        VB_BITMAP_PARTIAL,      /* sector s present iff vb_partial_bit(s) */
        VB_BITMAP_EMPTY,        /* no sector present (data still written) */
};

/* Flags of the poke helpers. */
enum vb_poke_flags {
        VB_FIX_CHECKSUM = 0,            /* default: recompute the checksum */
        VB_KEEP_CHECKSUM = 1 << 0,      /* leave the stored checksum as it was */
        VB_END_ONLY = 1 << 1,           /* footer: only the end copy */
        VB_COPY_ONLY = 1 << 2,          /* footer: only the copy at offset 0 */
};

struct vb_image {
        uint8_t *buf;
        size_t len;

        uint32_t type;                  /* enum vhd_disk_type */
        uint64_t virtual_size;
        /* dynamic and differencing only */
        uint32_t block_size;
        uint32_t n_entries;
        uint32_t bitmap_bytes;
        uint64_t header_off;            /* 512 */
        uint64_t bat_off;               /* 1536 */
        uint32_t n_locators;
};

/* The byte that block data holds at virtual offset voff for a given seed.
 * Never the same for neighbouring sectors, and never zero for a whole sector. */
uint8_t vb_pattern_byte(uint8_t seed, uint64_t voff);
void vb_pattern_fill(uint8_t *buf, size_t len, uint8_t seed, uint64_t voff);
/* The sector rule of VB_BITMAP_PARTIAL: sectors 0, 2, 3, 5, 6, ... (s % 3 != 1). */
bool vb_partial_bit(uint64_t sector);

/* A dynamic (VHD_TYPE_DYNAMIC) or differencing (VHD_TYPE_DIFFERENCING) image
 * of virtual_size bytes (a multiple of 512) with no block allocated, creator
 * "vbld", geometry from vhd_geometry_from_size and a fresh unique id. */
struct vb_image *vb_dynamic(uint64_t virtual_size, uint32_t block_size, uint32_t type);
/* A fixed image of size bytes of zeros. */
struct vb_image *vb_fixed(uint64_t size);
struct vb_image *vb_free(struct vb_image *img);
static inline void vb_freep(struct vb_image **p) { vb_free(*p); }
#define _cleanup_vb_ __attribute__((cleanup(vb_freep)))

/* Offsets of the end footer and of block blk's bitmap (0 when unallocated). */
uint64_t vb_footer_off(const struct vb_image *img);
uint64_t vb_block_off(const struct vb_image *img, uint32_t blk);
uint32_t vb_bat_get(const struct vb_image *img, uint32_t blk);

/* Appends block blk before the end footer, fills its data with the pattern of
 * seed at the block's virtual offsets and writes the bitmap as mode says.
 * Returns the block's file offset. */
uint64_t vb_alloc_block(struct vb_image *img, uint32_t blk, uint8_t seed, enum vb_bitmap mode);
/* Pointer to the data area / the sector bitmap of an allocated block. */
uint8_t *vb_block_data(struct vb_image *img, uint32_t blk);
uint8_t *vb_block_bitmap(struct vb_image *img, uint32_t blk);
void vb_set_bit(struct vb_image *img, uint32_t blk, uint64_t sector, bool on);
/* Grows the file by len zero bytes just before the end footer; returns where. */
uint64_t vb_append(struct vb_image *img, size_t len);
/* Cuts or extends (with zeros) the buffer to exactly len bytes, with no care
 * for the footer: for truncation tests. */
void vb_resize_raw(struct vb_image *img, size_t len);

/* Raw stores, no checksum touched. */
void vb_put_be32(struct vb_image *img, uint64_t off, uint32_t v);
void vb_put_be64(struct vb_image *img, uint64_t off, uint64_t v);
void vb_put_bytes(struct vb_image *img, uint64_t off, const void *p, size_t n);
/* Sets BAT entry blk in the raw BAT. */
void vb_set_bat(struct vb_image *img, uint32_t blk, uint32_t entry);

/* Field stores into the footer (both copies unless flags say otherwise) or
 * the dynamic header; field is the offset inside the structure. */
void vb_footer_put_be32(struct vb_image *img, size_t field, uint32_t v, unsigned flags);
void vb_footer_put_be64(struct vb_image *img, size_t field, uint64_t v, unsigned flags);
void vb_footer_put_bytes(struct vb_image *img, size_t field, const void *p, size_t n,
                         unsigned flags);
void vb_header_put_be32(struct vb_image *img, size_t field, uint32_t v, unsigned flags);
void vb_header_put_be64(struct vb_image *img, size_t field, uint64_t v, unsigned flags);
void vb_header_put_bytes(struct vb_image *img, size_t field, const void *p, size_t n,
                         unsigned flags);
/* Recomputes both footer checksums (fixed: the one footer) and the header's. */
void vb_fix_checksums(struct vb_image *img);

/* Pointers to the structures inside buf. */
uint8_t *vb_footer(struct vb_image *img);        /* the end footer */
uint8_t *vb_header(struct vb_image *img);

/* Adds a parent locator entry (next free slot) whose payload, len bytes,
 * is appended before the end footer; data_space is given in bytes.
 * Returns the slot index. */
unsigned vb_add_locator(struct vb_image *img, uint32_t code, const void *payload, size_t len);
/* Binds a differencing image to parent: parent unique id, a parent name and
 * a W2ku locator (UTF-16LE absolute path) naming parent_path. */
void vb_set_parent(struct vb_image *img, const struct vb_image *parent, const char *parent_path);

/* Writes the image to a fresh mkstemp() file under $TMPDIR (or /tmp) and
 * stores its name in path (at least VB_PATH_MAX bytes). */
#define VB_PATH_MAX 4096
void vb_write_temp(const struct vb_image *img, char *path);
/* Writes the image to path, replacing it. */
void vb_write_file(const struct vb_image *img, const char *path);
/* out = dir + "/" + name, failing the test when it does not fit. */
void vb_path_join(char *out, const char *dir, const char *name);
/* A fresh mkdtemp() folder under $TMPDIR (or /tmp), absolute; it is removed
 * if the test aborts (unless VHD_TEST_KEEP is set). */
void vb_temp_dir(char *path);
/* Removes a folder and everything in it. */
void vb_remove_dir(const char *path);

/* Reads a whole file into a malloc()ed buffer. */
uint8_t *vb_read_file(const char *path, size_t *ret_len);
/* The size of a file, failing the test when it cannot be had. */
uint64_t vb_file_size(const char *path);
