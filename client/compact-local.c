/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact` with the engine in this process (--local, or when the
 * daemon is not on the bus).  SIGINT/SIGTERM ask the engine to stop at its
 * next safe point: the progress callback returns non-zero.
 */
#include <signal.h>
#include <stdio.h>

#include "compact-client.h"
#include "progress.h"
#include "util/bus-names.h"
#include "vhdctl.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        (void) sig;
        interrupted = 1;
}

struct local_progress {
        struct progress_bar bar;
        double t0;              /* when the current phase began */
};

static int progress(void *userdata, enum compact_phase phase, uint64_t done, uint64_t total)
{
        struct local_progress *p = userdata;
        double now = progress_now();

        if (interrupted)
                return 1;
        if (!p->bar.enabled)
                return 0;
        if (progress_bar_phase(&p->bar, phase == COMPACT_PHASE_SCANNING ? VC_STATE_SCANNING : VC_STATE_MOVING))
                p->t0 = now;
        double el = now - p->t0, rate = el > 0 ? (double) done / el : 0;
        double eta = rate > 0 ? (double) (total - done) / rate : 0;
        progress_bar_draw(&p->bar, done, total, rate, eta);
        return 0;
}

int compact_local(const struct compact_args *a)
{
        struct compact_opts o = a->opts;
        struct vc_problems problems = {};
        struct compact_report rep;
        struct compact_summary s;
        struct local_progress p = {};
        struct sigaction sa = { .sa_handler = on_signal };
        int r;

        progress_bar_init(&p.bar, a->progress);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        o.progress = progress;
        o.userdata = &p;

        r = compact_run(a->file, &o, &rep, &problems);
        progress_bar_end(&p.bar);
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(a->file, &problems.first);
                else if (r == -ECANCELED)
                        fprintf(stderr, "vhdctl: '%s': cancelled: the image is valid; run again to finish\n", a->file);
                else
                        print_errno(a->file, r, NULL);
                return 1;
        }
        compact_summary_init(&s, a->file, compact_mode_to_string(o.mode), rep.dry_run);
        s.size_before = rep.size_before;
        s.size_after = rep.size_after;
        s.blocks_allocated = rep.blocks_allocated;
        s.dropped_fs = rep.dropped_fs;
        s.dropped_zero = rep.dropped_zero;
        s.dropped_fs_zero = rep.dropped_fs_zero;
        s.moved = rep.moved;
        s.bytes_moved = rep.bytes_moved;
        s.bytes_read = rep.bytes_read;
        s.bytes_written = rep.bytes_written;
        s.seconds = rep.seconds;
        s.no_block_moves = rep.no_block_moves;
        s.allocated_before = rep.allocated_before;
        if (!rep.dry_run)
                s.allocated_after = rep.allocated_after;
        if (rep.no_block_moves)
                s.bytes_punched = rep.bytes_punched;
        if (a->result)
                *a->result = s;
        compact_summary_print(&s, a->json);
        return 0;
}
