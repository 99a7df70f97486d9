/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pieces of the NTFS scanner, one concept per file:
 *
 *   ntfs-boot.c     boot sector -> geometry (struct ntfs_boot)
 *   ntfs-runlist.c  mapping pairs -> runs (struct ntfs_runlist)
 *   ntfs-mft.c      multi-sector fixups, reading blocks through a runlist,
 *                   reading and checking MFT records
 *   ntfs-attr.c     attribute walk inside one record, and whole streams
 *                   (all extents, via $ATTRIBUTE_LIST) of one file
 *   ntfs-index.c    $I30 lookup of one name in a directory (for hiberfil.sys)
 *   ntfs-clean.c    $Volume flags, $LogFile restart area, hibernation
 *   ntfs-bitmap.c   the word-at-a-time walk of $Bitmap bits -> free runs
 *   ntfs.c          ntfs_scan(): the order of the above and the merge
 *
 * Conventions: every function taking a struct vc_problems reports the first
 * problem it finds with the field name and its absolute offset on the
 * virtual disk, and returns its negative errno.  Outputs named ret_* are
 * written only on success; runlists appended to are restored on failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../source.h"
#include "../util/problem.h"
#include "../util/span.h"
#include "ntfs-format.h"

/* ---- boot sector ---------------------------------------------------------- */

struct ntfs_boot {
        uint32_t bytes_per_sector;
        uint32_t cluster_size;          /* power of two, 512 .. 2 MiB */
        uint32_t cluster_shift;
        uint32_t mft_record_size;       /* power of two, 512 .. 4096 */
        uint32_t index_block_size;
        uint64_t total_sectors;
        uint64_t total_clusters;        /* = bits of $Bitmap that count */
        uint64_t mft_lcn, mftmirr_lcn;
        uint64_t serial;
};

/*
 * ntfs_boot_parse - validate an NTFS boot sector
 * @sector:     the first 512 bytes of the partition (untrusted)
 * @part_start: absolute offset of the partition (for problem offsets)
 * @limit:      bytes the volume may occupy (partition size, clipped to the disk)
 *
 * Returns 0 and fills @ret, or -EBADMSG / -EOPNOTSUPP with a problem
 * "ntfs.boot.<field>" at part_start + field offset.
 */
int ntfs_boot_parse(const uint8_t sector[NTFS_BOOT_SIZE], uint64_t part_start, uint64_t limit,
                    struct ntfs_boot *ret, struct vc_problems *problems);

/* ---- runlists ------------------------------------------------------------- */

#define NTFS_LCN_HOLE UINT64_MAX        /* a sparse run: no clusters, reads zeros */

struct ntfs_run {
        uint64_t vcn, lcn, len;         /* len > 0 clusters; lcn NTFS_LCN_HOLE when sparse */
};

/* Runs in ascending, gap-free VCN order starting at VCN 0 (or at the first
 * extent's lowest VCN while being built). */
struct ntfs_runlist {
        struct ntfs_run *v;
        size_t n, cap;
};

/*
 * ntfs_runlist_decode - append the runs of one attribute extent
 * @mp:             the mapping pairs bytes (untrusted; the span ends at the
 *                  end of the attribute record)
 * @lowest_vcn:     the extent's first VCN; must continue @rl exactly
 * @highest_vcn:    its last VCN (lowest_vcn - 1 for an empty extent)
 * @total_clusters: every LCN must lie in [0, total_clusters)
 * @disk_off:       absolute offset of mp[0] (for problems)
 *
 * Checks: header nibbles (length 1..8 bytes, delta 0..8), lengths > 0 and
 * not negative, signed LCN deltas without overflow, every run inside the
 * volume, no VCN overflow, the terminator inside @mp, and the runs ending
 * exactly at highest_vcn + 1.  On failure @rl is left as it was.
 */
int ntfs_runlist_decode(struct ntfs_runlist *rl, const struct span *mp, uint64_t lowest_vcn,
                        uint64_t highest_vcn, uint64_t total_clusters, uint64_t disk_off,
                        struct vc_problems *problems);

/* First VCN after the last run (0 when empty). */
uint64_t ntfs_runlist_vcn_end(const struct ntfs_runlist *rl);
/* The run holding @vcn, or NULL. */
const struct ntfs_run *ntfs_runlist_lookup(const struct ntfs_runlist *rl, uint64_t vcn);
/* Clusters in non-sparse runs. */
uint64_t ntfs_runlist_allocated(const struct ntfs_runlist *rl);
/* Appends one run (merging with the previous one when contiguous). */
int ntfs_runlist_append(struct ntfs_runlist *rl, uint64_t vcn, uint64_t lcn, uint64_t len);
void ntfs_runlist_truncate(struct ntfs_runlist *rl, size_t n);
void ntfs_runlist_done(struct ntfs_runlist *rl);

/* ---- blocks, fixups, MFT records ---------------------------------------- */

#define NTFS_MAX_BLOCK (64u << 10)
#define NTFS_MAX_STRIDES (NTFS_MAX_BLOCK / NTFS_FIXUP_STRIDE)

/*
 * A multi-sector protected block (MFT record, INDX record, restart page) in
 * memory, with the absolute disk offset of each 512-byte stride, so that a
 * problem in the block can name where on the disk the field is even when
 * the block spans clusters that are not contiguous.
 */
struct ntfs_block {
        uint8_t *p;
        uint32_t size;                  /* multiple of 512, <= NTFS_MAX_BLOCK */
        uint64_t where[NTFS_MAX_STRIDES];
};

static inline uint64_t ntfs_block_where(const struct ntfs_block *b, uint64_t off)
{
        if (off >= b->size)
                off = b->size ? b->size - 1 : 0;
        return b->where[off / NTFS_FIXUP_STRIDE] + off % NTFS_FIXUP_STRIDE;
}

enum ntfs_fixup_kind {
        NTFS_FIXUP_MFT,
        NTFS_FIXUP_INDX,
        NTFS_FIXUP_RSTR,
        _NTFS_FIXUP_KIND_MAX,
};

/*
 * ntfs_fixup_apply - undo the multi-sector transfer protection of a block
 *
 * Checks the update sequence array (offset even, not overlapping the
 * header, count == 1 + size/512, inside the first stride before byte 510),
 * then for every stride checks that its last two bytes hold the update
 * sequence number and puts back the saved bytes - only once every stride
 * has been verified.  On failure returns -EBADMSG with a problem
 * "ntfs.<kind>.usa_offset|usa_count|fixup" and leaves the block untouched.
 */
int ntfs_fixup_apply(struct ntfs_block *b, enum ntfs_fixup_kind kind, struct vc_problems *problems);

struct ntfs_volume {
        struct vc_source *src;
        uint64_t part_start;
        struct ntfs_boot boot;
        struct ntfs_runlist mft_rl;     /* $MFT's $DATA; partial while being built */
        uint64_t mft_valid;             /* bytes of $MFT holding records (initialized size) */
        struct vc_problems *problems;
        uint16_t *upcase;               /* $UpCase, loaded lazily by the index lookup */
        struct ntfs_runlist used;       /* metadata clusters we read: must not be free */
};

void ntfs_volume_done(struct ntfs_volume *v);

/* Absolute disk offset of a cluster (the LCN was checked at decode time). */
static inline uint64_t ntfs_lcn_offset(const struct ntfs_volume *v, uint64_t lcn)
{
        return v->part_start + (lcn << v->boot.cluster_shift);
}

/* Reads exactly @count bytes at absolute @offset; -EIO with a VC_PROBLEM_IO
 * naming @field otherwise. */
int ntfs_read(struct ntfs_volume *v, void *buf, size_t count, uint64_t offset, const char *field);

/*
 * ntfs_read_block - read b->size bytes of a non-resident stream at byte
 * @pos (a multiple of 512) through @rl into b->p, filling b->where.  Every
 * cluster must be mapped and not sparse (-EBADMSG otherwise, problem @field
 * at @field_off).
 */
int ntfs_read_block(struct ntfs_volume *v, const struct ntfs_runlist *rl, uint64_t pos,
                    struct ntfs_block *b, const char *field, uint64_t field_off);

struct ntfs_record {
        uint8_t buf[NTFS_MAX_RECORD_SIZE];
        struct ntfs_block blk;          /* blk.p == buf */
        uint64_t recno;
        uint16_t seq, flags;
        uint64_t base_ref;
        uint32_t attrs_offset, bytes_used;
};

/*
 * ntfs_mft_read - read MFT record @recno through v->mft_rl and check it
 *
 * Applies the fixups and checks the header: magic "FILE" ("BAAD" is
 * reported as such), bytes allocated == record size, bytes used within the
 * record, first attribute after the USA, 8-byte aligned, and (NTFS 3.1)
 * the stored record number.  A record beyond the initialized part of $MFT,
 * or in a part of $MFT not mapped yet, is corrupt.  Does not require the
 * in-use flag: callers decide.
 */
int ntfs_mft_read(struct ntfs_volume *v, uint64_t recno, struct ntfs_record *rec);

/* A system file's base record: in use, not an extension, and named @name
 * in the root directory (checked through its $FILE_NAME; problem @field). */
int ntfs_mft_read_system(struct ntfs_volume *v, uint64_t recno, const char *name,
                         const char *field, struct ntfs_record *rec);

/* ---- attributes and streams --------------------------------------------- */

struct ntfs_attr {
        uint32_t offset;                /* in the record */
        uint32_t type, length;
        bool non_resident;
        uint8_t name_length;
        uint16_t flags, id;
        struct span name;               /* UTF-16LE, name_length units */
        /* resident */
        struct span value;
        uint32_t value_offset;
        /* non-resident */
        uint64_t lowest_vcn, highest_vcn;
        uint64_t allocated_size, data_size, initialized_size;
        struct span mapping_pairs;
        uint32_t mapping_pairs_offset;
};

/*
 * ntfs_attr_next - the attribute at *cursor (0 = start), bounds-checked
 *
 * Returns 1 and advances *cursor, 0 at the end marker, or -EBADMSG with a
 * problem "ntfs.attr.<field>".
 */
int ntfs_attr_next(const struct ntfs_record *rec, uint32_t *cursor, struct ntfs_attr *ret,
                   struct vc_problems *problems);

/* Name equality with an ASCII string ("" or NULL = unnamed), exact case. */
bool ntfs_attr_name_is(const struct ntfs_attr *a, const char *ascii);

/* The first attribute of @type named @name; also with @lowest_vcn when it is
 * not UINT64_MAX (non-resident extents only).  1 found, 0 absent, < 0. */
int ntfs_attr_find(const struct ntfs_record *rec, uint32_t type, const char *name,
                   uint64_t lowest_vcn, struct ntfs_attr *ret, struct vc_problems *problems);

/* Absolute disk offset of byte @off of attribute @a in @rec. */
static inline uint64_t ntfs_attr_where(const struct ntfs_record *rec, const struct ntfs_attr *a,
                                       uint32_t off)
{
        return ntfs_block_where(&rec->blk, (uint64_t) a->offset + off);
}

/*
 * ntfs_file_for_each - call @cb for every attribute of @type of a file
 * @base: the file's base record
 *
 * Looks in @base, or, when it has an $ATTRIBUTE_LIST, at every list entry
 * of @type (in list order), reading and checking the extension records they
 * name (in use, base reference = @base, no list of their own, matching
 * sequence, attribute with the entry's id present).  @cb returns 0 to go
 * on, > 0 to stop (returned), < 0 to fail (returned).  The record passed
 * to @cb is valid only during the call.
 */
typedef int (*ntfs_attr_cb)(void *ctx, const struct ntfs_record *rec, const struct ntfs_attr *a);
int ntfs_file_for_each(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                       const char *what, ntfs_attr_cb cb, void *ctx);

/*
 * ntfs_file_find_attr - the attribute (@type, @name; resident or first
 * extent) of a file, in its base record or via its attribute list.  When it
 * lives in an extension record, that record is copied to @keep and
 * *ret_rec points there.  1 found, 0 absent, < 0.
 */
int ntfs_file_find_attr(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                        const char *name, struct ntfs_record *keep,
                        const struct ntfs_record **ret_rec, struct ntfs_attr *ret);

/*
 * Checks that one of the file's $FILE_NAME attributes is @name (exact) in
 * directory @parent.  -EBADMSG with problem @field otherwise.
 */
int ntfs_record_check_name(struct ntfs_volume *v, const struct ntfs_record *rec, const char *name,
                           uint64_t parent, const char *field);

/* A whole attribute stream of one file: every extent, in VCN order. */
struct ntfs_stream {
        bool resident;
        uint16_t flags;                 /* NTFS_ATTR_FLAG_* of the first extent */
        uint64_t allocated_size, data_size, initialized_size;
        uint8_t *value;                 /* resident: a copy of the value (data_size bytes) */
        struct ntfs_runlist rl;         /* non-resident: all runs, VCN 0 .. allocated/cluster */
        uint64_t attr_where;            /* disk offset of the first extent's header */
        uint64_t data_size_where;       /* disk offset of its data-size field */
        uint32_t extents;
};

/*
 * ntfs_stream_open - collect one attribute stream of the file in @base
 * @base:  a base MFT record (base_ref 0), already read
 * @type:  attribute type
 * @name:  ASCII name, "" for the unnamed stream
 * @what:  the stream's name for messages, e.g. "$Bitmap"
 * @rl:    where to build the runlist; NULL = ret->rl.  $MFT passes
 *         &v->mft_rl (emptied first) so that its own extension records
 *         can be read through the extents already decoded; v->mft_valid
 *         then follows the first extent's initialized size.
 *
 * Without $ATTRIBUTE_LIST the stream is the one attribute in @base.  With
 * one, every list entry of @type and @name is followed, in VCN order: the
 * referenced record is read and must be in use, have @base as its base
 * record (number and sequence), hold no attribute list of its own, and
 * hold the attribute with the entry's id and starting VCN; each extent must
 * continue the previous one exactly.  Duplicates, gaps, loops and more than
 * NTFS_MAX_EXTENTS extents are corruption.  The runs must add up to
 * allocated_size / cluster_size, and initialized <= data <= allocated.
 *
 * Returns 1 (found), 0 (no such attribute), or < 0 with a problem.
 */
int ntfs_stream_open(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                     const char *name, const char *what, struct ntfs_runlist *rl,
                     struct ntfs_stream *ret);
void ntfs_stream_done(struct ntfs_stream *s);

/*
 * ntfs_stream_pread - read @count bytes of a stream at byte @pos
 *
 * Bytes at or beyond initialized_size read as zeros, as do sparse runs.
 * Reading beyond data_size is -EBADMSG (problem @field at the stream's
 * data-size field).  A non-resident stream read uses s->rl.
 */
int ntfs_stream_pread(struct ntfs_volume *v, const struct ntfs_stream *s, void *buf,
                      size_t count, uint64_t pos, const char *field);

/* Records the non-sparse runs of @rl as metadata that must be marked used. */
int ntfs_volume_note_used(struct ntfs_volume *v, const struct ntfs_runlist *rl);
int ntfs_volume_note_used_range(struct ntfs_volume *v, uint64_t lcn, uint64_t len);

/* ---- directory index (ntfs-index.c) ------------------------------------- */

/*
 * ntfs_index_lookup - find @name in the $I30 index of directory @dir
 *
 * Descends the B-tree ($INDEX_ROOT, then INDX records of
 * $INDEX_ALLOCATION, each fixed up and checked) comparing names
 * case-insensitively the way NTFS collates them: ASCII is folded directly;
 * a comparison that involves a non-ASCII character loads $UpCase.
 * Returns 1 with *ret_mref, 0 when the name is not in the directory, or
 * < 0 with a problem when the index cannot be read or understood.
 */
int ntfs_index_lookup(struct ntfs_volume *v, const struct ntfs_record *dir, const char *name,
                      uint64_t *ret_mref);

/* ---- clean-shutdown checks (ntfs-clean.c) ------------------------------- */

struct ntfs_state {
        uint8_t major, minor;
        uint16_t volume_flags;
        char label[128];
        bool clean;
        char reason[160];               /* the first reason found */
        const char *reason_field;       /* for the VC_PROBLEM_FS_DIRTY problem */
        uint64_t reason_where;
};

/* $Volume: version (supported: 1.2, 3.0, 3.1), label, dirty and chkdsk
 * flags.  < 0 only when record 3 itself is unreadable or corrupt. */
int ntfs_check_volume(struct ntfs_volume *v, struct ntfs_state *st);
/* $LogFile: restart pages; anything not understood marks the state not
 * clean.  < 0 only when record 2 or its runlist is corrupt. */
int ntfs_check_logfile(struct ntfs_volume *v, struct ntfs_state *st);
/* hiberfil.sys in the root: "hibr"/"HIBR" -> not clean.  A lookup that
 * fails marks the state not clean ("cannot determine"); < 0 only on
 * allocation failure or a corrupt root record. */
int ntfs_check_hiberfil(struct ntfs_volume *v, struct ntfs_state *st);

/* ---- bitmap walk (ntfs-bitmap.c) ---------------------------------------- */

/*
 * A streaming walk over $Bitmap bits.  Feed the bits of consecutive
 * clusters in chunks of any size; each maximal run of clear bits (free
 * clusters) is passed to emit() once, in ascending order, even when it
 * spans chunks.  Bits are LSB-first: cluster i is bit (i & 7) of byte
 * i >> 3.  The caller feeds exactly total_clusters bits, so the padding bits
 * after the last cluster are never seen.
 */
struct ntfs_bitmap_walk {
        uint64_t next;                  /* cluster of the next bit fed */
        uint64_t run_start;             /* start of the open free run, or UINT64_MAX */
        uint64_t free;                  /* clear bits seen so far */
        int (*emit)(void *ctx, uint64_t lcn, uint64_t count);
        void *ctx;
};

void ntfs_bitmap_walk_init(struct ntfs_bitmap_walk *w,
                           int (*emit)(void *ctx, uint64_t lcn, uint64_t count), void *ctx);
/* Feeds @nbits bits starting at bit 0 of @bits (ceil(nbits/8) bytes are
 * read).  Returns 0 or the first negative value emit() returned. */
int ntfs_bitmap_walk_feed(struct ntfs_bitmap_walk *w, const uint8_t *bits, uint64_t nbits);
/* Emits the run still open at the end. */
int ntfs_bitmap_walk_finish(struct ntfs_bitmap_walk *w);

/* Index of the first bit >= @from in [0, nbits) equal to @set, or nbits. */
uint64_t ntfs_bitmap_find(const uint8_t *bits, uint64_t nbits, uint64_t from, bool set);
