/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhd-compactd's state: one manager, a list of jobs.  A job is a request
 * to compact (an object on the bus) or to analyse (no object: the method
 * call waits for its reply); both run in a worker process that parses the
 * disk with no privileges beyond the descriptors it is given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "util/bus-names.h"
#include "worker-ids.h"
#include "worker-msg.h"


enum job_state {
        JOB_QUEUED,
        JOB_ATTACHING,
        JOB_SCANNING,
        JOB_MOVING,
        JOB_TRUNCATING,
        JOB_DONE,
        JOB_FAILED,
        JOB_CANCELLED,
        _JOB_STATE_MAX,
};

struct job_request {
        char *mode;             /* "full", "fs" or "zero" */
        bool force_dirty, force_children;
        bool no_block_moves;    /* punch the dropped blocks out, move none */
        bool dry_run;           /* Analyze: no object, reply with a report */
};

struct job_volume {
        struct worker_volume v;
        char *note;             /* safe text */
};

struct job {
        struct manager *m;
        struct job *next;
        uint32_t id;
        char *object;           /* NULL for an analysis */
        char *path;
        struct job_request req;
        uid_t owner;
        gid_t owner_gid;
        bool as_owner;          /* open parents with the owner's rights (CompactFd) */
        int disk_fd, dir_fd;
        dev_t dev;
        ino_t ino;

        enum job_state state;
        uint64_t done, total, rate, end_usec, size_before, size_after;
        uint64_t phase_start;   /* CLOCK_MONOTONIC µs */
        char *error, *error_name, *summary;

        pid_t pid;
        uid_t worker_id;        /* its uid and gid, while has_worker_id */
        bool has_worker_id;
        int ctl_fd;
        sd_event_source *ctl_src, *child_src, *emit_timer, *expire_timer;
        bool cancel_requested, got_result;
        uint64_t last_emit;
        sd_bus_message *reply_to;       /* an analysis's pending call */
        char *report;                   /* "k=v k=v" of a successful result */
        struct job_volume *volumes;     /* an analysis's, from "volume" lines */
        unsigned n_volumes;
        char *client;                   /* unique bus name of the caller that made it */
        enum job_state broadcast_state; /* the State everyone last heard of */
};

struct manager {
        sd_event *event;
        sd_bus *bus;
        /* A second connection, for the bus driver's word on who sent a
         * call: a synchronous call on the main one would read every message
         * queued meanwhile, and their descriptors, into memory. */
        sd_bus *creds_bus;
        bool user_bus;
        unsigned max_jobs, running;
        /* Caps on jobs queued or running (analyses included): each holds
         * descriptors, so the total stays well under RLIMIT_NOFILE. */
        unsigned max_per_user, max_active, active;
        bool stopping;          /* SIGTERM: new calls are refused */
        /* For whom job properties are being written (job-view.c). */
        enum { VIEW_CALLER, VIEW_BROADCAST, VIEW_OWNER } view;
        sd_bus_message *viewer_msg;     /* the call whose sender's uid is viewer_uid */
        uid_t viewer_uid;
        uint64_t idle_usec, keep_usec;
        const char *worker_path;
        struct worker_ids worker_ids;   /* when drop_privileges */
        bool drop_privileges;
        struct job *jobs;
        void *by_id;            /* tsearch(3) tree of the jobs with objects, by id */
        uint32_t next_id;
        sd_event_source *idle_timer;
        uint64_t last_activity;
};

/* job.c */
extern const sd_bus_vtable job_vtable[];
int job_find(sd_bus *bus, const char *path, const char *iface, void *userdata, void **ret, sd_bus_error *e);
int job_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret, sd_bus_error *e);
int job_new(struct manager *m, const char *path, const struct job_request *req, uid_t owner, gid_t owner_gid,
            int disk_fd, int dir_fd, struct job **ret);
void job_free(struct job *j);
const char *job_state_to_string(enum job_state s);
bool job_is_active(const struct job *j);
void job_set_state(struct job *j, enum job_state s);
void job_progress(struct job *j, uint64_t done, uint64_t total);
void job_finish(struct job *j, bool ok, const char *error_name, const char *error);
void job_start_queued(struct manager *m);

/* job-volumes.c: an analysis's volumes, kept and sent as the report's
 * "volumes" entry (aa{sv}) */
int job_add_volume(struct job *j, const struct worker_volume *v, const char *note);
void job_volumes_free(struct job *j);
int job_append_volumes(sd_bus_message *reply, const struct job *j);

/* find.c: Manager.FindImages */
int method_find_images(sd_bus_message *msg, void *userdata, sd_bus_error *e);

/* job-view.c: whether the job's details (every property but State) may
 * be written into the message being built: for the job's owner, root and
 * the daemon's own user only. */
bool job_details_visible(const struct job *j);
void job_view_done(struct manager *m);

/* spawn.c */
int worker_start(struct job *j);
void worker_cancel(struct job *j);

/* broker.c */
int broker_open(const struct job *j, const char *path, int flags);
/* open(2) with uid/gid's rights (a short-lived child when they are not
 * ours): the descriptor or -errno. */
int open_as_user(uid_t uid, gid_t gid, const char *path, int flags);

/* polkit.c */
typedef void (*polkit_done_t)(sd_bus_message *call, bool allowed, const sd_bus_error *error, void *userdata);
int polkit_check(struct manager *m, sd_bus_message *call, polkit_done_t done, void *userdata);

/* errors.c */
const char *error_name_for_problem(const char *id, int err);

/* reply.c: error replies and sd_bus_errors whose message is made safe
 * text (util/text.h) */
int reply_errorf(sd_bus_message *call, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int error_setf_safe(sd_bus_error *e, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* manager.c */
extern const sd_bus_vtable manager_vtable[];
void manager_touch(struct manager *m);
/* The uid of msg's sender, as the bus driver says (never /proc), and its
 * primary gid in the user database, or (gid_t) -1 (manager.c). */
int sender_ids(struct manager *m, sd_bus_message *msg, uid_t *ret_uid, gid_t *ret_gid);
uint64_t now_usec(clockid_t c);
