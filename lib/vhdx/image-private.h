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
