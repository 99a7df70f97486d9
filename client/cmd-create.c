/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl create CHILD --parent PARENT [--format vhd|vhdx] [--block-size
 * BYTES]`: a new, empty differencing disk over PARENT (qemu-img cannot
 * make VHD children, nor VHDX ones), in the parent's format unless
 * --format says otherwise; a chain never mixes VHD and VHDX (neither
 * format can name the other as its parent), so another format than the
 * parent's is refused.  `vhdctl create FILE --format vhdx --size BYTES
 * [--sector-size 512|4096] [--block-size BYTES]`: a new, empty dynamic
 * VHDX.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "vhd/vhd.h"
#include "vhdctl.h"
#include "vhdx/vhdx.h"

static int parse_u64(const char *s, const char *what, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v = strtoull(s, &end, 0);
        unsigned shift = 0;

        /* K, M, G, T: binary multiples. */
        if (*end && !end[1] && strchr("KMGT", *end))
                shift = 10 * (unsigned) (strchr("KMGT", *end) - "KMGT" + 1), end++;
        if (shift && v > (max >> shift))
                v = 0;
        v <<= shift;
        if (*s == '-' || *end || v == 0 || v > max) {
                fprintf(stderr, "vhdctl: invalid %s '%s'\n", what, s);
                return -1;
        }
        *ret = v;
        return 0;
}

int cmd_create(int argc, char **argv)
{
        static const struct option opts[] = {
                { "parent", required_argument, NULL, 'p' },
                { "block-size", required_argument, NULL, 'b' },
                { "format", required_argument, NULL, 'f' },
                { "size", required_argument, NULL, 's' },
                { "sector-size", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *usage = "vhdctl create CHILD --parent PARENT [--format vhd|vhdx] [--block-size BYTES]\n"
                            "       vhdctl create FILE --format vhdx --size BYTES [--sector-size 512|4096] "
                            "[--block-size BYTES]";
        const char *parent = NULL, *format = NULL;
        uint64_t block_size = 0, size = 0, sector = 0;
        struct vc_problems problems = {};
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "p:b:f:s:S:h", opts, NULL)) != -1)
                switch (c) {
                case 'p': parent = optarg; break;
                case 'f':
                        if (strcmp(optarg, "vhd") && strcmp(optarg, "vhdx")) {
                                fprintf(stderr, "vhdctl: unknown format '%s' (vhd or vhdx)\n", optarg);
                                return 2;
                        }
                        format = optarg;
                        break;
                case 'b':
                        if (parse_u64(optarg, "block size", UINT32_MAX, &block_size) < 0)
                                return 2;
                        break;
                case 's':
                        if (parse_u64(optarg, "size", UINT64_MAX, &size) < 0)
                                return 2;
                        break;
                case 'S':
                        if (parse_u64(optarg, "sector size", 4096, &sector) < 0)
                                return 2;
                        break;
                case 'h': printf("Usage: %s\n", usage); return 0;
                default: fprintf(stderr, "Usage: %s\n", usage); return 2;
                }
        if (optind != argc - 1 || (!parent && !size) || (parent && (size || sector))) {
                fprintf(stderr, "Usage: %s\n", usage);
                return 2;
        }
        const char *path = argv[optind];
        if (!parent) {
                if (!format || strcmp(format, "vhdx")) {
                        fprintf(stderr, "vhdctl: %s: only a differencing VHD can be created; a new disk from "
                                        "scratch needs --format vhdx\n", path);
                        return 2;
                }
                const struct vhdx_create_params p = { .virtual_size = size, .block_size = (uint32_t) block_size,
                                                      .logical_sector = (uint32_t) sector };
                r = vhdx_create(path, &p, &problems);
        } else {
                /* The parent's format, by content. */
                struct vc_image *img = NULL;
                r = vc_image_open(parent, NULL, VC_OPEN_NOPARENT, &problems, &img);
                if (r < 0) {
                        if (vc_problems_any(&problems))
                                print_problem(parent, &problems.first);
                        else
                                print_errno(parent, r, "cannot open the parent");
                        return 1;
                }
                const char *pf = vc_image_format(img)->name;
                bool is_vhdx = strcmp(pf, "vhdx") == 0;
                vc_image_free(img);
                if (format && strcmp(format, pf)) {
                        fprintf(stderr, "vhdctl: %s: the parent is a %s; a %s cannot be its child (a chain "
                                        "never mixes VHD and VHDX)\n", path, is_vhdx ? "VHDX" : "VHD",
                                format[3] ? "VHDX" : "VHD");
                        return 1;
                }
                if (is_vhdx) {
                        const struct vhdx_create_params p = { .parent = parent, .block_size = (uint32_t) block_size };
                        r = vhdx_create(path, &p, &problems);
                } else
                        r = vhd_create_differencing(path, parent, (uint32_t) block_size);
        }
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(parent ? parent : path, &problems.first);
                else
                        print_errno(path, r, r == -EINVAL ? "invalid size, sector size or block size" : "cannot create");
                return 1;
        }
        return 0;
}
