/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening a name for root without trusting the symbolic links users plant
 * (resolve.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct resolved {
        int fd;                 /* open with the flags asked, blocking */
        struct stat st;         /* of fd */
        char path[4096];        /* the real name (/proc/self/fd), "" when unknown */
        bool followed_link;     /* a symbolic link was on the way */
        uid_t link_owner;       /* with followed_link: the owner of the links not root's, or 0 */
};

/*
 * Opens the absolute path with flags (O_RDONLY or O_RDWR) one component at
 * a time, so that every symbolic link on the way is seen.  The rule: a
 * link owned by root may lead anywhere; a link owned by a user may lead
 * only to a file that user owns (links of two different users on one way
 * lead nowhere).  Only a regular file is opened for real, and without
 * blocking on the way (the components are reached with O_PATH, so neither
 * a FIFO nor a device is ever opened).  Permissions are the process's
 * own.  Returns 0 with ret filled; -EINVAL (not absolute), -EBADFD (not a
 * regular file), -EXDEV (the link rule, ret_why says which), -ELOOP,
 * or -errno.  ret_why, when given, gets a sentence on -EXDEV.
 */
int resolve_open(const char *path, int flags, struct resolved *ret, char *ret_why, size_t why_size);

