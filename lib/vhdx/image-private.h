/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * struct vhdx_image, shared by image.c (open, read) and write.c (the
 * writable session); nothing outside lib/vhdx sees it.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../image/prefetch.h"
#include "log.h"
#include "vhdx.h"

struct vhdx_image {
        int fd;
        char *path;
        uint64_t file_size;             /* as replayed, when the log is dirty */
        uint64_t disk_size;             /* what the file has */
        bool replayed;                  /* in memory: reads go through log */
        struct vhdx_log_replay log;
        struct vhdx_headers headers;
        struct vhdx_regions regions;
        struct vhdx_metadata meta;
        struct vhdx_bat bat;
        struct vhdx_occupancy occ;
        struct vc_open_ctx ctx;         /* opener for the parent chain */
        dev_t dev;
        ino_t ino;
        struct vhdx_locator loc;        /* differencing only */
        struct vhdx_image *parent;      /* NULL: none or not opened (NOPARENT) */
        bool no_parent;                 /* opened with VHDX_OPEN_NOPARENT */
        /* A read-write open (write.c). */
        bool rw;
        bool file_guid_new;             /* FileWriteGuid changed this session */
        bool data_guid_new;             /* DataWriteGuid changed this session */
        pthread_mutex_t write_lock;     /* one writer; readers see whole entries */
        struct vhdx_compact_state *compact;     /* compact-layout.c; NULL until asked */
};

/* A BAT entry as a reader loads it while the one writer may publish a new
 * one (write.c, bat_update(), says why acquire). */
static inline uint64_t vhdx_bat_entry_load(const struct vhdx_bat *b, uint64_t i)
{
        return __atomic_load_n(&b->e[i], __ATOMIC_ACQUIRE);
}

/* write.c */
int vhdx_session_replay(struct vhdx_image *img);        /* the log on disk, at a read-write open */
int vhdx_session_end(struct vhdx_image *img);           /* both slots clean */
/* The headers before a change: a new FileWriteGuid once per session, a new
 * DataWriteGuid before the first change a guest can read (data_change). */
int vhdx_session_begin(struct vhdx_image *img, bool data_change);
uint64_t vhdx_entry_of(const struct vhdx_image *img, uint64_t b);
/* len bytes (a MiB multiple) of zeros added at the end of the file rounded
 * up to 1 MiB; *ret_at: where they start. */
int vhdx_extend(struct vhdx_image *img, uint64_t len, uint64_t *ret_at);
/* Block b FULLY_PRESENT in a new extent: buf at in, the rest zeros. */
int vhdx_allocate(struct vhdx_image *img, uint64_t b, const void *buf, size_t len, uint64_t in);
/* buf[0, len) written at at (nothing when len is 0), then synced: the
 * barrier before metadata may point at block data. */
int vhdx_write_block_data(struct vhdx_image *img, const void *buf, size_t len, uint64_t at);
/* Real zeros at [at, at + len) of the file where they are not already. */
int vhdx_write_zeros(struct vhdx_image *img, uint64_t at, uint64_t len);

/* A batch of 4 KiB metadata pages (BAT and sector-bitmap pages) that
 * change together through one log entry (write.c's order), and the BAT
 * entries to change in memory once it is in place. */
struct vhdx_txn {
        size_t cap, n;                  /* pages: the most one entry carries, used */
        uint64_t *target;
        uint8_t *pages;
        struct { uint64_t index, entry; } *c;
        size_t nc, capc;
};
int vhdx_txn_init(const struct vhdx_image *img, struct vhdx_txn *t);
void vhdx_txn_done(struct vhdx_txn *t);
/* Commits first unless `pages` more fit in this batch: what must change
 * together reserves its pages first. */
int vhdx_txn_reserve(struct vhdx_image *img, struct vhdx_txn *t, size_t pages);
/* The page at file offset at (4 KiB aligned) in the batch, read from the
 * file when new; commits first when the batch is full. */
int vhdx_txn_page(struct vhdx_image *img, struct vhdx_txn *t, uint64_t at, uint8_t **ret);
int vhdx_txn_set_entry(struct vhdx_image *img, struct vhdx_txn *t, uint64_t index, uint64_t entry);
int vhdx_txn_commit(struct vhdx_image *img, struct vhdx_txn *t);

/* write-child.c: writing a differencing disk (write lock held) */
int vhdx_child_write(struct vhdx_image *img, uint64_t b, const uint8_t *p, uint64_t in, uint64_t len);
int vhdx_child_discard(struct vhdx_image *img, size_t count, uint64_t offset, bool trim);
/* write.c, for the compaction: 4 KiB metadata pages through the log as
 * one batch (entry, header naming it, pages in place, LogGuid 0), at most
 * vhdx_log_max_pages() of them. */
size_t vhdx_log_max_pages(const struct vhdx_image *img);
int vhdx_log_pages(struct vhdx_image *img, const uint64_t *target, uint8_t *const *page, size_t n);

/* compact-layout.c */
void vhdx_compact_state_free(struct vhdx_compact_state *s);
