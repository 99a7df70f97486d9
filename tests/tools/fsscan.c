/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fsscan: the registry's probe and scan (lib/fs/fs.h) over a raw volume,
 * for the shell tests of ext2/3/4, FAT, exFAT and swap.
 *
 *     fsscan [--force-dirty] [--offline] [--ranges] [--clobber]
 *            [--type NAME] [--offset BYTES] [--size BYTES] IMAGE
 *
 * Prints "key value" lines: fs (the probed entry's name, or "none"; with
 * --type the named entry, scanned without probing, so a damaged volume
 * reaches its scanner's refusal), then the generic facts of struct
 * vc_fs_info, then the entry's own facts where it has some (ext:
 * block_size, groups, uninit_groups ...), then with --ranges every free
 * range as "range START LENGTH".  --clobber writes random bytes over every
 * range the scan granted (the destructive oracle of FS-AWARE.md §4.2);
 * --offline says the disk is not running (what a compaction holds).
 *
 * Exit status: 0 scanned (see "clean"), 1 the scan failed or nothing was
 * recognised ("problem ID FIELD OFFSET" on stdout), 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fs/ext4.h"
#include "fs/freemap.h"
#include "fs/ntfs.h"
#include "fs/fs.h"
#include "scan-out.h"
#include "source.h"
#include "util/problem.h"

static int clobber(int fd, const struct vc_freemap *m)
{
        static uint8_t buf[1 << 20];

        for (size_t i = 0; i < m->n; i++)
                for (uint64_t done = 0; done < m->v[i].len;) {
                        size_t n = m->v[i].len - done < sizeof buf ? (size_t) (m->v[i].len - done) : sizeof buf;
                        if (getrandom(buf, n, 0) != (ssize_t) n ||
                            pwrite(fd, buf, n, (off_t) (m->v[i].start + done)) != (ssize_t) n)
                                return -errno ?: -EIO;
                        done += n;
                }
        return fsync(fd) < 0 ? -errno : 0;
}

/* The facts of an entry's scan detail (its ret_detail), for the entries
 * whose tests check them. */
union detail {
        struct ext4_info ext4;
        struct ntfs_info ntfs;          /* written by "ntfs", not printed: ntfsdump does */
};

static void print_detail(const struct vc_fs_type *type, const union detail *d)
{
        if (strcmp(type->name, "ext2/3/4") == 0) {
                printf("block_size %u\nblocks_count %" PRIu64 "\n", d->ext4.block_size, d->ext4.blocks_count);
                printf("clusters_count %" PRIu64 "\n", d->ext4.clusters_count);
                printf("groups %u\nuninit_groups %u\n", d->ext4.groups, d->ext4.uninit_groups);
        }
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                { "force-dirty", no_argument, NULL, 'f' },
                { "offline", no_argument, NULL, 'l' },
                { "ranges", no_argument, NULL, 'r' },
                { "clobber", no_argument, NULL, 'c' },
                { "type", required_argument, NULL, 't' },
                { "offset", required_argument, NULL, 'o' },
                { "size", required_argument, NULL, 's' },
                {}
        };
        struct vc_fs_scan_opts so = {};
        bool ranges = false, wipe = false, have_size = false;
        uint64_t offset = 0, size = 0;
        struct vc_problems problems = {};
        struct vc_freemap map = {};
        struct vc_fs_info info;
        union detail detail = {};
        struct vc_source src;
        uint8_t head[VC_FS_PROBE_SIZE];
        const struct vc_fs_type *type = NULL;
        int c, fd, r;

        while ((c = getopt_long(argc, argv, "flrct:o:s:", opts, NULL)) >= 0) {
                switch (c) {
                case 'f': so.force_dirty = true; break;
                case 'l': so.offline = true; break;
                case 'r': ranges = true; break;
                case 'c': wipe = true; break;
                case 't':
                        type = vc_fs_type_by_name(optarg);
                        if (!type) {
                                fprintf(stderr, "fsscan: no file system '%s' in the registry\n", optarg);
                                return 2;
                        }
                        break;
                case 'o':
                        if (scan_out_parse_u64(optarg, &offset) < 0)
                                return 2;
                        break;
                case 's':
                        if (scan_out_parse_u64(optarg, &size) < 0)
                                return 2;
                        have_size = true;
                        break;
                default:
                        fprintf(stderr, "usage: fsscan [--force-dirty] [--offline] [--ranges] [--clobber] "
                                "[--type NAME] [--offset N] [--size N] IMAGE\n");
                        return 2;
                }
        }
        if (optind + 1 != argc)
                return 2;
        fd = open(argv[optind], (wipe ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0 || vc_source_fd(&src, fd) < 0) {
                fprintf(stderr, "fsscan: '%s': cannot open\n", argv[optind]);
                return 2;
        }
        if (!have_size)
                size = offset < src.size ? src.size - offset : 0;
        size_t hlen = offset < src.size ? (size_t) (src.size - offset < sizeof head ? src.size - offset : sizeof head) : 0;
        if (vc_source_pread(&src, head, hlen, offset) < 0)
                return 2;
        if (!type)
                type = vc_fs_probe(&SPAN(head, hlen), size, VC_FS_PROBE_HINT, NULL);
        printf("fs %s\n", type ? type->name : "none");
        if (!type)
                return 1;
        src.bytes_read = src.reads = 0;
        r = vc_fs_scan(type, &src, offset, size, &so, &map, &info, &detail, &problems);
        if (vc_problems_any(&problems))
                scan_out_problem("fsscan", &problems.first);
        if (r < 0) {
                printf("error %d\nfree_ranges %zu\n", r, map.n);
                return 1;
        }
        freemap_normalize(&map);
        printf("cluster_size %u\n", info.cluster_size);
        printf("total_clusters %" PRIu64 "\n", info.total_clusters);
        printf("free_clusters %" PRIu64 "\n", info.free_clusters);
        printf("label %s\n", info.label);
        printf("clean %s\n", info.clean ? "yes" : "no");
        if (!info.clean)
                printf("reason %s\n", info.not_clean_reason);
        print_detail(type, &detail);
        printf("free_ranges %zu\n", map.n);
        printf("free_bytes %" PRIu64 "\n", freemap_total(&map));
        printf("bytes_read %" PRIu64 "\nreads %" PRIu64 "\n", src.bytes_read, src.reads);
        if (ranges)
                scan_out_ranges(&map);
        if (wipe) {
                r = clobber(fd, &map);
                if (r < 0) {
                        fprintf(stderr, "fsscan: clobber: %s\n", strerror(-r));
                        return 2;
                }
        }
        freemap_done(&map);
        vc_problems_done(&problems);
        close(fd);
        return 0;
}
