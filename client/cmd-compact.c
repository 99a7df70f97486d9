/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json]
 * [--no-progress] [--force-dirty] [--force-children] [--queue-depth N]`:
 * the command line; the engine runs in compact-local.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "compact-client.h"
#include "vhdctl.h"

#define USAGE                                                                                         \
        "vhdctl compact FILE [--mode full|fs|zero] [--dry-run] [--json] [--no-progress]\n"              \
        "                    [--force-dirty] [--force-children] [--queue-depth N]"

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
        struct compact_args a = {
                .opts = { .mode = COMPACT_MODE_FULL },
                .progress = true,
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "m:njPfcq:h", opts, NULL)) != -1)
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
                case 'h': printf("Usage: %s\n", USAGE); return 0;
                default: fprintf(stderr, "Usage: %s\n", USAGE); return 2;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", USAGE);
                return 2;
        }
        a.file = argv[optind];
        return compact_local(&a);
}
