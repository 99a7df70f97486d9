/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "find-images.h"

int find_images(char *const *args, int n, bool recursive, struct found_images *ret)
{
        int r = 0;

        for (int i = 0; r == 0 && i < n; i++) {
                struct stat st;
                if (stat(args[i], &st) < 0) {
                        r = found_images_add(ret, args[i], -errno);
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        r = found_images_add(ret, args[i], 0);
                        continue;
                }
                if (!recursive) {
                        fprintf(stderr, "vhdctl: '%s': not-supported: a folder: give --recursive to compact the "
                                "disks in it\n", args[i]);
                        return -EISDIR;
                }
                r = image_walk(args[i], NULL, ret);
        }
        return r < 0 ? r : found_images_sort(ret);
}
