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

/* write.c */
int vhdx_session_replay(struct vhdx_image *img);        /* the log on disk, at a read-write open */
int vhdx_session_end(struct vhdx_image *img);           /* both slots clean */
/* write.c, for the compaction: the headers before a change (FileWriteGuid
 * once, DataWriteGuid when @data_change); 4 KiB metadata pages through
 * the log as one batch (entry, header naming it, pages in place, LogGuid
 * 0), at most vhdx_log_max_pages() of them. */
int vhdx_session_begin(struct vhdx_image *img, bool data_change);
size_t vhdx_log_max_pages(const struct vhdx_image *img);
int vhdx_log_pages(struct vhdx_image *img, const uint64_t *target, uint8_t *const *page, size_t n);

/* compact-layout.c */
void vhdx_compact_state_free(struct vhdx_compact_state *s);
