/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The identities workers run as (see worker-ids.c): each running worker
 * has a uid and gid of its own, taken from a reserved range.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The default range: 64 ids from 60800, inside what systemd leaves unused
 * (60578-61183, between the users of systemd-nspawn --bind-user and those
 * of DynamicUser=) and Debian's on-demand global range (60000-64999). */
#define WORKER_IDS_DEFAULT_FIRST 60800U
#define WORKER_IDS_DEFAULT_COUNT 64U
#define WORKER_IDS_MAX_COUNT 4096U

struct worker_ids {
        uid_t first;
        unsigned count;
        /* Ids handed out and not yet given back, one bit each. */
        unsigned char used[WORKER_IDS_MAX_COUNT / 8];
};

/*
 * worker_ids_parse - "FIRST-LAST" (both inclusive) into *ret.  The range
 * must hold 1 to WORKER_IDS_MAX_COUNT ids, above 0, below 2^31 - 1
 * (65535 and 65534, overflow and nobody, never in it).  Returns 0 or
 * -EINVAL (*ret untouched).
 */
int worker_ids_parse(const char *s, struct worker_ids *ret);

/*
 * worker_ids_check - every id of the range is free: no user or group
 * has it (getpwuid, getgrgid).  Returns 0, or -EEXIST with the first one
 * taken described in why.
 */
int worker_ids_check(const struct worker_ids *ids, char *why, size_t size);

/*
 * worker_ids_take - an id for a new worker: one not handed out, with no
 * user or group entry, and that no process runs as (real, effective,
 * saved or file-system uid or gid, from /proc).  The worker's uid and gid
 * are both the number.  Returns 0 with *ret set, or -EAGAIN when every id
 * is taken.
 */
int worker_ids_take(struct worker_ids *ids, uid_t *ret);

/* worker_ids_give_back - ID may be handed out again (its worker exited). */
void worker_ids_give_back(struct worker_ids *ids, uid_t id);
