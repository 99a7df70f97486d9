/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * partdump: a tiny CLI over vc_partition_table_read() for the shell tests.
 *
 *     partdump [--sector-size BYTES] IMAGE
 *
 * IMAGE is a raw disk.  Prints the scheme and the number of partitions,
 * followed by " backup" when the backup GPT had to be used:
 *
 *     gpt 3 backup
 *
 * then one line per partition, sorted by start, byte offsets and sizes:
 *
 *     NUMBER START SIZE TYPE_NAME...
 *
 * Exit status: 0 read, 1 the table was refused (a "problem ID FIELD
 * OFFSET" line on stdout, the message on stderr), 2 usage or I/O error
 * opening IMAGE.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/partition.h"
#include "source.h"
#include "util/problem.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: partdump [--sector-size BYTES] IMAGE\n");
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "sector-size", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct vc_partition_table t;
        struct vc_problems problems = {};
        struct vc_source src;
        unsigned long sector_size = 512;
        char *end;
        int c, fd, r;

        while ((c = getopt_long(argc, argv, "s:h", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        errno = 0;
                        sector_size = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || sector_size > UINT32_MAX) {
                                fprintf(stderr, "partdump: bad sector size '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        if (optind + 1 != argc) {
                usage(stderr);
                return 2;
        }

        fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "partdump: '%s': %s\n", argv[optind], strerror(errno));
                return 2;
        }
        r = vc_source_fd(&src, fd);
        if (r < 0) {
                fprintf(stderr, "partdump: '%s': %s\n", argv[optind], strerror(-r));
                close(fd);
                return 2;
        }

        r = vc_partition_table_read(&src, (uint32_t) sector_size, &t, &problems);
        close(fd);
        if (r < 0) {
                if (problems.n > 0) {
                        char buf[512];
                        const struct vc_problem *p = &problems.first;

                        printf("problem %s %s %" PRIu64 "\n", vc_problem_id_to_string(p->id),
                               p->field ? p->field : "-", p->offset);
                        vc_problem_format(p, buf, sizeof buf);
                        fprintf(stderr, "partdump: '%s': %s\n", argv[optind], buf);
                } else
                        fprintf(stderr, "partdump: '%s': %s\n", argv[optind], strerror(-r));
                vc_problems_done(&problems);
                return r == -EINVAL ? 2 : 1;
        }

        printf("%s %zu%s\n", vc_part_scheme_to_string(t.scheme), t.n,
               t.used_backup_gpt ? " backup" : "");
        for (size_t i = 0; i < t.n; i++)
                printf("%u %" PRIu64 " %" PRIu64 " %s\n", t.v[i].number, t.v[i].start, t.v[i].size,
                       t.v[i].type_name);
        vc_partition_table_done(&t);
        vc_problems_done(&problems);
        return 0;
}
