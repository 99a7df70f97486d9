/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vocabulary shared by the format-free compaction core (lib/compact/)
 * and a format's compaction operations (struct vc_compact_ops, image.h):
 * the layout a format describes, the plan the planner makes of it.
 *
 * A layout is the planner's whole input: fixed regions that never move
 * (everything below fixed_end: headers, tables, locators), movable objects
 * of one size (stride) each at a place recorded in units of `unit` bytes
 * (so that a table the format keeps in its own units can be used as it
 * is), and the tail the format needs after the last object (VHD: its
 * 512-byte footer).  A plan is its output: which objects go, and why
 * (a format may record the two reasons differently: VHDX marks a zero
 * block ZERO and a free one UNMAPPED), which move where, the final size.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* at[i] of an object that has no place in the file. */
#define COMPACT_ABSENT UINT32_MAX

enum compact_drop_reason {
        COMPACT_KEEP = 0,
        COMPACT_DROP_FS_FREE = 1,       /* every byte free per the file systems */
        COMPACT_DROP_ZERO = 2,          /* reads as zeros (and so does what it uncovers) */
};

struct compact_layout {
        uint32_t n_objects;
        uint32_t *at;           /* place of each object in units, or COMPACT_ABSENT */
        uint64_t stride;        /* bytes each object takes in the file */
        uint64_t fixed_end;     /* no object place starts below this */
        uint64_t file_size;
        /* A layout whose objects' data areas all lie on an align boundary
         * (Windows' "4 KiB-aligned" VHDs) stays so: places are then only
         * positions p with (p + data_skew) % align == 0.  0: any unit. */
        uint64_t align, data_skew;
        uint32_t unit;          /* bytes per unit of at[] */
        uint64_t tail;          /* bytes the format keeps after the last object */
};

struct compact_move {
        uint32_t block;         /* object index */
        uint64_t from, to;      /* file offsets of the object */
};

struct compact_plan {
        uint64_t stride;        /* bytes per object */
        uint64_t old_size, final_size;
        uint64_t fixed_end;
        uint64_t tail;
        uint32_t unit;
        uint32_t n_drops;
        uint32_t *drops;        /* indexes of dropped objects, ascending */
        uint8_t *why;           /* enum compact_drop_reason of each drop */
        uint32_t n_moves;
        struct compact_move *moves;     /* highest source first */
        uint32_t survivors;
};
