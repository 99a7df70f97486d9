/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a power cut leaves: the model behind test-compact-powercut and
 * tools/powercut.c, over the log of lib/util/fault.h (VHDCOMPACT_TEST_POWER_LOG).
 *
 * The log lists, in the order they happened, every write, truncate, hole
 * punch and fsync/fdatasync of one file during a run.  A cut after the
 * first `at` records leaves:
 *
 *   - every operation up to the last sync among them: durable (fdatasync
 *     makes the file's data and size durable, fsync too);
 *   - a subset of the operations after it (pending in a volatile cache):
 *     each write and punch is cut at 4 KiB boundaries of the file, and
 *     each piece persists or not on its own (a torn write: only some of
 *     its 4 KiB pieces land); each truncate persists or not (a size change
 *     not yet synced may go either way).  What persists is applied in log
 *     order over the durable file.
 *
 * Which pieces persist is drawn from the seed: first a rate for the whole
 * cut (none, 10 %, half, 90 % or all of them), then each piece by a hash
 * of the seed, the piece's offset and how many pending operations touched
 * that piece before it.  So a seed picks the same pieces whatever order
 * concurrent writes completed in, and a seed printed by a failing test
 * replays the same cut.  Rate "all" at the end of the log is the file as
 * the run left it, which checks that the log misses no write.
 *
 * A barrier can be removed from the model (ignore: its label, or several
 * separated by '|'): its sync is then not a barrier, as if the code had not called it, so a test can
 * show that it catches the loss of each one.
 *
 * Keeping every op since the last barrier is stricter than a real page
 * cache, which writes out pages, not operations: any state a cache can
 * leave is one of these, and some of these a cache cannot leave.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/fault.h"

#define PC_PIECE 4096u

struct pc_op {
        enum vc_power_kind kind;
        uint64_t off, len;
        const uint8_t *data;    /* writes: len bytes inside the log */
        char label[32];         /* syncs */
};

struct pc_log {
        struct pc_op *ops;
        size_t n;
        uint8_t *raw;
};

/* Reads a log; -EBADMSG when malformed, -EXDEV when it names more than
 * one file (a run must change only its image). */
int pc_log_read(const char *path, struct pc_log *ret);
void pc_log_done(struct pc_log *log);

/* Whether op i is a barrier (a sync not ignored). */
bool pc_is_barrier(const struct pc_log *log, size_t i, const char *ignore);

struct pc_cut {
        size_t at;              /* records [0, at) happened before the cut */
        uint64_t seed;
        int permille;           /* rate of pending pieces kept; < 0: from the seed */
        const char *ignore;     /* labels ('|' between) of syncs that are no barriers, or NULL */
};

struct pc_result {
        size_t durable;         /* records made durable by the last barrier */
        size_t pending, kept;   /* pending pieces (and truncates), kept ones */
        unsigned permille;
};

/* Writes out (replaced) = orig after the cut. */
int pc_apply(const char *orig, const struct pc_log *log, const struct pc_cut *cut, const char *out,
             struct pc_result *ret);
