/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "find-images.h"
#include "util/fd-util.h"

#define WALK_FDS 32     /* descriptors nftw may hold open at once */

bool image_by_content(const char *path)
{
        uint8_t head[8], tail[8];
        struct stat st;
        bool yes = false;
        int fd;

        /* O_NONBLOCK: a FIFO that appeared since the walk saw a file
         * must not hang the open; O_NOFOLLOW: no link is probed. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return false;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 512) {
                if (pread(fd, head, sizeof head, 0) == (ssize_t) sizeof head)
                        yes = !memcmp(head, "vhdxfile", 8) || !memcmp(head, "conectix", 8);
                if (!yes && pread(fd, tail, sizeof tail, st.st_size - 512) == (ssize_t) sizeof tail)
                        yes = !memcmp(tail, "conectix", 8);
        }
        close(fd);
        return yes;
}

static int add(struct found_images *l, const char *path, int error)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 16;
                struct found_image *v = reallocarray(l->v, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        l->v[l->n++] = (struct found_image) { p, error };
        return 0;
}

/* nftw() has no user data: the list being filled. */
static struct found_images *walking;
static int walk_error;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void) ftw;
        switch (type) {
        case FTW_F:
                if (S_ISREG(st->st_mode) && image_by_content(path))
                        walk_error = add(walking, path, 0);
                break;
        case FTW_DNR:
                walk_error = add(walking, path, -EACCES);
                break;
        case FTW_NS:
                walk_error = add(walking, path, -EIO);
                break;
        default:        /* folders, symbolic links (FTW_SL: not followed) */
                break;
        }
        return walk_error < 0;
}

static int cmp_paths(const void *a, const void *b)
{
        const struct found_image *x = a, *y = b;
        return strcmp(x->path, y->path);
}

struct file_id {
        dev_t dev;
        ino_t ino;
        size_t i;               /* the entry (the list is in path order) */
};

static int cmp_ids(const void *a, const void *b)
{
        const struct file_id *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return x->i < y->i ? -1 : x->i > y->i;
}

/* Drops the entries whose file is already listed under another name
 * (the first by path stays). */
static int dedupe(struct found_images *l)
{
        struct file_id *ids = calloc(l->n + 1, sizeof *ids);
        bool *dup = calloc(l->n + 1, sizeof *dup);
        size_t m = 0, k = 0;
        int r = ids && dup ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < l->n; i++) {
                struct stat st;
                if (l->v[i].error == 0 && stat(l->v[i].path, &st) == 0)
                        ids[m++] = (struct file_id) { st.st_dev, st.st_ino, i };
        }
        if (r == 0) {
                qsort(ids, m, sizeof *ids, cmp_ids);
                for (size_t j = 1; j < m; j++)
                        dup[ids[j].i] = ids[j].dev == ids[j - 1].dev && ids[j].ino == ids[j - 1].ino;
                for (size_t i = 0; i < l->n; i++) {
                        if (dup[i])
                                free(l->v[i].path);
                        else
                                l->v[k++] = l->v[i];
                }
                l->n = k;
        }
        free(ids);
        free(dup);
        return r;
}

int find_images(char *const *args, int n, bool recursive, struct found_images *ret)
{
        int r = 0;

        for (int i = 0; r == 0 && i < n; i++) {
                struct stat st;
                if (stat(args[i], &st) < 0) {
                        r = add(ret, args[i], -errno);
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        r = add(ret, args[i], 0);
                        continue;
                }
                if (!recursive) {
                        fprintf(stderr, "vhdctl: '%s': not-supported: a folder: give --recursive to compact the "
                                "disks in it\n", args[i]);
                        return -EISDIR;
                }
                walking = ret;
                walk_error = 0;
                if (nftw(args[i], visit, WALK_FDS, FTW_PHYS) < 0 && walk_error == 0)
                        r = add(ret, args[i], -errno);
                else
                        r = walk_error;
                walking = NULL;
        }
        if (r < 0)
                return r;
        if (ret->n == 0)
                return 0;
        qsort(ret->v, ret->n, sizeof *ret->v, cmp_paths);
        return dedupe(ret);
}

void found_images_done(struct found_images *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].path);
        free(l->v);
        *l = (struct found_images) {};
}
