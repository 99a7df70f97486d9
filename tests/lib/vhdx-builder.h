/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Building VHDX images in memory for the tests, written from the
 * specification ([MS-VHDX] as summarised in VHDX.md) and from nothing in
 * lib/: it is the independent writer the engine's reader (lib/vhdx/) is
 * checked against, and it is itself checked against 7-Zip, libvhdi and
 * qemu (tests/integration/test-vhdx-builder.sh), so that neither side is
 * tested only against itself.  Not even CRC-32C is shared: the builder has
 * its own (vxb_crc32c, with the check value pinned by test-vhdx-builder.c).
 *
 * Layout, every object on a 1 MiB boundary:
 *
 *   [0: file identifier][64K: header 1][128K: header 2]
 *   [192K: region table 1][256K: region table 2]
 *   [1 MiB: log (log_size)][metadata region (1 MiB)][BAT region (MiB-rounded)]
 *   [extra regions, SB blocks and payload blocks, in the order they were added]
 *
 * (qemu puts the BAT before the metadata and leaves a 4 MiB gap; openvmm
 * puts the metadata first, as here.  Readers must not care.)
 *
 * The builder keeps a model of what each payload block holds (its state and
 * where the builder put its data) and of the chunks' SB blocks, separate
 * from the BAT bytes, so that the expected virtual disk (vxb_expected_read)
 * does not depend on the BAT index formula it wrote with, and a poke of a
 * BAT entry does not change what the test expects.  Block data is the
 * pattern of a seed at the block's virtual offsets (vxb_pattern_byte), as
 * in vhd-builder.h.
 *
 * The log: vxb_log_begin() snapshots the image; the changes that follow
 * (allocations, states, SB bits) are then moved into log entries by
 * vxb_log_commit(), one entry per call, in one sequence: the changed 4 KiB
 * pages of the BAT and of SB blocks become data descriptors, and the pages
 * in place go back to their old bytes (unless VXB_LOG_APPLIED), as after a
 * crash between "log entry durable" and "pages written in place".  Payload
 * stays where it was written (payload is never logged).  The header then
 * names the log's GUID.  Two expected views follow: VXB_VIEW_REPLAYED (what
 * a reader that replays the log must show) and VXB_VIEW_IN_PLACE (what a
 * reader that ignores the log shows: libvhdi).
 *
 * Checksums (both headers, both region tables, log entries) are kept right
 * by every structural call; the poke helpers say whether they fix them.
 * Every function aborts the test on misuse or allocation failure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXB_MIB (1u << 20)
#define VXB_KIB 1024u

/* File layout (VHDX.md §1.2). */
#define VXB_HEADER1_OFF (64 * VXB_KIB)
#define VXB_HEADER2_OFF (128 * VXB_KIB)
#define VXB_HEADER_SIZE 4096u
#define VXB_REGION1_OFF (192 * VXB_KIB)
#define VXB_REGION2_OFF (256 * VXB_KIB)
#define VXB_REGION_SIZE (64 * VXB_KIB)
#define VXB_META_TABLE_SIZE (64 * VXB_KIB)
#define VXB_LOG_SECTOR 4096u

/* Header fields (§1.3). */
#define VXB_HDR_SIGNATURE 0
#define VXB_HDR_CHECKSUM 4
#define VXB_HDR_SEQUENCE 8
#define VXB_HDR_FILE_WRITE_GUID 16
#define VXB_HDR_DATA_WRITE_GUID 32
#define VXB_HDR_LOG_GUID 48
#define VXB_HDR_LOG_VERSION 64
#define VXB_HDR_VERSION 66
#define VXB_HDR_LOG_LENGTH 68
#define VXB_HDR_LOG_OFFSET 72
#define VXB_HDR_RESERVED 80

/* Region table (§1.4). */
#define VXB_RT_SIGNATURE 0
#define VXB_RT_CHECKSUM 4
#define VXB_RT_ENTRY_COUNT 8
#define VXB_RT_RESERVED 12
#define VXB_RT_ENTRIES 16
#define VXB_RT_ENTRY_SIZE 32
#define VXB_RTE_GUID 0
#define VXB_RTE_OFFSET 16
#define VXB_RTE_LENGTH 24
#define VXB_RTE_REQUIRED 28

/* Metadata table (§1.5). */
#define VXB_MT_SIGNATURE 0
#define VXB_MT_RESERVED 8
#define VXB_MT_ENTRY_COUNT 10
#define VXB_MT_RESERVED2 12
#define VXB_MT_ENTRIES 32
#define VXB_MT_ENTRY_SIZE 32
#define VXB_MTE_GUID 0
#define VXB_MTE_OFFSET 16
#define VXB_MTE_LENGTH 20
#define VXB_MTE_FLAGS 24
#define VXB_META_IS_USER (1u << 0)
#define VXB_META_IS_VDISK (1u << 1)
#define VXB_META_IS_REQUIRED (1u << 2)

#define VXB_FP_LEAVE_ALLOCATED (1u << 0)
#define VXB_FP_HAS_PARENT (1u << 1)

/* Payload and SB states (§2.2, §2.3). */
enum vxb_state {
        VXB_NOT_PRESENT = 0,
        VXB_UNDEFINED = 1,
        VXB_ZERO = 2,
        VXB_UNMAPPED = 3,
        VXB_FULLY_PRESENT = 6,
        VXB_PARTIALLY_PRESENT = 7,
        VXB_SB_NOT_PRESENT = 0,
        VXB_SB_PRESENT = 6,
};

enum vxb_type { VXB_FIXED, VXB_DYNAMIC, VXB_DIFFERENCING };

/* Known GUIDs, as text (parsed by vxb_guid_parse). */
#define VXB_GUID_BAT "2DC27766-F623-4200-9D64-115E9BFD4A08"
#define VXB_GUID_METADATA "8B7CA206-4790-4B9A-B8FE-575F050F886E"
#define VXB_GUID_FILE_PARAMETERS "CAA16737-FA36-4D43-B3B6-33F0AA44E76B"
#define VXB_GUID_VIRTUAL_DISK_SIZE "2FA54224-CD1B-4876-B211-5DBED83BF4B8"
#define VXB_GUID_PAGE83 "BECA12AB-B2E6-4523-93EF-C309E000C746"
#define VXB_GUID_LOGICAL_SECTOR "8141BF1D-A96F-4709-BA47-F233A8FAAB5F"
#define VXB_GUID_PHYSICAL_SECTOR "CDA348C7-445D-4471-9CC9-E9885251C556"
#define VXB_GUID_PARENT_LOCATOR "A8D35F2D-B30B-454D-ABF7-D3D84834AB0C"
#define VXB_GUID_LOCATOR_TYPE_VHDX "B04AEFB7-D19E-4A81-B789-25B8E9445913"
#define VXB_GUID_INCOMPLETE_FILE "71CC85F0-1B69-4E28-9558-C3BF83AE75D3"

struct vxb_params {
        enum vxb_type type;
        uint64_t virtual_size;          /* bytes, a multiple of logical_sector */
        uint32_t block_size;            /* 0: 1 MiB (any power of 2, 1..256 MiB) */
        uint32_t logical_sector;        /* 0: 512 */
        uint32_t physical_sector;       /* 0: 4096 (Windows' default) */
        uint32_t log_size;              /* 0: 1 MiB */
        uint64_t seq1, seq2;            /* header sequence numbers; 0,0: 1 and 2 */
        /* dynamic/differencing: the state of a payload block never allocated
         * (0: NOT_PRESENT as Windows writes; VXB_ZERO as qemu does) */
        enum vxb_state default_state;
        /* known regions with Required = 1 (the spec) or 0 (qemu) */
        bool regions_not_required;
};

/* The model of one payload block. */
struct vxb_block {
        uint8_t state;
        uint64_t off;                   /* where the data is (0: nowhere) */
};

/* A parent as the expected view needs it: its virtual size and a reader. */
typedef void (*vxb_parent_read_fn)(void *ctx, uint64_t off, uint8_t *buf, size_t len);

struct vxb_log_desc;
struct vxb_log_private;

struct vxb_image {
        uint8_t *buf;
        size_t len;                     /* always a multiple of 1 MiB */

        struct vxb_params p;            /* with the defaults filled in */
        uint64_t n_blocks;              /* DataBlocks */
        uint64_t chunk_ratio;
        uint64_t n_chunks;              /* SBBlocks */
        uint64_t n_entries;             /* BAT entries */
        uint64_t log_off, meta_off, bat_off;
        uint32_t bat_len;
        uint8_t file_write_guid[16], data_write_guid[16], page83[16];

        struct vxb_block *blocks;       /* n_blocks */
        uint64_t *sb_off;               /* n_chunks; 0: no SB block */

        /* metadata items: packed from 64 KiB on */
        uint32_t meta_used;
        uint32_t n_meta;

        /* differencing */
        uint64_t parent_size;
        vxb_parent_read_fn parent_read;
        void *parent_ctx;

        /* the log (see the design note) */
        bool in_txn;
        uint8_t *snap;                  /* the image at vxb_log_begin */
        size_t snap_len;
        struct vxb_block *snap_blocks;
        uint64_t *snap_sb_off;
        uint8_t log_guid[16];
        uint64_t log_seq;               /* sequence number of the next entry */
        uint32_t log_head;              /* where the next entry goes */
        uint32_t log_tail;              /* the first entry of the sequence */
        uint32_t n_log_entries;
        struct vxb_log_desc *pending;   /* descriptors of the next entry */
        size_t n_pending;
        struct vxb_log_private *log;    /* committed entries (vhdx-builder.c) */
};

/* --- checksums, GUIDs, patterns --- */

/* CRC-32C (Castagnoli, reflected 0x82F63B78, init and xorout 0xFFFFFFFF);
 * continues crc over n more bytes, start with 0.  "123456789" → 0xE3069283. */
uint32_t vxb_crc32c(uint32_t crc, const void *buf, size_t n);
/* "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (braces allowed) into the on-disk
 * mixed-endian form; false when the text is not a GUID. */
bool vxb_guid_parse(const char *text, uint8_t out[16]);
/* On-disk form to "{xxxxxxxx-...}" lowercase (39 bytes with the NUL). */
void vxb_guid_format(const uint8_t g[16], char out[39]);
/* A fresh non-zero GUID, different on each call (deterministic per process). */
void vxb_guid_new(uint8_t out[16]);
/* Makes the GUIDs a function of seed and the call count instead of the
 * process id: two builds with one seed are byte-identical. */
void vxb_guid_seed(uint32_t seed);

uint8_t vxb_pattern_byte(uint8_t seed, uint64_t voff);
void vxb_pattern_fill(uint8_t *buf, size_t len, uint8_t seed, uint64_t voff);
/* The sector rule of vxb_alloc_partial: sector s of the disk present iff s % 3 != 1. */
bool vxb_partial_bit(uint64_t sector);

/* --- building --- */

/* A fixed (every block FULLY_PRESENT, zeros, LeaveBlockAllocated), dynamic
 * or differencing image.  A differencing image needs vxb_set_parent*(). */
struct vxb_image *vxb_new(const struct vxb_params *p);
struct vxb_image *vxb_free(struct vxb_image *img);
static inline void vxb_freep(struct vxb_image **p) { vxb_free(*p); }
#define _cleanup_vxb_ __attribute__((cleanup(vxb_freep)))

/* BAT indices (§2.1) and the raw entries. */
uint64_t vxb_bat_index(const struct vxb_image *img, uint64_t blk);
uint64_t vxb_sb_index(const struct vxb_image *img, uint64_t chunk);
uint64_t vxb_bat_get(const struct vxb_image *img, uint64_t index);
void vxb_bat_set(struct vxb_image *img, uint64_t index, uint64_t entry);

/* Grows the file by len bytes (a multiple of 1 MiB) of zeros at its end. */
uint64_t vxb_append(struct vxb_image *img, uint64_t len);
/* Block blk becomes FULLY_PRESENT in a new extent at the end of the file
 * (fixed: the block it has), filled with the pattern of seed (seed < 0:
 * zeros).  Returns the block's file offset. */
uint64_t vxb_alloc_block(struct vxb_image *img, uint64_t blk, int seed);
/* Differencing only: block blk becomes PARTIALLY_PRESENT, its data the
 * pattern of seed, its bits vxb_partial_bit (the chunk's SB block is
 * allocated first when it has none). */
uint64_t vxb_alloc_partial(struct vxb_image *img, uint64_t blk, uint8_t seed);
/* Differencing only: chunk's SB block (all bits 0) if it has none; its offset. */
uint64_t vxb_alloc_sb(struct vxb_image *img, uint64_t chunk);
void vxb_set_sector_bit(struct vxb_image *img, uint64_t sector, bool on);
/* Any state with any offset (soft anchors, reserved states, offsets in
 * state 0/2 for corruption tests): the BAT entry and the model. */
void vxb_set_state(struct vxb_image *img, uint64_t blk, unsigned state, uint64_t off);
/* Pointer to the data of an allocated block. */
uint8_t *vxb_block_data(struct vxb_image *img, uint64_t blk);

/* An extra region (len bytes, a MiB multiple) at the end of the file, in
 * both region tables.  Returns its offset. */
uint64_t vxb_add_region(struct vxb_image *img, const char *guid, uint32_t len, bool required);
/* An extra metadata item (flags: VXB_META_*). */
void vxb_add_metadata(struct vxb_image *img, const char *guid, const void *data, uint32_t len,
                      uint32_t flags);
/* The offset of the metadata table entry of guid (0: none). */
uint64_t vxb_metadata_entry(const struct vxb_image *img, const char *guid);
/* The file offset of item guid's data (0: none). */
uint64_t vxb_metadata_item(const struct vxb_image *img, const char *guid);

/* Differencing: a parent locator with the given keys (NULL: left out) and
 * parent_linkage = linkage, HasParent; reads below the child go to read(). */
void vxb_set_parent(struct vxb_image *img, const uint8_t linkage[16], const char *relative_path,
                    const char *volume_path, const char *absolute_win32_path,
                    uint64_t parent_size, vxb_parent_read_fn read, void *ctx);
/* The same for a parent built here and written at parent_path (a Linux
 * path): linkage = its DataWriteGuid, relative_path its basename,
 * absolute_win32_path "C:" + the path with '\', volume_path
 * "\\?\Volume{guid}" + the same.  The parent must outlive img. */
void vxb_set_parent_image(struct vxb_image *img, struct vxb_image *parent,
                          const char *parent_path);

/* --- the log --- */

enum vxb_log_flags {
        VXB_LOG_APPLIED = 1 << 0,       /* leave the new pages in place too */
        VXB_LOG_BOTH_HEADERS = 1 << 1,  /* name the log GUID in both headers */
};
void vxb_log_begin(struct vxb_image *img);
/* A zero descriptor (offset and length 4 KiB multiples) in the next entry;
 * the replayed view zeroes that range of the file. */
void vxb_log_add_zero(struct vxb_image *img, uint64_t file_off, uint64_t len);
/* A data descriptor writing page (4 KiB) at file_off in the next entry. */
void vxb_log_add_data(struct vxb_image *img, uint64_t file_off, const uint8_t *page);
/* Writes one entry with what changed since vxb_log_begin or the previous
 * commit, and the pending descriptors.  Returns the entry's log offset. */
uint32_t vxb_log_commit(struct vxb_image *img, unsigned flags);

/* --- expected content --- */

enum vxb_view { VXB_VIEW_REPLAYED, VXB_VIEW_IN_PLACE };
/* What the virtual disk reads at [off, off+len) by the spec (ZERO,
 * UNMAPPED, UNDEFINED: zeros; NOT_PRESENT: the parent in a differencing
 * image, zeros otherwise). */
void vxb_expected_read(struct vxb_image *img, enum vxb_view view, uint64_t off, uint8_t *buf,
                       size_t len);
/* Writes the whole expected virtual disk (sparse). */
void vxb_write_expected(struct vxb_image *img, enum vxb_view view, const char *path);
/* Writes the image (sparse). */
void vxb_write_file(const struct vxb_image *img, const char *path);

/* --- pokes, for corruption tests --- */

enum vxb_poke_flags {
        VXB_FIX_CHECKSUM = 0,
        VXB_KEEP_CHECKSUM = 1 << 0,
};
void vxb_put_bytes(struct vxb_image *img, uint64_t off, const void *p, size_t n);
void vxb_put_le16(struct vxb_image *img, uint64_t off, uint16_t v);
void vxb_put_le32(struct vxb_image *img, uint64_t off, uint32_t v);
void vxb_put_le64(struct vxb_image *img, uint64_t off, uint64_t v);
/* which: 1 or 2; field: offset inside the structure. */
void vxb_header_put(struct vxb_image *img, int which, size_t field, const void *p, size_t n,
                    unsigned flags);
void vxb_region_put(struct vxb_image *img, int which, size_t field, const void *p, size_t n,
                    unsigned flags);
void vxb_fix_checksums(struct vxb_image *img);
/* The current header (1 or 2: the higher sequence number). */
int vxb_current_header(const struct vxb_image *img);
/* Offset of the region table entry of guid in table which (0: none). */
uint64_t vxb_region_entry(const struct vxb_image *img, int which, const char *guid);

/* --- the corruption table --- */

/* One trap of VHDX.md §5: how to make it, and the problem id proposed for
 * the engine (lib/vhdx/ names its own; these are proposals).  apply()
 * returns the absolute offset of the damaged field.  needs: what the base
 * image must have. */
enum vxb_needs {
        VXB_NEEDS_ANY = 0,
        VXB_NEEDS_BLOCKS = 1 << 0,      /* blocks 0 and 1 FULLY_PRESENT */
        VXB_NEEDS_DIFF = 1 << 1,        /* differencing, block 2 PARTIALLY_PRESENT */
        VXB_NEEDS_LOG = 1 << 2,         /* a non-empty log of one entry */
};
struct vxb_corruption {
        const char *name;               /* for mkvhdx --corrupt */
        const char *section;            /* VHDX.md §5 item */
        const char *what;
        const char *problem;            /* proposed problem id */
        const char *field;              /* proposed field name */
        unsigned needs;
        uint64_t (*apply)(struct vxb_image *img);
};
extern const struct vxb_corruption vxb_corruptions[];
extern const size_t vxb_n_corruptions;
const struct vxb_corruption *vxb_corruption_find(const char *name);
