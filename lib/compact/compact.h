/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One compaction, start to end (docs/design.md, pipeline steps 1-7): open and lock, refuse
 * what must not be compacted, scan (file systems through the read-only
 * attach, zeros by reading blocks), plan, move, truncate, report.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image/open.h"
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

enum compact_phase {
        COMPACT_PHASE_SCANNING,         /* file-system bitmaps, zero blocks */
        COMPACT_PHASE_MOVING,           /* releasing, copying, repointing blocks */
        COMPACT_PHASE_TRUNCATING,       /* footer at the new end, truncate, fsync */
        _COMPACT_PHASE_MAX,
        _COMPACT_PHASE_INVALID = -22,
};
const char *compact_phase_to_string(enum compact_phase p);

/* All zero is vhdctl: open path, list its folder, attach through nbdkit,
 * no callbacks. */
struct io_uring;
struct vc_analysis;

struct compact_opts {
        enum compact_mode mode;
        bool dry_run;
        bool force_dirty;       /* scan volumes not cleanly shut down */
        bool force_children;    /* allow file-system drops on a disk with children */
        /* Move nothing: drop blocks and punch their space out of the file,
         * cut only its free tail (plan-in-place.c; Windows'
         * COMPACT_VIRTUAL_DISK_FLAG_NO_BLOCK_MOVES). */
        bool no_block_moves;
        unsigned queue_depth;
        /* Where the image, its folder and the files it leads to come
         * from (image/open.h); NULL: all by name, with open(2).  With a
         * descriptor the image is read-write unless dry_run. */
        const struct vc_open_ctx *open;
        /* Read the file systems in-process instead of through the nbdkit
         * attach (vc_analyze_opts.in_process). */
        bool in_process;
        /* Optional: the ring the moves go through (compact_exec_opts.ring,
         * compact/move.h); NULL: the executor's own. */
        struct io_uring *ring;
        /* Progress, now and then, in phases scanning and moving (never
         * truncating); non-zero asks to stop at a safe point. */
        int (*progress)(void *userdata, enum compact_phase phase, uint64_t done, uint64_t total);
        /* Optional: once as each phase begins (a dry run has scanning
         * only; a run with nothing to do has no moving or truncating). */
        void (*phase)(void *userdata, enum compact_phase phase);
        /* Optional: once, when the plan is known: the file's size now and
         * after the run (also in a dry run). */
        void (*planned)(void *userdata, uint64_t size_before, uint64_t size_after);
        /* Optional: once, when the file systems were scanned (modes full
         * and fs, also in a dry run): the analysis, valid for the call only
         * (the daemon's worker sends its volumes). */
        void (*analysed)(void *userdata, const struct vc_analysis *a);
        void *userdata;
};

struct compact_report {
        bool dry_run;
        uint64_t size_before, size_after;
        uint32_t blocks_allocated, dropped_fs, dropped_zero, moved;
        /* Mode full's combined rule: partly free blocks whose used bytes
         * read as zeros (or as the parent) (COMPACT_DROP_FS_ZERO). */
        uint32_t dropped_fs_zero;
        uint64_t bytes_moved, bytes_read;
        /* Every byte written to the image: the copies (bytes_moved once
         * each), and the format's own writes (VHDX: log entries, pages
         * written in place, headers; VHD: BAT sectors, footer). */
        uint64_t bytes_written;
        double seconds;
        /* The file's allocation (st_blocks x 512) before the run and after
         * it (a dry run: before only; after is 0).  With no_block_moves,
         * bytes_punched: the data bytes of the ranges the run punches
         * (a dry run: would punch). */
        bool no_block_moves;
        uint64_t allocated_before, allocated_after, bytes_punched;
};

/* Mode full's drops of the open image @img, whose analysis found the free
 * ranges @fm: drop[] (vc_image_n_blocks() entries, COMPACT_DROP_FS_FREE
 * already set where the analysis found every byte free) gets the reason
 * of every other block that goes; rep->dropped_zero, dropped_fs_zero and
 * bytes_read grow.  Reads only (vhdctl analyze). */
struct vc_image;
struct vc_freemap;
int compact_scan_full(struct vc_image *img, const struct vc_freemap *fm, uint8_t *drop, struct compact_report *rep,
                      struct vc_problems *problems);

/* path: the image (with a descriptor in opts->open, only its name).  Untrusted input
 * throughout.  Returns 0; -ECANCELED (image valid, unfinished: run again); or a negative
 * errno with the reason in problems (image byte-identical when refused
 * before any write). */
int compact_run(const char *path, const struct compact_opts *opts, struct compact_report *ret,
                struct vc_problems *problems);
