/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * powercut: the power-cut model of tests/lib/powercut.h for shell tests.
 *
 *   powercut list LOG
 *       one line per record: INDEX KIND OFFSET LENGTH [LABEL]; the last
 *       line is "end N", N the number of records.
 *   powercut apply ORIG LOG OUT AT SEED [IGNORE]
 *       OUT = ORIG after a power cut once records [0, AT) happened
 *       (AT "all": the whole log); SEED picks what pending survives
 *       ("all": every pending piece, i.e. the file as the run left it;
 *       SEED:PERMILLE: that seed at that rate instead of the seed's own);
 *       IGNORE: the label of a sync that is not a barrier (several: '|' between).  Prints
 *       "durable D pending P kept K rate R".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "powercut.h"

static const char *kind_name(enum vc_power_kind k)
{
        switch (k) {
        case VC_POWER_WRITE: return "write";
        case VC_POWER_SYNC: return "sync";
        case VC_POWER_TRUNCATE: return "truncate";
        case VC_POWER_PUNCH: return "punch";
        }
        return "?";
}

static int usage(void)
{
        fprintf(stderr, "usage: powercut list LOG\n"
                        "       powercut apply ORIG LOG OUT AT|all SEED|all [IGNORE-LABEL]\n");
        return 2;
}

int main(int argc, char **argv)
{
        struct pc_log log;
        int r;

        if (argc < 3)
                return usage();
        bool list = !strcmp(argv[1], "list");
        if (!list && (strcmp(argv[1], "apply") || argc < 7 || argc > 8))
                return usage();
        r = pc_log_read(argv[list ? 2 : 3], &log);
        if (r < 0) {
                fprintf(stderr, "powercut: %s: %s\n", argv[list ? 2 : 3],
                        r == -EBADMSG ? "not a power-cut log" : r == -EXDEV ? "records of more than one file"
                                                                             : strerror(-r));
                return 1;
        }
        if (list) {
                for (size_t i = 0; i < log.n; i++)
                        printf("%zu %s %" PRIu64 " %" PRIu64 "%s%s\n", i, kind_name(log.ops[i].kind), log.ops[i].off,
                               log.ops[i].len, log.ops[i].kind == VC_POWER_SYNC ? " " : "", log.ops[i].label);
                printf("end %zu\n", log.n);
                pc_log_done(&log);
                return 0;
        }
        struct pc_cut cut = { .at = log.n, .permille = -1, .ignore = argc > 7 ? argv[7] : NULL };
        struct pc_result res;
        if (strcmp(argv[5], "all"))
                cut.at = (size_t) strtoull(argv[5], NULL, 10);
        if (!strcmp(argv[6], "all"))
                cut.permille = 1000;
        else {
                char *end;
                cut.seed = strtoull(argv[6], &end, 10);
                if (*end == ':')
                        cut.permille = (int) strtoul(end + 1, NULL, 10);
        }
        r = pc_apply(argv[2], &log, &cut, argv[4], &res);
        pc_log_done(&log);
        if (r < 0) {
                fprintf(stderr, "powercut: writing %s: %s\n", argv[4], strerror(-r));
                return 1;
        }
        printf("durable %zu pending %zu kept %zu rate %u\n", res.durable, res.pending, res.kept, res.permille);
        return 0;
}
