/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "find.h"

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

int found_images_add(struct found_images *l, const char *path, int error)
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

/* nftw() has no user data: the walk under way (one at a time). */
static struct {
        struct found_images *list;
        const struct image_walk_limits *limits;
        size_t entries;
        int error;
} walk;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        const struct image_walk_limits *lim = walk.limits;

        if (lim->max_entries && ++walk.entries > lim->max_entries) {
                walk.list->truncated = true;
                return FTW_STOP;
        }
        switch (type) {
        case FTW_F:
                if (S_ISREG(st->st_mode) && image_by_content(path))
                        walk.error = found_images_add(walk.list, path, 0);
                break;
        case FTW_DNR:
                walk.error = found_images_add(walk.list, path, -EACCES);
                break;
        case FTW_NS:
                walk.error = found_images_add(walk.list, path, -EIO);
                break;
        case FTW_D:
                if (lim->max_depth && (unsigned) ftw->level >= lim->max_depth + 1u) {
                        walk.list->truncated = true;
                        return FTW_SKIP_SUBTREE;
                }
                break;
        default:        /* symbolic links (FTW_SL: not followed) */
                break;
        }
        if (walk.error < 0)
                return FTW_STOP;
        if (lim->max_found && walk.list->n >= lim->max_found) {
                walk.list->truncated = true;
                return FTW_STOP;
        }
        return FTW_CONTINUE;
}

int image_walk(const char *folder, const struct image_walk_limits *limits, struct found_images *l)
{
        static const struct image_walk_limits none = {};
        int r;

        walk.list = l;
        walk.limits = limits ? limits : &none;
        walk.entries = 0;
        walk.error = 0;
        if (nftw(folder, visit, WALK_FDS, FTW_PHYS | FTW_ACTIONRETVAL) < 0 && walk.error == 0)
                r = found_images_add(l, folder, -errno);
        else
                r = walk.error;
        walk.list = NULL;
        walk.limits = NULL;
        return r;
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
                if (m > 1)
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

int found_images_sort(struct found_images *l)
{
        if (l->n == 0)
                return 0;
        qsort(l->v, l->n, sizeof *l->v, cmp_paths);
        return dedupe(l);
}

void found_images_done(struct found_images *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i].path);
        free(l->v);
        *l = (struct found_images) {};
}
