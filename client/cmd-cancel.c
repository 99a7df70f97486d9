/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl cancel JOB [--user]`: ask a daemon job to stop at its next safe
 * point (its image stays valid).  JOB is the object path `vhdctl compact
 * --no-wait` printed, or just its number.  Returns once the daemon has
 * taken the request; the job then ends as "cancelled" (see `vhdctl jobs`).
 */
#include <getopt.h>
#include <stdio.h>

#include "bus-client.h"
#include "job-state.h"
#include "util/macro.h"
#include "vhdctl.h"

#define USAGE "vhdctl cancel JOB [--user]   (JOB: /org/vhd/Compact/job/N or N)"

int cmd_cancel(int argc, char **argv)
{
        enum { OPT_USER = 0x100 };
        static const struct option opts[] = {
                { "user", no_argument, NULL, OPT_USER },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        char job[128];
        bool user = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
                switch (c) {
                case OPT_USER: user = true; break;
                case 'h': printf("Usage: %s\n", USAGE); return 0;
                default: fprintf(stderr, "Usage: %s\n", USAGE); return 2;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", USAGE);
                return 2;
        }
        if (job_path_from_arg(argv[optind], job, sizeof job) < 0) {
                fprintf(stderr, "vhdctl: '%s': not a job (expected %sN or N)\n", argv[optind], VC_BUS_JOB_PREFIX "/");
                return 2;
        }
        r = bus_client_connect(user, true, &bus);
        if (r <= 0)
                return 1;
        r = sd_bus_call_method(bus, VC_BUS_NAME, job, VC_BUS_JOB, "Cancel", &error, NULL, "");
        if (r < 0) {
                print_bus_error(job, &error, r);
                return 1;
        }
        return 0;
}
