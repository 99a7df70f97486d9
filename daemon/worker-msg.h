/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's reading of what its worker says (worker-protocol.h).  The
 * worker parses hostile disks; if one ever took it over, these messages are
 * what it could turn against the daemon, which runs as root.  So this is a
 * parser of untrusted bytes like the others: no sd-bus here, strict about
 * numbers, and fuzzed (fuzz/fuzz-worker-msg.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum worker_msg_kind {
        WORKER_MSG_UNKNOWN,
        WORKER_MSG_PHASE,
        WORKER_MSG_PROGRESS,
        WORKER_MSG_PLANNED,
        WORKER_MSG_OPEN,
        WORKER_MSG_VOLUME,
        WORKER_MSG_OK,
        WORKER_MSG_FAIL,
};

enum worker_phase {
        WORKER_PHASE_UNKNOWN = -1,      /* a name we do not know: ignored */
        WORKER_PHASE_ATTACHING,
        WORKER_PHASE_SCANNING,
        WORKER_PHASE_MOVING,
        WORKER_PHASE_TRUNCATING,
};

#define WORKER_ERRNO_MAX 4095

/* A "volume" line's numbers, in its order. */
struct worker_volume {
        uint64_t partition, start, size, cluster_size, used, free, fs_free, reclaimable;
        bool scanned, clean;
        char fs[32];                    /* [!-~], or "" for "-" */
};

struct worker_msg {
        enum worker_msg_kind kind;
        enum worker_phase phase;        /* PHASE */
        uint64_t a, b;                  /* PROGRESS done, total; PLANNED before, after */
        const char *text;               /* into the line: OPEN the path, OK the report
                                         * ("k=v ..."), FAIL the message (maybe ""); else NULL */
        int error;                      /* FAIL: 1..WORKER_ERRNO_MAX (EIO when out of range) */
        char id[64];                    /* FAIL: the problem id ([a-z0-9-]), or "-" */
        struct worker_volume vol;       /* VOLUME; text is its note (maybe "") */
};

/* Reads one NUL-terminated message.  A message that is not exactly one of
 * the protocol's forms is WORKER_MSG_UNKNOWN. */
void worker_msg_parse(const char *line, struct worker_msg *ret);
/* The decimal value of KEY in a report; 0 when absent or not a number
 * below 2^64. */
uint64_t worker_report_value(const char *report, const char *key);
