/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vocabulary shared by the format-free compaction core (lib/compact/)
 * and a format's compaction operations (struct vc_compact_ops, image.h):
 * the layout a format describes, the plan the planner makes of it.
 *
 * A layout is the planner's whole input: fixed regions that never move,
 * movable objects at places recorded in units of `unit` bytes (so that a
 * table the format keeps in its own units can be used as it is), and the
 * tail the format needs after the last object (VHD: its 512-byte footer).
 * A plan is its output: which objects go, and why (a format may record the
 * two reasons differently: VHDX marks a zero block ZERO and a free one
 * UNMAPPED), which move where, the final size.
 *
 * Fixed regions: everything below fixed_end (VHD: footer copy, dynamic
 * header, BAT, parent-locator space), and, for a format whose tables may
 * lie anywhere (VHDX: log, BAT, metadata and unknown regions may sit after
 * blocks), a list of extents at any offset below the tail.  Nothing is
 * ever placed on them, and the file never ends before them.
 *
 * Movable objects come in one size (stride: VHD's sector bitmap + block),
 * or in up to COMPACT_MAX_CLASSES size classes (VHDX: payload blocks of
 * BlockSize and 1 MiB sector-bitmap blocks), one class per object.  Every
 * place is a multiple of unit and, with align, keeps the objects' data on
 * an align boundary (VHDX: unit = align = 1 MiB).  Objects
 * [0, vc_image_n_blocks()) are the image's blocks, same index: the core
 * decides their drops (file-system free, zero).  A format may list more
 * after them (VHDX: sector-bitmap blocks): the core moves those, never
 * drops them.
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
        /* Partly free per the file systems, every other byte reads as what
         * the drop uncovers (zeros; a parent's bytes), some free byte does
         * not: the combined rule of mode full.  It changes what free space
         * reads, so it is a file-system drop for every safety purpose
         * (children, VHDX's DataWriteGuid), like COMPACT_DROP_FS_FREE. */
        COMPACT_DROP_FS_ZERO = 3,
};

/* Whether a drop for reason @why may change what the disk reads (in free
 * space only): the drops a parent with children refuses, and after which
 * VHDX's DataWriteGuid changes. */
static inline bool compact_drop_changes_data(uint8_t why)
{
        return why == COMPACT_DROP_FS_FREE || why == COMPACT_DROP_FS_ZERO;
}

/* Size classes a layout may have (COMPACT_MAX_CLASSES at most). */
#define COMPACT_MAX_CLASSES 4

struct compact_extent {
        uint64_t off, len;      /* bytes */
};

/* Members after `tail` stay zero in a one-size layout whose fixed regions
 * all lie below fixed_end (VHD's). */
struct compact_layout {
        uint32_t n_objects;
        uint32_t *at;           /* place of each object in units, or COMPACT_ABSENT */
        uint64_t stride;        /* bytes each object takes, when cls is NULL */
        uint64_t fixed_end;     /* nothing is placed below this */
        uint64_t file_size;
        /* A layout whose objects' data areas all lie on an align boundary
         * (Windows' "4 KiB-aligned" VHDs) stays so: places are then only
         * positions p with (p + data_skew) % align == 0.  0: any unit.
         * align and data_skew are multiples of unit. */
        uint64_t align, data_skew;
        uint32_t unit;          /* bytes per unit of at[] */
        uint64_t tail;          /* bytes the format keeps after the last object */
        /* Size classes: NULL cls, every object is stride bytes; else
         * object i takes class_size[cls[i]] bytes, cls[i] < n_classes.
         * cls is the format's (valid while the image is open), never the
         * caller's to free. */
        uint32_t n_classes;
        uint64_t class_size[COMPACT_MAX_CLASSES];
        const uint8_t *cls;
        /* Fixed extents anywhere below file_size - tail, besides
         * [0, fixed_end); in any order, may touch or overlap.  The
         * format's, as cls. */
        const struct compact_extent *fixed;
        uint32_t n_fixed;
};

/* Bytes object i of l takes in the file. */
static inline uint64_t compact_object_size(const struct compact_layout *l, uint32_t i)
{
        return l->cls ? l->class_size[l->cls[i]] : l->stride;
}

struct compact_move {
        uint32_t block;         /* object index */
        uint64_t from, to;      /* file offsets of the object */
        uint64_t len;           /* its bytes: the copier moves (from, to, len) */
};

struct compact_plan {
        uint64_t stride;        /* the layout's stride (one-size layouts' object size) */
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
        uint64_t bytes_moved;   /* the sum of the moves' len */
        /* A plan without moves (compact_plan_build_in_place(), lib/compact/
         * plan-in-place.c): the free ranges below the new end whose space
         * is given back (punched) once the drops are durable; NULL in a
         * plan that moves. */
        struct compact_extent *punches;
        uint32_t n_punches;
};
