/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The progress display of `vhdctl compact`, shared by the in-process engine
 * and the daemon's jobs: on a terminal one redrawn line (phase, bar,
 * percent, rate, ETA; at most five redraws a second), otherwise one plain
 * line, "PHASE: N%", per tenth of a phase.  Everything goes to stderr, so
 * that stdout holds only the summary (or JSON).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct progress_bar {
        bool tty, enabled;
        int last_decile;
        double last_draw;
        char phase[16];         /* the phase on screen, "" before the first */
        enum { LINE_EMPTY, LINE_LABEL, LINE_BAR } line;  /* what the terminal line holds */
};

/* CLOCK_MONOTONIC in seconds. */
double progress_now(void);

void progress_bar_init(struct progress_bar *b, bool enabled);

/* Enters PHASE; returns true when it differs from the phase on screen (a
 * terminal line with a bar is then ended, one with only a label is
 * overwritten, and the tenths start again). */
bool progress_bar_phase(struct progress_bar *b, const char *phase);

/* Draws DONE of TOTAL bytes of the current phase, with RATE in bytes/s and
 * ETA in seconds (0 when unknown).  TOTAL 0 counts as complete. */
void progress_bar_draw(struct progress_bar *b, uint64_t done, uint64_t total, double rate, double eta);

/* Shows the current phase alone, for phases with no byte count (a job
 * queued, attaching, truncating); prints nothing unless on a terminal. */
void progress_bar_label(struct progress_bar *b);

/* Ends the terminal line if it holds a bar, clears it if only a label. */
void progress_bar_end(struct progress_bar *b);
