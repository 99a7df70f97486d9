/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ntfsdump: a tiny CLI over ntfs_scan() for the shell tests.
 *
 *     ntfsdump [--force-dirty] [--ranges] [--offset BYTES] [--size BYTES] IMAGE
 *
 * IMAGE is a raw disk (or a raw volume with --offset 0, the default); the
 * partition is [offset, offset+size), size defaulting to the rest of the
 * file.  Prints "key value" lines (one fact per line, for grep/awk), then
 * with --ranges every free range as "range START LENGTH" (absolute byte
 * offsets, normalized).  Always prints "bytes_read" and "reads".
 *
 * Exit status: 0 scanned (clean or not: see the "clean" line), 1 the scan
 * failed (a "problem ID FIELD OFFSET" line on stdout, the message on
 * stderr), 2 usage or I/O error opening IMAGE.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/freemap.h"
#include "fs/ntfs.h"
#include "scan-out.h"
#include "source.h"
#include "util/problem.h"

static void usage(FILE *f)
{
        fprintf(f, "usage: ntfsdump [--force-dirty] [--ranges] [--offset BYTES] [--size BYTES] IMAGE\n");
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "force-dirty", no_argument, NULL, 'f' },
                { "ranges", no_argument, NULL, 'r' },
                { "offset", required_argument, NULL, 'o' },
                { "size", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        bool force = false, ranges = false, have_size = false;
        uint64_t offset = 0, size = 0;
        struct vc_problems problems = {};
        struct vc_freemap map = {};
        struct ntfs_info info;
        struct vc_source src;
        int c, fd, r;

        while ((c = getopt_long(argc, argv, "fro:s:h", opts, NULL)) >= 0) {
                switch (c) {
                case 'f': force = true; break;
                case 'r': ranges = true; break;
                case 'o':
                        if (scan_out_parse_u64(optarg, &offset) < 0) {
                                usage(stderr);
                                return 2;
                        }
                        break;
                case 's':
                        if (scan_out_parse_u64(optarg, &size) < 0) {
                                usage(stderr);
                                return 2;
                        }
                        have_size = true;
                        break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind + 1 != argc) {
                usage(stderr);
                return 2;
        }
        fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "ntfsdump: '%s': %s\n", argv[optind], strerror(errno));
                return 2;
        }
        r = vc_source_fd(&src, fd);
        if (r < 0) {
                fprintf(stderr, "ntfsdump: '%s': %s\n", argv[optind], strerror(-r));
                close(fd);
                return 2;
        }
        if (!have_size)
                size = offset < src.size ? src.size - offset : 0;

        printf("probe %s\n", ntfs_probe(&src, offset) ? "yes" : "no");
        src.bytes_read = src.reads = 0;
        r = ntfs_scan(&src, offset, size, force, &map, &info, &problems);
        if (r < 0) {
                if (vc_problems_any(&problems))
                        scan_out_problem("ntfsdump", &problems.first);
                else
                        fprintf(stderr, "ntfsdump: scan failed: %s\n", strerror(-r));
                printf("error %d\n", r);
                printf("free_ranges %zu\n", map.n);
                printf("bytes_read %" PRIu64 "\nreads %" PRIu64 "\n", src.bytes_read, src.reads);
                close(fd);
                return 1;
        }
        if (vc_problems_any(&problems))
                scan_out_problem("ntfsdump", &problems.first);
        freemap_normalize(&map);
        printf("bytes_per_sector %u\n", info.bytes_per_sector);
        printf("cluster_size %u\n", info.cluster_size);
        printf("mft_record_size %u\n", info.mft_record_size);
        printf("total_sectors %" PRIu64 "\n", info.total_sectors);
        printf("total_clusters %" PRIu64 "\n", info.total_clusters);
        printf("free_clusters %" PRIu64 "\n", info.free_clusters);
        printf("bad_clusters %" PRIu64 "\n", info.bad_clusters);
        printf("mft_lcn %" PRIu64 "\n", info.mft_lcn);
        printf("version %u.%u\n", info.version_major, info.version_minor);
        printf("volume_flags 0x%04x\n", info.volume_flags);
        printf("label %s\n", info.label);
        printf("clean %s\n", info.clean ? "yes" : "no");
        if (!info.clean)
                printf("reason %s\n", info.not_clean_reason);
        printf("free_ranges %zu\n", map.n);
        printf("free_bytes %" PRIu64 "\n", freemap_total(&map));
        printf("bytes_read %" PRIu64 "\nreads %" PRIu64 "\n", src.bytes_read, src.reads);
        if (ranges)
                scan_out_ranges(&map);
        freemap_done(&map);
        vc_problems_done(&problems);
        close(fd);
        return 0;
}
