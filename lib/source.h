/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A "block source": where the file-system scanners read the virtual disk
 * from.  In production that is the read-only NBD attach of the image (so a
 * differencing disk is read merged with its parents), or, in the daemon's
 * sandboxed worker, the same merged view read in-process; in tests it is a
 * memory buffer or a raw file.  Scanners never see which.
 *
 * Reads past the end of the source fail with -EIO.  The source counts the
 * bytes it served, so benchmarks and tests can check how little a scan reads.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct vc_source {
        uint64_t size;                  /* bytes of virtual disk */
        uint64_t bytes_read;            /* statistics, updated by vc_source_pread */
        uint64_t reads;
        /* The first failure of the medium itself (the backend's pread:
         * the image file, the NBD connection), as opposed to a read that a
         * damaged structure sends outside the source: a scanner counts
         * both as "in use", but a failing medium must stop the job. */
        int medium_error;
        int (*pread)(void *ctx, void *buf, size_t count, uint64_t offset);
        void (*close)(void *ctx);
        void *ctx;
};

/* Reads exactly count bytes at offset; -EIO when outside the source; the
 * backend's error (also kept in medium_error) when it fails. */
int vc_source_pread(struct vc_source *s, void *buf, size_t count, uint64_t offset);

/* A source over a caller-owned buffer (not copied). */
void vc_source_memory(struct vc_source *s, const void *buf, size_t size);
/* A source over a file descriptor (not closed); size from fstat. */
int vc_source_fd(struct vc_source *s, int fd);
/* A source over the merged view of an image the caller has open (not
 * closed): what the read-only attach serves, read in-process through
 * vc_image_pread(), for callers that cannot start nbdkit on a path. */
struct vc_image;
void vc_source_image(struct vc_source *s, struct vc_image *img);
void vc_source_close(struct vc_source *s);
