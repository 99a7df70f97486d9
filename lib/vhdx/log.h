/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX log (VHDX.md §1.6, §3.2), private to lib/vhdx: finding the
 * active sequence of a dirty log, and replaying it in memory (an overlay
 * consulted by every read of the file's structures and payload) or on
 * disk.  See log.c for the design note.
 */
#pragma once

#include <stdint.h>
#include <stddef.h>

#include "vhdx.h"

/* One descriptor of the active sequence, in replay order. */
struct vhdx_log_desc {
        uint64_t target;                /* file offset, a 4 KiB multiple */
        uint64_t length;                /* 4096 (data) or ZeroLength */
        uint64_t data_at;               /* log-relative offset of its data sector; UINT64_MAX: zero */
        uint8_t leading[8];             /* target bytes 0..7 */
        uint8_t trailing[4];            /* target bytes 4092..4095 */
};

/* A piece of the file the sequence writes, and the descriptor that wins
 * it: the last in replay order that writes there. */
struct vhdx_log_span {
        uint64_t start, end;
        uint32_t desc;                  /* index into d */
};

struct vhdx_log_replay {
        struct vhdx_log_desc *d;        /* n, in replay order (vhdx_log_replay_done frees d and span) */
        size_t n;
        struct vhdx_log_span *span;     /* n_span, sorted and disjoint: the overlay's index */
        size_t n_span;
        uint64_t log_offset;            /* of the log in the file */
        uint32_t log_length;
        uint64_t head_sequence;
        uint32_t tail, head;            /* log-relative offsets of the first and last entry */
        uint32_t n_entries;
        uint64_t flushed_file_offset;   /* of the head */
        uint64_t last_file_offset;      /* of the head */
        uint64_t lo, hi;                /* [lo, hi): what the descriptors touch */
};

/* The most descriptors a sequence may carry (a 1 GiB log of 4 KiB data
 * entries holds fewer; zero descriptors could hold 32 times more). */
#define VHDX_LOG_MAX_DESCRIPTORS (1u << 20)

/*
 * Finds and checks the active sequence of the log named by header h (at
 * header_at in the file; LogGuid not zero, the log inside the file).
 * *ret on success only.  Refuses: no valid sequence (bad-log, naming why
 * the first entry with our GUID was not valid), a descriptor that would
 * write below 192 KiB, into the log, unaligned or overflowing
 * (bad-log-descriptor), a head whose FlushedFileOffset is past the end of
 * the file (file-truncated).
 */
int vhdx_log_find(int fd, uint64_t file_size, const struct vhdx_header *h, uint64_t header_at,
                  struct vhdx_report *rep, struct vhdx_log_replay *ret);
void vhdx_log_replay_done(struct vhdx_log_replay *l);

/* The size of the file once replayed: at least LastFileOffset and the end
 * of every target. */
uint64_t vhdx_log_replayed_size(const struct vhdx_log_replay *l, uint64_t file_size);

/* Patches buf, which holds the file's bytes [off, off + len) as on disk,
 * into what they are after the replay.  0 or -errno (reading the log). */
int vhdx_log_overlay(int fd, const struct vhdx_log_replay *l, uint8_t *buf, size_t len, uint64_t off);

/* Applies the sequence to the file (fd open read-write), crash-safely:
 * every page written, fdatasync, the file extended to LastFileOffset,
 * fdatasync; the caller then clears LogGuid in the header.  Replaying
 * twice gives the same file.  0 or -errno. */
int vhdx_log_apply(int fd, const struct vhdx_log_replay *l, uint64_t file_size);
