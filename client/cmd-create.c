/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl create CHILD --parent PARENT [--block-size BYTES]`: a new, empty
 * differencing disk over PARENT (qemu-img cannot make VHD children).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "vhd/vhd.h"
#include "vhdctl.h"

int cmd_create(int argc, char **argv)
{
        static const struct option opts[] = {
                { "parent", required_argument, NULL, 'p' },
                { "block-size", required_argument, NULL, 'b' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *usage = "vhdctl create CHILD --parent PARENT [--block-size BYTES]";
        const char *parent = NULL;
        unsigned long block_size = 0;
        char *end;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "p:b:h", opts, NULL)) != -1)
                switch (c) {
                case 'p': parent = optarg; break;
                case 'b':
                        block_size = strtoul(optarg, &end, 0);
                        if (*end || block_size == 0 || block_size > UINT32_MAX) {
                                fprintf(stderr, "vhdctl: invalid block size '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'h': printf("Usage: %s\n", usage); return 0;
                default: fprintf(stderr, "Usage: %s\n", usage); return 2;
                }
        if (!parent || optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", usage);
                return 2;
        }
        r = vhd_create_differencing(argv[optind], parent, (uint32_t) block_size);
        if (r < 0) {
                print_errno(argv[optind], r, r == -EINVAL ? "invalid block size" : "cannot create");
                return 1;
        }
        return 0;
}
