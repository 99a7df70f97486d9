/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX inside lib/vhdx: the parsed structures and the parsers, one file
 * per concept (header.c, region.c, metadata.c, bat.c, occupancy.c), put
 * together by image.c (open, validate, read) and shown to the rest of the
 * tree only through format-vhdx.c's table (lib/image/image.h).
 *
 * Every parser reports into a struct vhdx_report: a problem with an id,
 * the field and its byte offset in the file.  When the problem list
 * collects (`vhdctl check`) the parser notes the first error and carries
 * on wherever what follows does not depend on the bad field; otherwise it
 * stops at the first problem.  Nothing here writes to the file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../image/image.h"
#include "../image/open.h"
#include "../util/macro.h"
#include "../util/problem.h"
#include "format.h"

struct vhdx_report {
        struct vc_problems *ps;
        int err;                /* the first error recorded */
};

/* Records a problem.  Returns its error when the caller must stop (the
 * list does not collect, or memory ran out), else 0. */
int vhdx_report(struct vhdx_report *rep, enum vc_problem_id id, int error, const char *field, uint64_t offset,
                const char *fmt, ...) _printf_(6, 7);
static inline bool vhdx_collecting(const struct vhdx_report *rep) { return rep->ps && rep->ps->collect; }

/* --- header.c ------------------------------------------------------------ */

struct vhdx_header {
        uint64_t sequence;
        uint8_t file_write_guid[16];
        uint8_t data_write_guid[16];
        uint8_t log_guid[16];
        uint16_t log_version;
        uint16_t version;
        uint32_t log_length;
        uint64_t log_offset;
        uint32_t checksum;
};

struct vhdx_headers {
        struct vhdx_header h[2];
        bool valid[2];
        struct vc_problem why[2];       /* for an invalid slot: what is wrong */
        int current;                    /* 0 or 1 */
};

/* Both headers from the header section (sec: its first 320 KiB,
 * VHDX_HEADER_USED); *ret on success only.  An invalid slot is noted
 * (ret->why) and, when collecting, reported; only both invalid, or two
 * valid ones that disagree under one sequence number, fail. */
int vhdx_headers_parse(const uint8_t *sec, struct vhdx_report *rep, struct vhdx_headers *ret);
uint64_t vhdx_header_offset(int slot);
/* Writes the current header, with the GUIDs given (NULL: kept) and the
 * sequence number + 1, into the other slot (every other byte copied from
 * the current slot), fdatasyncs, and makes it current.  -EOVERFLOW at
 * sequence 2^64-1 (never wraps). */
int vhdx_header_update(int fd, struct vhdx_headers *hs, const uint8_t *file_write_guid,
                       const uint8_t *data_write_guid, const uint8_t *log_guid);
bool vhdx_guid_is_zero(const uint8_t g[16]);
void vhdx_guid_format(const uint8_t g[16], char out[37]);

/* --- region.c ------------------------------------------------------------ */

struct vhdx_region {
        uint8_t guid[16];
        uint64_t offset;
        uint32_t length;
        bool required;
        uint64_t entry_offset;          /* where its entry lies in the file */
};

struct vhdx_regions {
        struct vhdx_region *v;          /* n entries, of the copy used */
        uint32_t n;
        bool valid[2];
        struct vc_problem why[2];
        int used;                       /* the copy read: 0 or 1 */
        bool copies_differ;
        int bat, meta;                  /* indexes into v */
};

/* Both copies from the header section; *ret (whose v is the caller's to
 * free) on success only.  Checks each entry against file_size. */
int vhdx_regions_parse(const uint8_t *sec, uint64_t file_size, struct vhdx_report *rep, struct vhdx_regions *ret);
void vhdx_regions_done(struct vhdx_regions *r);
const char *vhdx_region_name(const uint8_t guid[16]);   /* "BAT", "metadata" or NULL */

/* --- metadata.c ---------------------------------------------------------- */

struct vhdx_metadata {
        uint32_t block_size;
        bool leave_allocated;
        bool has_parent;
        uint64_t virtual_size;
        uint32_t logical_sector_size;
        uint32_t physical_sector_size;
        uint8_t page83[16];
        bool has_locator;
        uint64_t locator_offset;        /* in the file */
        uint32_t locator_length;
        uint32_t n_items;
        uint64_t params_offset;         /* file offsets of the items, for problems */
        uint64_t size_offset;
};

/* The metadata region (its 64 KiB table and its items) read from fd at
 * offset/length; *ret on success only. */
int vhdx_metadata_parse(int fd, uint64_t offset, uint32_t length, struct vhdx_report *rep,
                        struct vhdx_metadata *ret);

/* --- occupancy.c: one bit per MiB of the file ------------------------------ */

struct vhdx_occupancy {
        uint8_t *bits;
        uint64_t n_mib;
        /* The named objects (header section, log, regions), to say what a
         * colliding object hit. */
        struct { const char *name; uint64_t start, len; } fixed[2 + VHDX_REGION_MAX_ENTRIES];
        unsigned n_fixed;
};

int vhdx_occupancy_init(struct vhdx_occupancy *o, uint64_t file_size);
void vhdx_occupancy_done(struct vhdx_occupancy *o);
/* Marks [start, start + len) (MiB multiples, inside the map).  Returns 0,
 * or 1 when some MiB was taken already; then *ret_other names what it hit
 * ("another block" when no named object). */
int vhdx_occupancy_take(struct vhdx_occupancy *o, uint64_t start, uint64_t len, const char **ret_other);
/* As take, also remembering the object as @name (a static string). */
int vhdx_occupancy_take_named(struct vhdx_occupancy *o, const char *name, uint64_t start, uint64_t len,
                              const char **ret_other);

/* --- bat.c ---------------------------------------------------------------- */

struct vhdx_bat {
        uint64_t *e;                    /* n_entries, host order */
        uint64_t n_entries;
        uint64_t data_blocks;
        uint64_t chunk_ratio;
        uint64_t offset;                /* of the BAT in the file */
        uint64_t count[8];              /* payload entries by state */
        uint64_t sb_present;
};

/* Geometry from the metadata: entries, data blocks, chunk ratio.  -EINVAL
 * when the metadata is out of the ranges metadata.c enforces. */
int vhdx_bat_geometry(const struct vhdx_metadata *m, uint64_t *ret_entries, uint64_t *ret_data_blocks,
                      uint64_t *ret_chunk_ratio);
/* Reads and validates the BAT region (every entry: states, reserved bits,
 * ranges inside the file, and overlaps through @occ); *ret on success
 * only, its e the caller's to free. */
int vhdx_bat_load(int fd, uint64_t file_size, const struct vhdx_region *region, const struct vhdx_metadata *m,
                  struct vhdx_occupancy *occ, struct vhdx_report *rep, struct vhdx_bat *ret);
static inline uint64_t vhdx_bat_index(const struct vhdx_bat *b, uint64_t block)
{
        return block + block / b->chunk_ratio;
}
const char *vhdx_payload_state_name(unsigned state);

/* --- locator.c: the parent locator item (VHDX.md section 4.1) ------------- */

enum { VHDX_LOC_RELATIVE, VHDX_LOC_VOLUME, VHDX_LOC_ABSOLUTE, VHDX_LOC_N_PATHS };

struct vhdx_locator {
        uint8_t linkage[16];            /* parent_linkage, on-disk GUID form */
        uint8_t linkage2[16];
        bool has_linkage2;
        uint64_t linkage_offset;        /* of parent_linkage's value in the file */
        char *path[VHDX_LOC_N_PATHS];   /* UTF-8, as stored ('\' kept); NULL: absent */
        uint64_t path_offset[VHDX_LOC_N_PATHS];
        uint64_t offset;                /* of the item in the file */
};

/* Validates the item (len bytes, at file offset at) into *ret (its paths
 * the caller's: vhdx_locator_done); a bad-locator problem on failure. */
int vhdx_locator_parse(const uint8_t *item, uint32_t len, uint64_t at, struct vhdx_report *rep,
                       struct vhdx_locator *ret);
/* The same, reading the item m locates from fd. */
int vhdx_locator_read(int fd, const struct vhdx_metadata *m, struct vhdx_report *rep, struct vhdx_locator *ret);
void vhdx_locator_done(struct vhdx_locator *l);
const char *vhdx_locator_key_name(int k);
bool vhdx_guid_parse(const char *text, uint8_t out[16]);

/* --- image.c --------------------------------------------------------------- */

struct vhdx_image;

enum { VHDX_OPEN_RDWR = 1, VHDX_OPEN_NOLOCK = 2, VHDX_OPEN_NOPARENT = 4 };

int vhdx_image_open_fd(int fd, const char *path, unsigned flags, struct vc_problems *problems,
                       struct vhdx_image **ret);
/* The same, parents opened through ctx (NULL: by name). */
int vhdx_image_open_fd_ctx(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                           struct vc_problems *problems, struct vhdx_image **ret);
int vhdx_check_fd_ctx(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems);
struct vhdx_image *vhdx_image_free(struct vhdx_image *img);
static inline void vhdx_image_freep(struct vhdx_image **p) { vhdx_image_free(*p); }
int vhdx_check_fd(int fd, const char *path, struct vc_problems *problems);

int vhdx_image_pread(struct vhdx_image *img, void *buf, size_t count, uint64_t offset);
/* prefetch.c: WILLNEED hints for the file ranges of a virtual range (and
 * its parent's); returns the hints issued. */
unsigned vhdx_image_willneed(struct vhdx_image *img, uint64_t offset, uint64_t count);
/* write.c: the writable session (a read-write open); -EROFS otherwise. */
int vhdx_image_pwrite(struct vhdx_image *img, const void *buf, size_t count, uint64_t offset);
int vhdx_image_zero(struct vhdx_image *img, size_t count, uint64_t offset);
int vhdx_image_trim(struct vhdx_image *img, size_t count, uint64_t offset);
int vhdx_image_flush(struct vhdx_image *img);
/* The seam's callback and kinds (lib/image/image.h). */
int vhdx_image_extents(struct vhdx_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata);

const char *vhdx_image_path(const struct vhdx_image *img);
int vhdx_image_fd(const struct vhdx_image *img);
uint64_t vhdx_image_file_size(const struct vhdx_image *img);
const struct vhdx_headers *vhdx_image_headers(const struct vhdx_image *img);
const struct vhdx_regions *vhdx_image_regions(const struct vhdx_image *img);
const struct vhdx_metadata *vhdx_image_metadata(const struct vhdx_image *img);
const struct vhdx_bat *vhdx_image_bat(const struct vhdx_image *img);
/* The payload state of data block b. */
unsigned vhdx_image_block_state(const struct vhdx_image *img, uint64_t b);
const char *vhdx_image_kind(const struct vhdx_image *img);
/* A differencing disk's parent (NULL: none, or not opened) and locator. */
const struct vhdx_image *vhdx_image_parent(const struct vhdx_image *img);
const struct vhdx_locator *vhdx_image_locator(const struct vhdx_image *img);

/* --- create.c: new files ----------------------------------------------------- */

struct vhdx_create_params {
        const char *parent;             /* a VHDX: a differencing child of it; NULL: dynamic */
        uint64_t virtual_size;          /* dynamic only (a child has its parent's) */
        uint32_t block_size;            /* 0: the parent's, or 32 MiB */
        uint32_t logical_sector;        /* dynamic: 0 (512) or 512 or 4096 */
        uint32_t physical_sector;       /* dynamic: 0 (4096) or 512 or 4096 */
};

/* Creates path (which must not exist) whole, durably; -EINVAL for bad
 * parameters, -EEXIST, or a problem about the parent. */
int vhdx_create(const char *path, const struct vhdx_create_params *p, struct vc_problems *problems);

/* --- parent.c: the chain (VHDX.md section 4.4) -------------------------------- */

#define VHDX_MAX_CHAIN_DEPTH 256

/* The disks already in the chain, child first, to find loops before a
 * parent is even parsed. */
struct vhdx_chain {
        const struct vhdx_chain *below;
        dev_t dev;
        ino_t ino;
};

/* Opens the disk at depth+1 that loc names and binds it (see parent.c);
 * *ret on success only; parent-not-found, parent-mismatch or parent-loop. */
int vhdx_parent_find(const char *child_path, const struct vc_open_ctx *ctx, const struct vhdx_locator *loc,
                     const struct vhdx_header *child_header, const struct vhdx_metadata *child_meta,
                     unsigned flags, int depth, const struct vhdx_chain *self, struct vhdx_report *rep,
                     struct vhdx_image **ret);
int vhdx_image_open_fd_depth(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                             const struct vhdx_chain *below, struct vc_problems *problems, struct vhdx_image **ret);
