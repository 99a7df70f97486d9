/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-ahead over the *virtual* disk: a small detector of sequential
 * streams among the reads of one image, shared by every thread that reads
 * it (the plugin serves all connections from one image).
 *
 * Why: the kernel's read-ahead follows the *file*.  When a disk's blocks
 * lie in the file in the order the guest wrote them (a WSL disk with 1 MiB
 * blocks grown over years), a sequential read of the disk is a scattered
 * read of the file, and every block starts cold.  So the image, which
 * knows where the next virtual bytes live, tells the kernel ahead of the
 * reader (posix_fadvise WILLNEED on the file ranges: the format's
 * `willneed` op, image.h).  Nothing is read into our memory, no result
 * can change: a hint only starts I/O into the page cache.
 *
 * The detector: VC_PREFETCH_STREAMS streams, each the end of the furthest
 * read seen (`next`) and how far it has been hinted (`hinted`).  A read
 * belongs to a stream when it starts within VC_PREFETCH_BEHIND before its
 * end (parallel clients such as nbdcopy keep many requests in flight, so
 * they arrive out of order) or within VC_PREFETCH_WINDOW after it.  After
 * VC_PREFETCH_HITS reads, and while its reads cover at least a quarter of
 * the span from its lowest offset to its end (random reads that happen to
 * fall near one another cover little of theirs; a sequential read covers
 * all of it but the holes it skips), a stream is sequential: whenever less
 * than half a window is hinted ahead of its end, [max(hinted, next),
 * next + WINDOW) is hinted, so at most one hint per half window of progress, and never more
 * than one window ahead of what was read.  A read that fits no stream
 * replaces the least recently used one.  Random reads cost one short
 * locked scan and no system call: small ones never make a stream, large
 * ones on a small disk rarely (test-prefetch: 9 hints, 72 MiB, for 100 GiB
 * of random reads of up to 1 MiB over 3 GiB).
 *
 * Bounds: the state is this fixed struct (no allocation); per image at
 * most STREAMS * WINDOW bytes hinted and not yet read (the kernel may drop
 * them at will: they are clean page cache).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define VC_PREFETCH_STREAMS 8
#define VC_PREFETCH_WINDOW (8u << 20)
#define VC_PREFETCH_BEHIND (32u << 20)
#define VC_PREFETCH_HITS 4

struct vc_prefetch_stream {
        uint64_t low;           /* the lowest offset read in the stream */
        uint64_t next;          /* end of the furthest read of the stream */
        uint64_t bytes;         /* bytes read in it (saturating) */
        uint64_t hinted;        /* virtual offset hinted up to */
        uint64_t used;          /* clock of its last read; 0: free slot */
        uint32_t hits;          /* reads seen, saturating at HITS */
};

struct vc_prefetch {
        pthread_mutex_t lock;
        uint64_t clock;
        struct vc_prefetch_stream s[VC_PREFETCH_STREAMS];
};

void vc_prefetch_init(struct vc_prefetch *pf);
void vc_prefetch_done(struct vc_prefetch *pf);

/* Notes a read of [off, off + len) of a disk of @size bytes.  Returns true
 * with the virtual range to hint now in *ret_off, *ret_len (never past
 * @size, never empty), false when nothing is to be hinted. */
bool vc_prefetch_note(struct vc_prefetch *pf, uint64_t off, uint64_t len, uint64_t size,
                      uint64_t *ret_off, uint64_t *ret_len);

/* Collects the file ranges of a virtual range into as few WILLNEED hints
 * as they allow: adjacent ranges merge, the rest is issued on @fd. */
struct vc_willneed {
        int fd;
        uint64_t off, len;      /* the range pending */
        unsigned issued;        /* posix_fadvise calls made */
};
void vc_willneed_add(struct vc_willneed *w, uint64_t off, uint64_t len);
void vc_willneed_flush(struct vc_willneed *w);
