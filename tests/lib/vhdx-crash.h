/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The crash and power-cut harness of the writable VHDX tests
 * (test-vhdx-write, test-vhdx-child-write): a run of n_ops operations
 * from a builder image, and the states a flat model says the disk goes
 * through (state 0 before the run, state i + 1 after op i).
 *
 *   - vxc_crash: a crash (fork, vc_fault_arm) at every fault point of a
 *     read-write open and the run (every fifth under valgrind, and the
 *     last): every sector our reader reads is as before or after the
 *     operation the crash fell in, and a read-write open then closes it
 *     clean (both headers valid, LogGuid 0), reading the same;
 *   - vxc_powercut: the run logged once (tests/lib/powercut.h), cut
 *     before and after every barrier, a few seeds each: every sector as
 *     in some state of the run, and a read-write open closes it clean.
 *
 * What a test checks besides (7-Zip, for one) it does in after_crash.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhdx-builder.h"
#include "vhdx/vhdx.h"

struct vxc_run {
        const char *what;               /* names the run in failures */
        const char *dir, *path;         /* the test's directory; the image */
        uint64_t disk;                  /* the virtual size */
        struct vxb_image *start;        /* the image before the run */
        size_t n_ops;
        /* Op i applied to img (when not NULL) and to model (when not NULL). */
        int (*op)(struct vhdx_image *img, size_t i, uint8_t *model);
        /* After a crash at point n in op cut (n_ops: after the run), now
         * what our reader reads: before (clean false) and after (true) the
         * read-write open that closes it clean.  May be NULL. */
        void (*after_crash)(void *userdata, unsigned long n, size_t cut, const uint8_t *now, bool clean);
        void *userdata;
};

struct vxc_stats {
        unsigned long open_points;      /* fault points of the read-write open */
        unsigned long total;            /* of the open and the run */
        unsigned long points;           /* crashes tried */
        size_t records;                 /* power log records */
        unsigned cuts;                  /* power cuts tried */
};

/* The image at path opened (read-write when rw); fails the test else. */
struct vhdx_image *vxc_open(const char *path, bool rw);
/* The first size bytes of the disk at path, as our reader reads them. */
void vxc_read_all(const char *path, uint8_t *out, uint64_t size);
/* Both headers of path valid, with LogGuid 0. */
void vxc_headers_clean(const char *path);

void vxc_crash(const struct vxc_run *run, struct vxc_stats *ret);
/* before: seeds for a cut before each barrier (one after it); under
 * valgrind every other seed. */
void vxc_powercut(const struct vxc_run *run, unsigned before, struct vxc_stats *ret);
