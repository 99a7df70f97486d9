/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json]
 * [--no-progress] [--force-dirty] [--force-children]`, in-process engine.
 * On a terminal, a progress bar with percent, rate and ETA; otherwise a
 * plain line per 10%.  Always one summary line at the end (or JSON).
 * SIGINT/SIGTERM ask the engine to stop at its next safe point.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compact/compact.h"
#include "json.h"
#include "vhdctl.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        (void) sig;
        interrupted = 1;
}

struct bar {
        bool tty, enabled;
        int last_decile;
        double t0, last_draw;
        enum compact_phase phase;
};

static double now_s(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int progress(void *userdata, enum compact_phase phase, uint64_t done, uint64_t total)
{
        struct bar *b = userdata;
        const char *what = phase == COMPACT_PHASE_SCANNING ? "scanning" : "moving";
        double now = now_s(), pct = total ? 100.0 * (double) done / (double) total : 100.0;

        if (interrupted)
                return 1;
        if (!b->enabled)
                return 0;
        if (phase != b->phase) {
                b->phase = phase;
                b->t0 = now;
                b->last_decile = -1;
                if (b->tty)
                        fputc('\n', stderr);
        }
        if (b->tty) {
                if (now - b->last_draw < 0.2 && done < total)
                        return 0;
                b->last_draw = now;
                double el = now - b->t0, rate = el > 0 ? (double) done / el : 0;
                double eta = rate > 0 ? (double) (total - done) / rate : 0;
                int filled = (int) (pct / 5);
                fprintf(stderr, "\r%-8s [%.*s%*s] %5.1f%% %8.1f MiB/s ETA %4.0fs", what, filled,
                        "####################", 20 - filled, "", pct, rate / 1048576, eta);
        } else if ((int) (pct / 10) != b->last_decile) {
                b->last_decile = (int) (pct / 10);
                fprintf(stderr, "%s: %.0f%%\n", what, pct);
        }
        return 0;
}

int cmd_compact(int argc, char **argv)
{
        static const struct option opts[] = {
                { "mode", required_argument, NULL, 'm' },
                { "dry-run", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "no-progress", no_argument, NULL, 'P' },
                { "force-dirty", no_argument, NULL, 'f' },
                { "force-children", no_argument, NULL, 'c' },
                { "queue-depth", required_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *usage = "vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json] [--no-progress] "
                            "[--force-dirty] [--force-children] [--queue-depth N]";
        struct compact_opts o = { .mode = COMPACT_MODE_FULL };
        struct vc_problems problems = {};
        struct compact_report rep;
        struct bar bar = { .tty = isatty(STDERR_FILENO), .enabled = true, .last_decile = -1, .phase = -1 };
        bool json = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "m:njPfcq:h", opts, NULL)) != -1)
                switch (c) {
                case 'm':
                        o.mode = compact_mode_from_string(optarg);
                        if ((int) o.mode < 0) {
                                fprintf(stderr, "vhdctl: unknown mode '%s' (full, fs or zero)\n", optarg);
                                return 2;
                        }
                        break;
                case 'n': o.dry_run = true; break;
                case 'j': json = true; break;
                case 'P': bar.enabled = false; break;
                case 'f': o.force_dirty = true; break;
                case 'c': o.force_children = true; break;
                case 'q': o.queue_depth = (unsigned) atoi(optarg); break;
                case 'h': printf("Usage: %s\n", usage); return 0;
                default: fprintf(stderr, "Usage: %s\n", usage); return 2;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", usage);
                return 2;
        }
        const char *file = argv[optind];
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        o.progress = progress;
        o.userdata = &bar;

        r = compact_run(file, &o, &rep, &problems);
        if (bar.enabled && bar.tty && (int) bar.phase >= 0)
                fputc('\n', stderr);
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(file, &problems.first);
                else
                        print_errno(file, r, r == -ECANCELED ? "cancelled; the image is valid, run again to finish" : NULL);
                return 1;
        }
        if (json) {
                struct json j = { .f = stdout };
                json_begin_object(&j, NULL);
                json_string(&j, "file", file);
                json_string(&j, "mode", compact_mode_to_string(o.mode));
                json_bool(&j, "dry-run", rep.dry_run);
                json_u64(&j, "size-before", rep.size_before);
                json_u64(&j, "size-after", rep.size_after);
                json_u64(&j, "blocks-allocated", rep.blocks_allocated);
                json_u64(&j, "blocks-dropped-fs", rep.dropped_fs);
                json_u64(&j, "blocks-dropped-zero", rep.dropped_zero);
                json_u64(&j, "blocks-moved", rep.moved);
                json_u64(&j, "bytes-moved", rep.bytes_moved);
                json_u64(&j, "bytes-read", rep.bytes_read);
                json_u64(&j, "bytes-written", rep.bytes_written);
                json_end_object(&j);
        } else
                printf("%s: %s%" PRIu64 " -> %" PRIu64 " bytes; dropped %u blocks (%u free in the file system, %u zero); "
                       "moved %u blocks (%" PRIu64 " bytes); %.2f s\n",
                       file, rep.dry_run ? "would go " : "", rep.size_before, rep.size_after,
                       rep.dropped_fs + rep.dropped_zero, rep.dropped_fs, rep.dropped_zero, rep.moved,
                       rep.bytes_moved, rep.seconds);
        return 0;
}
