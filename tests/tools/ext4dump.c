/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ext4dump: a tiny CLI over the registry's ext2/3/4 scanner for the shell
 * tests (the ext twin of ntfsdump).
 *
 *     ext4dump [--force-dirty] [--ranges] [--offset BYTES] [--size BYTES] IMAGE
 *
 * Prints "key value" lines, then with --ranges every free range as
 * "range START LENGTH" (absolute byte offsets, normalized).
 * Exit status: 0 scanned (clean or not: see "clean"), 1 the scan failed
 * (a "problem ID FIELD OFFSET" line), 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/ext4.h"
#include "fs/freemap.h"
#include "fs/fs.h"
#include "source.h"
#include "util/problem.h"

static int parse_u64(const char *s, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static void print_problem(const struct vc_problem *p)
{
        char buf[512];

        printf("problem %s %s %" PRIu64 "\n", vc_problem_id_to_string(p->id),
               p->field ? p->field : "-", p->offset);
        vc_problem_format(p, buf, sizeof buf);
        fprintf(stderr, "ext4dump: %s\n", buf);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "force-dirty", no_argument, NULL, 'f' },
                { "ranges", no_argument, NULL, 'r' },
                { "offset", required_argument, NULL, 'o' },
                { "size", required_argument, NULL, 's' },
                {}
        };
        struct vc_fs_scan_opts sopts = {};
        bool ranges = false, have_size = false;
        uint64_t offset = 0, size = 0;
        struct vc_problems problems = {};
        struct vc_freemap map = {};
        struct vc_fs_info gen;
        struct ext4_info info = {};
        const struct vc_fs_type *t = vc_fs_type_by_name("ext2/3/4");
        struct vc_source src;
        int c, fd, r;

        while ((c = getopt_long(argc, argv, "fro:s:", opts, NULL)) >= 0) {
                switch (c) {
                case 'f': sopts.force_dirty = true; break;
                case 'r': ranges = true; break;
                case 'o': if (parse_u64(optarg, &offset) < 0) return 2; break;
                case 's': if (parse_u64(optarg, &size) < 0) return 2; have_size = true; break;
                default: return 2;
                }
        }
        if (optind + 1 != argc || !t) {
                fprintf(stderr, "usage: ext4dump [--force-dirty] [--ranges] [--offset N] [--size N] IMAGE\n");
                return 2;
        }
        fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || vc_source_fd(&src, fd) < 0) {
                fprintf(stderr, "ext4dump: cannot open '%s'\n", argv[optind]);
                return 2;
        }
        if (!have_size)
                size = offset < src.size ? src.size - offset : 0;
        r = vc_fs_scan(t, &src, offset, size, &sopts, &map, &gen, &info, &problems);
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(&problems.first);
                printf("error %d\nfree_ranges %zu\n", r, map.n);
                close(fd);
                return 1;
        }
        if (vc_problems_any(&problems))
                print_problem(&problems.first);
        freemap_normalize(&map);
        printf("block_size %u\ncluster_size %u\n", info.block_size, info.cluster_size);
        printf("blocks_count %" PRIu64 "\nclusters_count %" PRIu64 "\n", info.blocks_count, info.clusters_count);
        printf("groups %u\nuninit_groups %u\n", info.groups, info.uninit_groups);
        printf("free_clusters %" PRIu64 "\n", info.free_clusters);
        printf("label %s\n", gen.label);
        printf("clean %s\n", gen.clean ? "yes" : "no");
        if (!gen.clean)
                printf("reason %s\n", gen.not_clean_reason);
        printf("free_ranges %zu\nfree_bytes %" PRIu64 "\n", map.n, freemap_total(&map));
        printf("bytes_read %" PRIu64 "\nreads %" PRIu64 "\n", src.bytes_read, src.reads);
        if (ranges)
                for (size_t i = 0; i < map.n; i++)
                        printf("range %" PRIu64 " %" PRIu64 "\n", map.v[i].start, map.v[i].len);
        freemap_done(&map);
        vc_problems_done(&problems);
        close(fd);
        return 0;
}
