/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The executor (docs/design.md, pipeline step 6): carries out a compact_plan on the image file
 * in the one order that keeps every instant crash-safe, written once for
 * every format; the format's part of each phase is its vc_compact_ops
 * (lib/image/image.h; for VHD, lib/vhd/commit.c):
 *
 *   0. begin (formats that need it): the format's own; fdatasync.
 *   1. release: the map (VHD: BAT) with the dropped entries unused;
 *      fdatasync.  Only now may a dropped block's slot be overwritten.
 *   2. copy: each moving object (for VHD a block: sector bitmap + data;
 *      objects may differ in size) copied into its hole, several in flight
 *      through io_uring, with direct I/O where the file system allows it
 *      (move.c, "Direct I/O"); fdatasync.  The copier sees (from, to,
 *      length) only.
 *   3. repoint: the map's entries pointed at the copies; fdatasync.
 *   4. finish: the format's tail (VHD: the footer, unchanged) right after
 *      the new end; fdatasync; ftruncate; fsync.
 *
 * Sources are never overwritten: until step 4 both copies of a moved block
 * are intact, so any mix of old and new BAT entries reads the same data,
 * and a crash anywhere leaves a valid image that a new run finishes.
 * Memory is queue_depth buffers of at most 4 MiB each (a larger object is
 * copied in pieces), whatever the disk's or the objects' size.
 * A fault point (lib/util/fault.h) follows every write and every sync.
 *
 * Rounds.  A place a block moves into may be a hole of a sparse file: the
 * copy allocates it, and only step 4 gives space back.  On a nearly full
 * host file system that fails with ENOSPC every time.  So before any
 * write the executor compares what the moves allocate (the hole bytes of
 * their places, by SEEK_DATA/SEEK_HOLE) with the free space (fstatvfs,
 * less 2 MiB kept in reserve).  When it fits (always, when the free space
 * would hold every move even into holes: then nothing is looked up), it
 * runs as above, in one round.  Otherwise:
 *
 *   1. as above; then everything past the new end but the sources of
 *      moves is punched (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE): the slots just
 *      released durably, and any a run interrupted after pointing the BAT
 *      away from them left (nothing else lives there in a valid file).
 *   2-3. per round, as many moves (in plan order) as the space then free
 *      holds: copied; fdatasync; the BAT pointed at them; fdatasync; and
 *      only then their sources punched, which nothing points at durably.
 *   4. as above.
 *
 * So a hole is only ever made where the BAT durably points no more, and
 * a source is never touched before the BAT points away from it durably:
 * every instant is as safe as with one round.  (A punch that is lost with
 * power gives back no space; nothing reads those bytes.)  When not even
 * one move fits with everything before it given back, the run is refused
 * with a no-space problem before the first write.  Punches ask
 * vc_io_fault() as truncates; fault points "compact: tail punched" and,
 * per round, "compact: sources punched" follow them.  A run after an
 * interruption plans its rounds from the file as it is (what was copied
 * and not yet pointed at needs no more space).
 *
 * No moves (a plan from compact_plan_build_in_place(), `--no-block-
 * moves`).  Steps 2 and 3 are empty; after step 1's fdatasync each range
 * of plan->punches (free space below the new end: the dropped blocks'
 * places) is punched, a fault point "compact: dropped punched" after
 * each; step 4 as above cuts only the free tail.  Before any write a
 * punch past the end of the file asks whether the file system can punch
 * at all: one that cannot (EOPNOTSUPP) refuses the run with a
 * punch-unsupported problem, the file untouched.  A crash among the
 * punches leaves the drops durable and some space not yet given back: a
 * new run plans the same end and punches the same ranges again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"
#include "plan.h"

struct compact_exec_opts {
        unsigned queue_depth;   /* blocks in flight; 0 = default (8) */
        /* How long to wait for a completion before waking io-wq (move.c);
         * 0 = default (1000 ms).  Tests make it tiny. */
        unsigned stall_ms;
        /* Bytes a slot copies at a time, at most; 0 = default (4 MiB).
         * Tests make it small, to copy objects in several pieces. */
        unsigned copy_chunk;
        /* Copy through the page cache even where direct I/O would do
         * (move.c, "Direct I/O"). */
        bool buffered;
        /* Called now and then with bytes moved so far; non-zero stops at
         * the next safe point (the run then ends with -ECANCELED). */
        int (*progress)(void *userdata, uint64_t done, uint64_t total);
        /* Optional: called as step 4 (footer, truncate) begins, which is
         * not interruptible: it only reports. */
        void (*truncating)(void *userdata);
        void *userdata;
        /* Optional: where a failure is described (an io-error problem). */
        struct vc_problems *problems;
        /* Optional: the ring to copy through, the caller's to set up and
         * tear down (compact_ring_init_restricted() below: the daemon's
         * worker makes it before its system-call filter, which then
         * forbids io_uring_setup); NULL: the executor sets up one of its
         * own for the run.  Only the executor submits to it meanwhile. */
        struct io_uring *ring;
};

struct io_uring;

/* The most a ring must hold for any queue depth (move.c's slots, twice,
 * and its kicks). */
#define COMPACT_RING_ENTRIES 256u

/* Sets up ring for compact_exec_opts.ring restricted (IORING_REGISTER_
 * RESTRICTIONS, before the ring is enabled) to what the executor submits:
 * read, write and no-op, with IOSQE_ASYNC as the only flag (a kick).
 * Anything else queued on it completes with -EACCES, and nothing can be
 * registered on it.  COMPACT_RING_ENTRIES entries.  0 or -errno; the
 * caller io_uring_queue_exit()s it. */
int compact_ring_init_restricted(struct io_uring *ring);

struct compact_exec_stats {
        uint64_t bytes_read, bytes_written;
        uint32_t blocks_moved;
        uint32_t io_wq_kicks;   /* deadlines passed with nothing completed */
        uint32_t dio_align;     /* the copy's direct I/O alignment; 0: through the page cache */
        uint32_t direct_fallbacks;      /* direct I/O refused, the rest through the page cache */
        uint64_t bytes_punched; /* of plan->punches, punched */
        bool truncated;
};

/*
 * img: the image, opened read-write, under its exclusive lock; l: its
 * layout as the plan was made from it (compact_layout_from_image): l->at
 * is updated in place to the final state.
 * Returns 0, -ECANCELED (image valid, not yet shrunk), or -errno (image
 * valid; a new run finishes the job) with one io-error problem in
 * opts->problems that names the operation that failed and its offset in
 * the file.  Short reads and writes are not failures: the rest is
 * resubmitted.
 */
/* Bytes of [off, off + len) of fd that are holes (SEEK_DATA/SEEK_HOLE;
 * 0 on a file system without them).  Moves fd's position. */
uint64_t compact_hole_bytes(int fd, uint64_t off, uint64_t len);

struct vc_image;
int compact_execute(struct vc_image *img, struct compact_layout *l, const struct compact_plan *plan,
                    const struct compact_exec_opts *opts, struct compact_exec_stats *ret_stats);
/* The same on the file fd with the compaction operations ops, which get
 * img as it is (NULL too): compact_execute() is this with the image's own.
 * For tests of the core without a format (test-compact-mixed). */
struct vc_compact_ops;
int compact_execute_ops(int fd, const struct vc_compact_ops *ops, struct vc_image *img, struct compact_layout *l,
                        const struct compact_plan *plan, const struct compact_exec_opts *opts,
                        struct compact_exec_stats *ret_stats);
