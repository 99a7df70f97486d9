/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The progress display (see progress.h).  The numbers come from the caller:
 * the in-process engine computes rate and ETA from its own clock, a daemon
 * job reports them in its Rate and ExpectedEndTime properties.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "safe-output.h"

double progress_now(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

void progress_bar_init(struct progress_bar *b, bool enabled)
{
        *b = (struct progress_bar) { .tty = isatty(STDERR_FILENO), .enabled = enabled, .last_decile = -1 };
}

bool progress_bar_phase(struct progress_bar *b, const char *phase)
{
        if (!strcmp(b->phase, phase))
                return false;
        if (b->enabled && b->tty && b->line == LINE_BAR)
                fputc('\n', safe_output_terminal());
        b->line = LINE_EMPTY;
        snprintf(b->phase, sizeof b->phase, "%s", phase);
        b->last_decile = -1;
        b->last_draw = 0;
        return true;
}

void progress_bar_draw(struct progress_bar *b, uint64_t done, uint64_t total, double rate, double eta)
{
        double now = progress_now(), pct = total ? 100.0 * (double) done / (double) total : 100.0;

        if (!b->enabled)
                return;
        if (b->tty) {
                if (now - b->last_draw < 0.2 && done < total)
                        return;
                b->last_draw = now;
                int filled = (int) (pct / 5);
                fprintf(safe_output_terminal(), "\r%-8s [%.*s%*s] %5.1f%% %8.1f MiB/s ETA %4.0fs", b->phase, filled,
                        "####################", 20 - filled, "", pct, rate / 1048576, eta);
                b->line = LINE_BAR;
        } else if ((int) (pct / 10) != b->last_decile) {
                b->last_decile = (int) (pct / 10);
                fprintf(stderr, "%s: %.0f%%\n", b->phase, pct);
        }
}

void progress_bar_label(struct progress_bar *b)
{
        if (b->enabled && b->tty && b->line != LINE_BAR) {
                /* As wide as a bar, so that a bar overwrites it all. */
                fprintf(safe_output_terminal(), "\r%-8s%52s", b->phase, "");
                b->line = LINE_LABEL;
        }
}

void progress_bar_end(struct progress_bar *b)
{
        if (!b->enabled || !b->tty)
                return;
        if (b->line == LINE_BAR)
                fputc('\n', safe_output_terminal());
        else if (b->line == LINE_LABEL)
                fprintf(safe_output_terminal(), "\r%60s\r", "");
        b->line = LINE_EMPTY;
}
