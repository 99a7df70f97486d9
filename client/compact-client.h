/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact` has two engines behind one face: the library in this
 * process (compact-local.c) and a job of the daemon vhd-compactd over D-Bus
 * (compact-bus.c).  cmd-compact.c parses the command line and picks one;
 * both end with the same summary line or JSON object (compact-output.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "compact/compact.h"

/* The command line, as both engines need it. */
struct compact_args {
        const char *file;
        struct compact_opts opts;       /* mode, dry_run, force_*, queue_depth */
        bool json, progress;
        bool user_bus;                  /* --user: the session bus */
        bool wait;                      /* --wait (default) / --no-wait */
        /* When set, a run that succeeds also leaves its summary here (its
         * strings point into this process: only the numbers travel). */
        struct compact_summary *result;
};

/* A number the engine did not report (over the bus, some are not sent). */
#define COMPACT_UNKNOWN UINT64_MAX

/* What is printed at the end.  Counts are COMPACT_UNKNOWN when not known;
 * seconds is negative when not known. */
struct compact_summary {
        const char *file;
        const char *mode;
        bool dry_run;
        uint64_t size_before, size_after;
        uint64_t blocks_allocated, dropped_fs, dropped_zero, moved;
        uint64_t dropped_fs_zero;       /* partly free, the rest zero (or as the parent) */
        uint64_t bytes_moved, bytes_read, bytes_written;
        double seconds;
        /* --no-block-moves; the file's allocation (st_blocks x 512) before
         * and after (a dry run: after unknown); the bytes punched. */
        bool no_block_moves;
        uint64_t allocated_before, allocated_after, bytes_punched;
};

/* Every count COMPACT_UNKNOWN, seconds -1. */
void compact_summary_init(struct compact_summary *s, const char *file, const char *mode, bool dry_run);

/* The summary line on stdout, or with json the JSON object (unknown
 * numbers are null there). */
void compact_summary_print(const struct compact_summary *s, bool json);

/* Run the compaction (or dry run) and print; return the exit status. */
int compact_local(const struct compact_args *a);
int compact_bus(const struct compact_args *a, bool must);

/* Which engine: --local, --bus, or the daemon when it is on the bus and
 * else this process. */
enum compact_route { COMPACT_ROUTE_AUTO, COMPACT_ROUTE_LOCAL, COMPACT_ROUTE_BUS };
int compact_one(const struct compact_args *a, enum compact_route route);

/* Several disks (compact-batch.c): the FILE and folder arguments, up to
 * jobs at once (each in a process of its own, by the route's engine),
 * then a table (file, before, after, saved, status) or with a->json one
 * JSON object.  Returns the exit status: 0 when no disk failed (skipped
 * ones are not failures), 1 when one did or a folder came without
 * recursive. */
int compact_batch(const struct compact_args *a, char *const *args, int n, bool recursive, unsigned jobs,
                  enum compact_route route);

/* Returned by compact_bus() when the daemon is not on the bus and !must:
 * the caller runs the engine in-process instead. */
#define COMPACT_BUS_ABSENT (-1)
