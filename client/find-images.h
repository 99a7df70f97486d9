/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The disks of a `vhdctl compact` over several files or folders
 * (compact-batch.c).  A FILE argument is taken as it is (the engine says
 * what it is not).  A folder argument, with recursive, is walked by
 * lib/image/find.c (no symbolic link followed, disks found by content, no
 * limit), and a folder that cannot be listed is kept as an entry with its
 * error, so the run can say so.  The list is sorted and each file (by its
 * real path) is in it once.
 */
#pragma once

#include <stdbool.h>

#include "image/find.h"

/* Appends the disks of args[0..n) to ret, sorted, each file once.  A
 * folder without recursive is an error (-EISDIR, with the one line of a
 * refusal on stderr naming it).  0 or a negative errno (-ENOMEM; a
 * missing argument is an entry with its error, not a failure). */
int find_images(char *const *args, int n, bool recursive, struct found_images *ret);
