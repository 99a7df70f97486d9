/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The block allocation table.  Payload entries and sector-bitmap (SB)
 * entries are interleaved by chunk: a chunk is the chunk_ratio payload
 * blocks one 1 MiB SB block describes (2^23 sectors), and its SB entry
 * follows its payload entries, so payload block b is entry
 * b + b / chunk_ratio.  A dynamic or fixed disk's table ends with its last
 * payload entry; a differencing disk's with the SB entry of its last
 * chunk.
 *
 * Each entry: the state in bits 0-2, reserved bits 3-19 (must be 0), the
 * file offset in MiB above.  Payload states 0-3 read as zeros in a disk
 * without a parent; 6 is data at the offset; 7 (partially present) only
 * exists in a differencing disk, as does an SB block (state 6); 4 and 5
 * are reserved.  Every entry with an offset that owns space (6, 7, and
 * the soft anchors 1 and 3; SB state 6) must lie inside the file, whole,
 * and on nothing else (the occupancy map).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "vhdx.h"

const char *vhdx_payload_state_name(unsigned state)
{
        static const char *const names[8] = {
                "not-present", "undefined", "zero", "unmapped", "reserved-4", "reserved-5",
                "fully-present", "partially-present",
        };
        return names[state & 7];
}

int vhdx_bat_geometry(const struct vhdx_metadata *m, uint64_t *ret_entries, uint64_t *ret_data_blocks,
                      uint64_t *ret_chunk_ratio)
{
        uint64_t ratio, blocks, entries;

        if (!IS_POWER_OF_2(m->block_size) || m->block_size < VHDX_BLOCK_MIN || m->block_size > VHDX_BLOCK_MAX ||
            (m->logical_sector_size != 512 && m->logical_sector_size != 4096) || m->virtual_size == 0 ||
            m->virtual_size > VHDX_MAX_VIRTUAL_SIZE)
                return -EINVAL;
        ratio = VHDX_SECTORS_PER_CHUNK * m->logical_sector_size / m->block_size;
        if (!IS_POWER_OF_2(ratio))
                return -EINVAL;
        blocks = DIV_ROUND_UP(m->virtual_size, m->block_size);
        if (m->has_parent)
                entries = DIV_ROUND_UP(blocks, ratio) * (ratio + 1);
        else
                entries = blocks + (blocks - 1) / ratio;
        *ret_entries = entries;
        *ret_data_blocks = blocks;
        *ret_chunk_ratio = ratio;
        return 0;
}

/* Whether chunk's SB entry (the last of its group) says PRESENT: a
 * PARTIALLY_PRESENT block without one has no sector bits to read. */
static bool bat_sb_present(const struct vhdx_bat *b, uint64_t chunk)
{
        uint64_t i = chunk * (b->chunk_ratio + 1) + b->chunk_ratio;

        return i < b->n_entries && (b->e[i] & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT &&
               !(b->e[i] & VHDX_BAT_RESERVED_MASK);
}

int vhdx_bat_load(int fd, uint64_t file_size, const struct vhdx_region *region, const struct vhdx_metadata *m,
                  struct vhdx_occupancy *occ, struct vhdx_report *rep, struct vhdx_bat *ret)
{
        struct vhdx_bat b = { .offset = region->offset };
        _cleanup_free_ uint8_t *raw = NULL;
        int r, err = 0;

        r = vhdx_bat_geometry(m, &b.n_entries, &b.data_blocks, &b.chunk_ratio);
        if (r < 0)
                return r;
        if (b.n_entries > VHDX_BAT_MAX_ENTRIES || b.n_entries * 8 > region->length)
                return vhdx_report(rep, VC_PROBLEM_BAD_REGION_TABLE, -EBADMSG, "region.length",
                                   region->entry_offset + VHDX_REGION_ENTRY_OFF_LENGTH,
                                   "the BAT region is %" PRIu32 " bytes, too small for the %" PRIu64
                                   " entries of a %" PRIu64 "-byte disk of %" PRIu32 "-byte blocks",
                                   region->length, b.n_entries, m->virtual_size, m->block_size), -EBADMSG;
        /* n_entries * 8 <= region length <= the file size: bounded. */
        raw = malloc(b.n_entries * 8);
        b.e = malloc(b.n_entries * sizeof *b.e);
        if (!raw || !b.e) {
                free(b.e);
                return -ENOMEM;
        }
        r = pread_full(fd, raw, b.n_entries * 8, b.offset);
        if (r < 0) {
                free(b.e);
                return vhdx_report(rep, VC_PROBLEM_IO, r, "bat", b.offset, "cannot read the BAT"), r;
        }
        for (uint64_t i = 0; i < b.n_entries; i++)
                b.e[i] = get_le64(raw + i * 8);

        for (uint64_t i = 0; i < b.n_entries; i++) {
                const uint64_t e = b.e[i], at = b.offset + i * 8, off = e & VHDX_BAT_OFFSET_MASK;
                const unsigned st = e & VHDX_BAT_STATE_MASK;
                const bool sb = i % (b.chunk_ratio + 1) == b.chunk_ratio;
                const uint64_t block = i - i / (b.chunk_ratio + 1);
                uint64_t len = 0, end;
                const char *other;

#define BAD(id, ...)                                                                    \
        do {                                                                            \
                r = vhdx_report(rep, id, -EBADMSG, "bat", at, __VA_ARGS__);             \
                if (r < 0)                                                              \
                        goto fail;                                                      \
                err = -EBADMSG;                                                         \
        } while (0)

                if (!sb && block >= b.data_blocks)
                        continue;       /* padding of a differencing table: kept, never read */
                if (e & VHDX_BAT_RESERVED_MASK) {
                        BAD(VC_PROBLEM_BAD_BLOCK_STATE, "BAT entry %" PRIu64 " has reserved bits 0x%" PRIx64 " set",
                            i, (uint64_t) (e & VHDX_BAT_RESERVED_MASK));
                        continue;
                }
                if (sb) {
                        if (st == VHDX_SB_PRESENT && !m->has_parent)
                                BAD(VC_PROBLEM_BAD_BLOCK_STATE,
                                    "BAT entry %" PRIu64 " gives a sector bitmap to a disk without a parent", i);
                        else if (st != VHDX_SB_NOT_PRESENT && st != VHDX_SB_PRESENT)
                                BAD(VC_PROBLEM_BAD_BLOCK_STATE,
                                    "BAT entry %" PRIu64 " (a sector bitmap) has reserved state %u", i, st);
                        else if (st == VHDX_SB_PRESENT)
                                len = VHDX_MiB;
                        if (!len)
                                continue;
                        b.sb_present++;
                } else {
                        b.count[st]++;
                        if (st == 4 || st == 5)
                                BAD(VC_PROBLEM_BAD_BLOCK_STATE, "block %" PRIu64 " has reserved state %u", block, st);
                        else if (st == VHDX_PAYLOAD_PARTIALLY_PRESENT && !m->has_parent)
                                BAD(VC_PROBLEM_BAD_BLOCK_STATE,
                                    "block %" PRIu64 " is partially present in a disk without a parent", block);
                        else if (st == VHDX_PAYLOAD_PARTIALLY_PRESENT &&
                                 !bat_sb_present(&b, block / b.chunk_ratio))
                                BAD(VC_PROBLEM_BAD_BLOCK_STATE,
                                    "block %" PRIu64 " is partially present but its chunk has no sector bitmap",
                                    block);
                        else if (st == VHDX_PAYLOAD_FULLY_PRESENT || st == VHDX_PAYLOAD_PARTIALLY_PRESENT ||
                                 ((st == VHDX_PAYLOAD_UNDEFINED || st == VHDX_PAYLOAD_UNMAPPED) && off))
                                len = m->block_size;
                        if (!len)
                                continue;
                }
                if (off < VHDX_HEADER_SECTION_SIZE) {
                        BAD(VC_PROBLEM_BAT_OVERLAP, "%s %" PRIu64 " (%s) lies at offset %" PRIu64
                            ", inside the header section", sb ? "sector bitmap of chunk" : "block",
                            sb ? i / (b.chunk_ratio + 1) : block, vhdx_payload_state_name(st), off);
                        continue;
                }
                if (ADD_OVERFLOW(off, len, &end) || end > file_size) {
                        BAD(VC_PROBLEM_BAT_OUT_OF_FILE, "%s %" PRIu64 " (%" PRIu64 " bytes at %" PRIu64
                            ") ends past the end of the file (%" PRIu64 " bytes)",
                            sb ? "sector bitmap of chunk" : "block", sb ? i / (b.chunk_ratio + 1) : block, len, off,
                            file_size);
                        continue;
                }
                if (vhdx_occupancy_take(occ, off, len, &other))
                        BAD(VC_PROBLEM_BAT_OVERLAP, "%s %" PRIu64 " (%" PRIu64 " bytes at %" PRIu64
                            ") overlaps %s", sb ? "sector bitmap of chunk" : "block",
                            sb ? i / (b.chunk_ratio + 1) : block, len, off, other);
#undef BAD
        }
        if (err < 0) {
                r = err;
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        free(b.e);
        return r;
}
