/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image-format seam: one table per format (in the spirit of qemu's
 * BlockDriver and e2fsprogs' io_manager), and the generic handle every
 * front end holds (the plugin, vhdctl, the worker, the analysis and the
 * compaction).  Nothing outside a format's own folder (lib/vhd/, later
 * lib/vhdx/) knows its structures; front ends see a virtual disk of some
 * size, a map of equal blocks each allocated or not, a describe hook they
 * render, and the format's compaction operations.
 *
 * The format is chosen by content, never by the file's name: every
 * format's probe scores the first bytes and the file size, the highest
 * score wins, a tie goes to the earlier table entry.  A format whose only
 * signature may lie at the end of the file (a fixed VHD has nothing at
 * offset 0) gives a low score to anything, so that its own parser is the
 * one that says what is wrong with a file no format recognises.
 *
 * Adding a format: its folder, a `const struct vc_image_format` at the end
 * of its table file (lib/vhd/format-vhd.c is the model), one line in
 * vc_image_formats[] (image.c), its suffixes in names.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/problem.h"
#include "open.h"

struct vc_image;

enum vc_image_open_flags {
        VC_OPEN_RDWR = 1 << 0,          /* default is read-only */
        VC_OPEN_NOLOCK = 1 << 1,        /* take no lock (the caller holds one) */
        VC_OPEN_NOPARENT = 1 << 2,      /* do not open a parent chain */
        /* With VC_OPEN_RDWR: leave trailing unreferenced space as it is
         * (finish-tail.c; the compaction, which cuts it itself). */
        VC_OPEN_NOFINISH = 1 << 3,
};

enum vc_extent_kind { VC_EXTENT_DATA = 0, VC_EXTENT_HOLE_ZERO = 1 };
typedef int (*vc_extent_fn)(uint64_t offset, uint64_t length, enum vc_extent_kind kind, void *userdata);

/*
 * What `vhdctl info` shows, told by the format: text lines (a label and a
 * value) and, separately, the members of a JSON object.  A renderer uses
 * one of the two kinds and ignores the other; the format emits both, so
 * that each reads as the format wants it (the text may round, combine or
 * add notes; the JSON keeps raw numbers).  Strings are untrusted text
 * from the disk: the renderer makes them safe.
 */
struct vc_describe {
        void (*text)(void *userdata, const char *label, const char *value);
        void (*string)(void *userdata, const char *key, const char *value);    /* NULL value: null */
        void (*number)(void *userdata, const char *key, uint64_t value);
        void (*boolean)(void *userdata, const char *key, bool value);
        void (*begin)(void *userdata, const char *key, bool array);            /* key NULL in an array */
        void (*end)(void *userdata, bool array);
        void *userdata;
};

/*
 * What compact/ and the analysis ask of a format beyond reading
 * (compact-ops.h has the layout and plan they exchange).  The core runs
 * step 6 of docs/design.md's pipeline once, in phases, and calls the
 * format at each:
 *
 *   begin    (optional) whatever must be durable before anything moves
 *   release  the dropped objects out of the format's map   ; fdatasync
 *   copy     the core's io_uring copier, (from, to, length) only ; fdatasync
 *   repoint  the map at the copies that landed              ; fdatasync
 *   finish   what the format needs at the new end (VHD: the footer) ;
 *            fdatasync ; ftruncate ; fsync
 *
 * release, repoint and finish write without syncing (the core syncs and
 * marks the crash points after them); each reports its failure with
 * vc_problem_step_failed() and its own crash points (lib/util/fault.h).
 */
struct compact_layout;
struct compact_plan;
struct vc_compact_ops {
        /* Refuses (a negative errno with one problem naming the field)
         * an image that must not be compacted: with @writing, also what
         * may be analysed but not rewritten (a saved state). */
        int (*refuse)(struct vc_image *img, bool writing, struct vc_problems *problems);
        /* Whether the file at @path (opened through @ctx) is a child of
         * @img that reads through it: 1 yes, 0 certainly not (gone, not
         * a disk of this format, another's child), or a negative errno
         * with a problem when it cannot be told (fail closed). */
        int (*child_of)(struct vc_image *img, const char *path, const struct vc_open_ctx *ctx,
                        struct vc_problems *problems);
        /* The image's layout (compact-ops.h: objects of one size or of
         * size classes, fixed regions below fixed_end and anywhere else);
         * with @copy, ret->at is the caller's to free (and to change: the
         * commit ops below keep it current), else it is the image's own,
         * valid while the image is open and unwritten.  ret->cls and
         * ret->fixed are always the image's own. */
        int (*layout)(struct vc_image *img, bool copy, struct compact_layout *ret);
        /* (optional) After the blocks' drops are decided (drop[] of
         * every object of @l, the blocks' set): marks the format's own
         * objects after the blocks that those drops free (VHDX: a sector
         * bitmap no partially present block needs).  NULL: they stay. */
        void (*own_drops)(struct vc_image *img, const struct compact_layout *l, uint8_t *drop);
        /* Right before the first write: is the file still the one @l was
         * made from?  0, or -ESTALE with a file-changed problem. */
        int (*verify_unchanged)(struct vc_image *img, const struct compact_layout *l,
                                struct vc_problems *problems);
        /* What a dropped object uncovers, when not zeros: the virtual
         * bytes below the image (a parent's), of below_size bytes (0:
         * zeros), read with read_below. */
        uint64_t (*below_size)(struct vc_image *img);
        int (*read_below)(struct vc_image *img, void *buf, size_t count, uint64_t offset);
        /* A block that reads exactly as what lies below it goes too, as a
         * zero drop (content-neutral), in modes zero and full (VHDX: the
         * specification's "sector stability"; VHD keeps such blocks). */
        bool drop_same_as_below;
        int (*begin)(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems);
        int (*release)(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                       struct vc_problems *problems);
        /* Moves [first, end) of @p whose landed[] is set (each move says
         * its object, from, to and length). */
        int (*repoint)(struct vc_image *img, struct compact_layout *l, const struct compact_plan *p,
                       uint32_t first, uint32_t end, const bool *landed, struct vc_problems *problems);
        int (*finish)(struct vc_image *img, const struct compact_plan *p, struct vc_problems *problems);

        /* (optional) Finishing on open (lib/image/finish-tail.c): where
         * the file may end, given everything the image uses, the format's
         * tail included (VHD: the footer after the last block or the
         * metadata; VHDX: the MiB-aligned end of every region, block and
         * soft anchor); the file's size when there is nothing to cut, or
         * a negative errno (with a debug line saying why) when the file
         * holds what the format cannot account for: then nothing is cut. */
        int (*tail_end)(struct vc_image *img, uint64_t *ret_end);
        /* What the file cut at @end relies on, written without syncing
         * (the caller syncs, then cuts): VHD the footer at @end - 512
         * when it is not there already; VHDX a new FileWriteGuid and no
         * log in both header slots. */
        int (*tail_prepare)(struct vc_image *img, uint64_t end, struct vc_problems *problems);
};

struct vc_image_format {
        const char *name;                       /* "vhd" */
        const char *const *suffixes;            /* ".vhd", ".avhd": names.c */
        /* A score 0..100 from the first @len bytes (maybe fewer than asked,
         * maybe none) and the file size; 0: not this format. */
        int (*probe)(const uint8_t *head, size_t len, uint64_t file_size);
        /* Opens and validates the image on @fd (taken over: closed on
         * failure too); *ret_priv on success only. */
        int (*open)(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                    struct vc_problems *problems, void **ret_priv);
        void (*close)(void *priv);
        /* Every problem at once, in collect mode; fd taken over.  0 clean,
         * 1 problems found, <0 cannot be read at all. */
        int (*check)(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems);

        int (*pread)(void *priv, void *buf, size_t count, uint64_t offset);
        int (*pwrite)(void *priv, const void *buf, size_t count, uint64_t offset);
        int (*zero)(void *priv, size_t count, uint64_t offset);
        int (*trim)(void *priv, size_t count, uint64_t offset);
        int (*flush)(void *priv);
        int (*extents)(void *priv, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata);
        /* (optional) Hints the file ranges (the parent's too) of a virtual
         * range to the kernel (POSIX_FADV_WILLNEED): read-ahead of the
         * virtual disk, prefetch.h.  Returns the hints issued. */
        unsigned (*willneed)(void *priv, uint64_t offset, uint64_t count);

        int (*fd)(void *priv);                  /* the image file, held while open */
        uint64_t (*virtual_size)(void *priv);
        uint64_t (*file_size)(void *priv);
        uint32_t (*logical_sector_size)(void *priv);
        /* The block map: n_blocks blocks of block_size virtual bytes, each
         * taking block_file_bytes of the file when allocated (0 blocks: the
         * format allocates nothing, a fixed disk). */
        uint32_t (*n_blocks)(void *priv);
        uint32_t (*block_size)(void *priv);
        uint64_t (*block_file_bytes)(void *priv);
        bool (*block_allocated)(void *priv, uint32_t block);
        uint32_t (*blocks_allocated)(void *priv);      /* all at once: one pass over the map */
        /* The kind of disk in a word ("dynamic"), for one-line summaries. */
        const char *(*kind)(void *priv);
        void (*describe)(void *priv, const struct vc_describe *d);

        const struct vc_compact_ops *compact;   /* NULL: never compacted */
};

/* The formats, in probe order, NULL-terminated. */
extern const struct vc_image_format *const vc_image_formats[];

/* Opens path as ctx says (NULL: by name, open(2)); *ret on success only.
 * With VC_OPEN_RDWR, under our exclusive lock (not with VC_OPEN_NOLOCK)
 * and without VC_OPEN_NOFINISH, first finishes what an interrupted
 * compaction left: trailing unreferenced space is cut (finish-tail.c).
 * The same checks of the caller's descriptor as the formats make: -EINVAL
 * without a path, -EBADF for a descriptor that is not open. */
int vc_image_open(const char *path, const struct vc_open_ctx *ctx, unsigned flags, struct vc_problems *problems,
                  struct vc_image **ret);
struct vc_image *vc_image_free(struct vc_image *img);
static inline void vc_image_freep(struct vc_image **p) { vc_image_free(*p); }
/* finish-tail.c: cuts the trailing unreferenced space of img, open
 * read-write under its exclusive lock: 1 when the file was cut (img's
 * format state then describes the longer file: vc_image_open() opens it
 * again), 0 when there was nothing to cut or it was left (not understood,
 * not a regular file), or a negative errno with a problem (the image is
 * valid either way: a later open tries again). */
int vc_image_finish_tail(struct vc_image *img, struct vc_problems *problems);
/* vhdctl check: every problem, collected (see the check op). */
int vc_image_check(const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems);

const struct vc_image_format *vc_image_format(const struct vc_image *img);
/* The format's own object, for its compaction ops and its tests. */
void *vc_image_priv(const struct vc_image *img);
const char *vc_image_path(const struct vc_image *img);
/* The descriptor of the image file (held for the image's life). */
int vc_image_fd(const struct vc_image *img);
bool vc_image_is_readonly(const struct vc_image *img);

/* A read that continues a sequential stream hints what follows it
 * (prefetch.h); what it reads never depends on that. */
int vc_image_pread(struct vc_image *img, void *buf, size_t count, uint64_t offset);
/* The read-ahead hints issued so far (posix_fadvise calls), for tests. */
uint64_t vc_image_prefetch_hints(const struct vc_image *img);
int vc_image_pwrite(struct vc_image *img, const void *buf, size_t count, uint64_t offset);
int vc_image_zero(struct vc_image *img, size_t count, uint64_t offset);
int vc_image_trim(struct vc_image *img, size_t count, uint64_t offset);
int vc_image_flush(struct vc_image *img);
int vc_image_extents(struct vc_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata);

uint64_t vc_image_virtual_size(const struct vc_image *img);
uint64_t vc_image_file_size(const struct vc_image *img);
uint32_t vc_image_logical_sector_size(const struct vc_image *img);
uint32_t vc_image_n_blocks(const struct vc_image *img);
uint32_t vc_image_block_size(const struct vc_image *img);
uint64_t vc_image_block_file_bytes(const struct vc_image *img);
bool vc_image_block_allocated(const struct vc_image *img, uint32_t block);
uint32_t vc_image_blocks_allocated(const struct vc_image *img);
const char *vc_image_kind(const struct vc_image *img);
void vc_image_describe(const struct vc_image *img, const struct vc_describe *d);
