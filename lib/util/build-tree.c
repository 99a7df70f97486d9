/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers from the build tree when run from it: see build-tree.h. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util/build-tree.h"
#include "util/macro.h"

int vc_build_tree_path(const char *rel, char **ret_path)
{
        _cleanup_free_ char *root = NULL;
        char exe[PATH_MAX];
        ssize_t n;
        size_t len;

        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0)
                return -errno;
        exe[n] = 0;
        /* The tree's real name: the kernel gives the executable's. */
        root = realpath(VHD_BUILD_ROOT, NULL);
        if (!root)
                return errno == ENOENT ? 0 : -errno;
        len = strlen(root);
        if (strncmp(exe, root, len) != 0 || exe[len] != '/')
                return 0;
        char *p;
        if (asprintf(&p, "%s/%s", root, rel) < 0)
                return -ENOMEM;
        *ret_path = p;
        return 1;
}
