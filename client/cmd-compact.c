/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json]
 * [--no-progress] [--force-dirty] [--force-children] [--no-block-moves] [--local | --bus]
 * [--user] [--wait | --no-wait] [--queue-depth N]`, and over many disks
 * `vhdctl compact FILE|DIR... [--recursive] [--jobs N] [the same options]`
 * (compact-batch.c: several arguments, a folder, --recursive or --jobs).
 *
 * Which engine runs: --local, the library in this process; --bus, a job of
 * the daemon (org.vhd.Compact on the system bus, or with --user the session
 * bus), an error when it cannot be reached; neither, the daemon when its
 * name is on the bus (owned or activatable), else in-process.  --queue-depth
 * tunes the in-process executor only, so it implies --local unless --bus is
 * given (then it is refused).  Both engines show the same progress and end
 * with the same summary (compact-output.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "compact-client.h"
#include "image/open.h"
#include "vhdctl.h"

#define USAGE                                                                                         \
        "vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json] [--no-progress]\n"              \
        "                    [--force-dirty] [--force-children] [--local | --bus] [--user]\n"           \
        "                    [--wait | --no-wait] [--queue-depth N] [--parent PATH] [--no-block-moves]\n" \
        "       vhdctl compact FILE|DIR... [--recursive] [--jobs N] [the options above but --no-wait, --parent]"

int compact_one(const struct compact_args *a, enum compact_route route)
{
        if (route != COMPACT_ROUTE_LOCAL) {
                int r = compact_bus(a, route == COMPACT_ROUTE_BUS || !a->wait);
                if (r != COMPACT_BUS_ABSENT)
                        return r;
        }
        return compact_local(a);
}

int cmd_compact(int argc, char **argv)
{
        enum { OPT_LOCAL = 0x100, OPT_BUS, OPT_USER, OPT_WAIT, OPT_NO_WAIT, OPT_PARENT, OPT_NO_BLOCK_MOVES,
               OPT_JOBS };
        static const struct option opts[] = {
                { "mode", required_argument, NULL, 'm' },
                { "dry-run", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "no-progress", no_argument, NULL, 'P' },
                { "force-dirty", no_argument, NULL, 'f' },
                { "force-children", no_argument, NULL, 'c' },
                { "queue-depth", required_argument, NULL, 'q' },
                { "local", no_argument, NULL, OPT_LOCAL },
                { "bus", no_argument, NULL, OPT_BUS },
                { "user", no_argument, NULL, OPT_USER },
                { "wait", no_argument, NULL, OPT_WAIT },
                { "no-wait", no_argument, NULL, OPT_NO_WAIT },
                { "parent", required_argument, NULL, OPT_PARENT },
                { "no-block-moves", no_argument, NULL, OPT_NO_BLOCK_MOVES },
                { "recursive", no_argument, NULL, 'r' },
                { "jobs", required_argument, NULL, OPT_JOBS },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct compact_args a = {
                .opts = { .mode = COMPACT_MODE_FULL },
                .progress = true,
                .wait = true,
        };
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        enum compact_route route = COMPACT_ROUTE_AUTO;
        int c;
        bool no_wait = false, recursive = false;
        unsigned jobs = 0;
        char *end;

        optind = 1;
        while ((c = getopt_long(argc, argv, "m:njPfcq:rh", opts, NULL)) != -1)
                switch (c) {
                case 'm':
                        a.opts.mode = compact_mode_from_string(optarg);
                        if ((int) a.opts.mode < 0) {
                                fprintf(stderr, "vhdctl: unknown mode '%s' (full, fs or zero)\n", optarg);
                                return 2;
                        }
                        break;
                case 'n': a.opts.dry_run = true; break;
                case 'j': a.json = true; break;
                case 'P': a.progress = false; break;
                case 'f': a.opts.force_dirty = true; break;
                case 'c': a.opts.force_children = true; break;
                case 'q': a.opts.queue_depth = (unsigned) atoi(optarg); break;
                case OPT_LOCAL: route = COMPACT_ROUTE_LOCAL; break;
                case OPT_BUS: route = COMPACT_ROUTE_BUS; break;
                case OPT_USER: a.user_bus = true; break;
                case OPT_WAIT: no_wait = false; break;
                case OPT_NO_WAIT: no_wait = true; break;
                case OPT_PARENT: ctx.parent_path = optarg; break;
                case OPT_NO_BLOCK_MOVES: a.opts.no_block_moves = true; break;
                case 'r': recursive = true; break;
                case OPT_JOBS:
                        errno = 0;
                        unsigned long j = strtoul(optarg, &end, 10);
                        if (errno || *end || j < 1 || j > 64) {
                                fprintf(stderr, "vhdctl: --jobs takes a number from 1 to 64, not '%s'\n", optarg);
                                return 2;
                        }
                        jobs = (unsigned) j;
                        break;
                case 'h': printf("Usage: %s\n", USAGE); return 0;
                default: fprintf(stderr, "Usage: %s\n", USAGE); return 2;
                }
        struct stat st;
        /* A folder alone is a run over many disks too (refused without
         * --recursive, by compact_batch(), naming it). */
        bool batch = recursive || jobs || argc - optind > 1 ||
                     (argc - optind == 1 && stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode));
        if (optind >= argc || (!batch && optind != argc - 1)) {
                fprintf(stderr, "Usage: %s\n", USAGE);
                return 2;
        }
        if (batch && (no_wait || ctx.parent_path)) {
                fprintf(stderr, "vhdctl: %s is for one disk; a run over several waits for each and finds their "
                        "parents itself\n", no_wait ? "--no-wait" : "--parent");
                return 2;
        }
        a.file = argv[optind];
        a.wait = !no_wait;
        if (a.opts.queue_depth) {
                if (route == COMPACT_ROUTE_BUS) {
                        fprintf(stderr, "vhdctl: --queue-depth tunes the in-process engine; it cannot go with --bus\n");
                        return 2;
                }
                route = COMPACT_ROUTE_LOCAL;
        }
        if (ctx.parent_path) {
                /* The daemon takes no parent mapping (yet): in-process,
                 * reading the file systems through the open chain too
                 * (the nbdkit attach could not find the parent). */
                if (route == COMPACT_ROUTE_BUS || no_wait) {
                        fprintf(stderr, "vhdctl: --parent is for the in-process engine; it cannot go with %s\n",
                                no_wait ? "--no-wait" : "--bus");
                        return 2;
                }
                route = COMPACT_ROUTE_LOCAL;
                a.opts.open = &ctx;
                a.opts.in_process = true;
        }
        if (no_wait && route == COMPACT_ROUTE_LOCAL) {
                fprintf(stderr, "vhdctl: --no-wait needs the daemon; it cannot go with --local%s\n",
                        a.opts.queue_depth ? " (implied by --queue-depth)" : "");
                return 2;
        }
        if (no_wait && a.opts.dry_run) {
                fprintf(stderr, "vhdctl: --no-wait starts a job; a --dry-run has none\n");
                return 2;
        }

        if (batch)
                return compact_batch(&a, argv + optind, argc - optind, recursive, jobs, route);
        return compact_one(&a, route);
}
