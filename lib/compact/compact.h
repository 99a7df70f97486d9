/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One compaction, start to end (DESIGN steps 1-7): open and lock, refuse
 * what must not be compacted, scan (file systems through the read-only
 * attach, zeros by reading blocks), plan, move, truncate, report.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

enum compact_mode {
        COMPACT_MODE_FULL,      /* file-system free blocks, then zero blocks */
        COMPACT_MODE_FS,
        COMPACT_MODE_ZERO,
        _COMPACT_MODE_MAX,
        _COMPACT_MODE_INVALID = -22,
};
const char *compact_mode_to_string(enum compact_mode m);
enum compact_mode compact_mode_from_string(const char *s);

enum compact_phase { COMPACT_PHASE_SCANNING, COMPACT_PHASE_MOVING };

struct compact_opts {
        enum compact_mode mode;
        bool dry_run;
        bool force_dirty;       /* scan volumes not cleanly shut down */
        bool force_children;    /* allow file-system drops on a disk with children */
        unsigned queue_depth;
        /* Progress, now and then; non-zero asks to stop at a safe point. */
        int (*progress)(void *userdata, enum compact_phase phase, uint64_t done, uint64_t total);
        void *userdata;
};

struct compact_report {
        bool dry_run;
        uint64_t size_before, size_after;
        uint32_t blocks_allocated, dropped_fs, dropped_zero, moved;
        uint64_t bytes_moved, bytes_read, bytes_written;
        double seconds;
};

/* Returns 0; -ECANCELED (image valid, unfinished: run again); or a negative
 * errno with the reason in problems (image byte-identical when refused
 * before any write). */
int compact_run(const char *path, const struct compact_opts *opts, struct compact_report *ret,
                struct vc_problems *problems);
