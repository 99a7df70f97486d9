/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job objects (org.vhd.Compact.Job at /org/vhd/Compact/job/N): their
 * properties, Cancel, the Completed signal, rate-limited PropertiesChanged,
 * and removal a while after they end.  Jobs live in one list on the
 * manager; the bus finds them through a fallback vtable and a node
 * enumerator, so the ObjectManager lists them without per-job slots.
 */
#include <errno.h>
#include <inttypes.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "rate.h"
#include "util/macro.h"
#include "util/text.h"

/* PropertiesChanged at most this often while a job runs. */
#define EMIT_INTERVAL_USEC (250 * 1000)

static const char *const state_names[_JOB_STATE_MAX] = {
        [JOB_QUEUED] = VC_STATE_QUEUED,         [JOB_ATTACHING] = VC_STATE_ATTACHING,
        [JOB_SCANNING] = VC_STATE_SCANNING,     [JOB_MOVING] = VC_STATE_MOVING,
        [JOB_TRUNCATING] = VC_STATE_TRUNCATING, [JOB_DONE] = VC_STATE_DONE,
        [JOB_FAILED] = VC_STATE_FAILED,         [JOB_CANCELLED] = VC_STATE_CANCELLED,
};

const char *job_state_to_string(enum job_state s)
{
        return (unsigned) s < _JOB_STATE_MAX ? state_names[s] : "unknown";
}

bool job_is_active(const struct job *j)
{
        return j->state < JOB_DONE;
}

static int cmp_id(const void *a, const void *b)
{
        uint32_t x = ((const struct job *) a)->id, y = ((const struct job *) b)->id;
        return x < y ? -1 : x > y;
}

/* A lookup per object: GetManagedObjects finds every job by its path, so a
 * walk of the list here made listing n jobs cost n² (0.43 s at 7900). */
static struct job *job_by_object(struct manager *m, const char *path)
{
        const char *p = path + strlen(VC_BUS_JOB_PREFIX "/");
        char *end;

        if (strncmp(path, VC_BUS_JOB_PREFIX "/", strlen(VC_BUS_JOB_PREFIX "/")) || *p < '1' || *p > '9')
                return NULL;
        errno = 0;
        unsigned long id = strtoul(p, &end, 10);
        if (errno || *end || id > UINT32_MAX)
                return NULL;
        struct job key = { .id = (uint32_t) id };
        struct job **found = tfind(&key, &m->by_id, cmp_id);
        return found ? *found : NULL;
}

int job_find(sd_bus *bus, const char *path, const char *iface, void *userdata, void **ret, sd_bus_error *e)
{
        struct job *j = job_by_object(userdata, path);

        if (!j)
                return 0;
        *ret = j;
        return 1;
}

/* A NULL-terminated array of strings, freed with them. */
static void strv_freep(char ***v)
{
        if (!*v)
                return;
        for (char **p = *v; *p; p++)
                free(*p);
        free(*v);
}

int job_enumerate(sd_bus *bus, const char *path, void *userdata, char ***ret, sd_bus_error *e)
{
        struct manager *m = userdata;
        _cleanup_(strv_freep) char **v = NULL;
        size_t n = 0, i = 0;

        for (struct job *j = m->jobs; j; j = j->next)
                n += !!j->object;
        v = calloc(n + 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (struct job *j = m->jobs; j; j = j->next)
                if (j->object && !(v[i++] = strdup(j->object)))
                        return -ENOMEM;
        *ret = TAKE_PTR(v);
        return 0;
}

static int property_state(sd_bus *bus, const char *path, const char *iface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
        const struct job *j = userdata;
        return sd_bus_message_append(reply, "s", job_state_to_string(j->state));
}

/* D-Bus strings must be UTF-8, and file names are bytes (a CompactFd job's
 * path comes from the descriptor): what is not safe text goes out escaped
 * (util/text.h). */
static int append_text(sd_bus_message *reply, const char *s)
{
        if (!s || text_is_safe(s))
                return sd_bus_message_append(reply, "s", s ? s : "");
        _cleanup_free_ char *t = text_escape_dup(s);
        return t ? sd_bus_message_append(reply, "s", t) : -ENOMEM;
}

/* The worker's "k=v k=v ..." report as a{sv}: u for block counts, t for
 * sizes, byte counts and allocations, s for the mode; other keys are left
 * out. */
static int append_report(sd_bus_message *reply, const char *report, const struct job *with_volumes)
{
        _cleanup_free_ char *copy = strdup(report ? report : "");
        char *save = NULL;
        int r = copy ? sd_bus_message_open_container(reply, 'a', "{sv}") : -ENOMEM;

        for (char *kv = r >= 0 ? strtok_r(copy, " ", &save) : NULL; kv && r >= 0; kv = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(kv, '=');
                if (!eq)
                        continue;
                *eq = 0;
                if (!text_is_safe(kv))
                        continue;       /* not one of ours: a worker gone wrong */
                if (!strcmp(kv, "mode")) {
                        r = sd_bus_message_open_container(reply, 'e', "sv");
                        r = r < 0 ? r : sd_bus_message_append(reply, "s", kv);
                        r = r < 0 ? r : sd_bus_message_open_container(reply, 'v', "s");
                        r = r < 0 ? r : append_text(reply, eq + 1);
                        r = r < 0 ? r : sd_bus_message_close_container(reply);
                        r = r < 0 ? r : sd_bus_message_close_container(reply);
                }
                else if (!strncmp(kv, "blocks-", 7))
                        r = sd_bus_message_append(reply, "{sv}", kv, "u", (uint32_t) strtoul(eq + 1, NULL, 10));
                else if (!strncmp(kv, "size-", 5) || !strncmp(kv, "bytes-", 6) || !strncmp(kv, "allocated-", 10))
                        r = sd_bus_message_append(reply, "{sv}", kv, "t", (uint64_t) strtoull(eq + 1, NULL, 10));
        }
        if (r >= 0 && with_volumes)
                r = job_append_volumes(reply, with_volumes);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* Every property but State (job-view.c): its value for those who may see
 * it, else the empty value of its type (Owner: 4294967295, no uid). */
static int property_detail(sd_bus *bus, const char *path, const char *iface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
        const struct job *j = userdata;
        bool show = job_details_visible(j);
        static const struct {
                const char *name;
                size_t offset;
        } u64s[] = {
                { "BytesDone", offsetof(struct job, done) },           { "BytesTotal", offsetof(struct job, total) },
                { "Rate", offsetof(struct job, rate) },                { "ExpectedEndTime", offsetof(struct job, end_usec) },
                { "SizeBefore", offsetof(struct job, size_before) }, { "SizeAfter", offsetof(struct job, size_after) },
        };

        if (!strcmp(property, "Path"))
                return append_text(reply, show ? j->path : NULL);
        if (!strcmp(property, "Mode"))
                return append_text(reply, show ? j->req.mode : NULL);
        if (!strcmp(property, "Error"))
                return append_text(reply, show ? j->error : NULL);
        if (!strcmp(property, "ErrorName"))
                return append_text(reply, show ? j->error_name : NULL);
        if (!strcmp(property, "Owner"))
                return sd_bus_message_append(reply, "u", show ? (uint32_t) j->owner : UINT32_MAX);
        if (!strcmp(property, "Report"))
                return append_report(reply, show && j->state == JOB_DONE ? j->report : NULL, NULL);
        if (!strcmp(property, "Progress")) {
                double p = j->state == JOB_DONE ? 1.0 : j->total ? (double) j->done / (double) j->total : 0.0;
                return sd_bus_message_append(reply, "d", !show ? 0.0 : p > 1.0 ? 1.0 : p);
        }
        for (size_t i = 0; i < sizeof u64s / sizeof *u64s; i++)
                if (!strcmp(property, u64s[i].name)) {
                        uint64_t v;
                        memcpy(&v, (const char *) j + u64s[i].offset, sizeof v);
                        return sd_bus_message_append(reply, "t", show ? v : (uint64_t) 0);
                }
        return -ENOENT;
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        struct job *j = userdata;
        uid_t uid;
        int r;

        r = sender_ids(j->m, msg, &uid, NULL);
        if (r < 0)
                return r;
        if (uid != 0 && uid != j->owner && uid != geteuid())
                return reply_errorf(msg, VC_ERROR_ACCESS_DENIED,
                                    "only the job's owner or root may cancel it");
        manager_touch(j->m);
        if (!job_is_active(j))
                return sd_bus_reply_method_return(msg, NULL);
        if (j->state == JOB_QUEUED)
                job_finish(j, false, VC_ERROR_CANCELLED, "cancelled before it started");
        else
                worker_cancel(j);
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Path", "s", property_detail, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", property_detail, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Owner", "u", property_detail, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "d", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Rate", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ExpectedEndTime", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SizeBefore", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SizeAfter", "t", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ErrorName", "s", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Report", "a{sv}", property_detail, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Cancel", "", "", method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES("Completed", "bs", SD_BUS_PARAM(success) SD_BUS_PARAM(message), 0),
        SD_BUS_VTABLE_END,
};

/* The properties that change, with their types, as the owner's
 * PropertiesChanged carries them. */
static const struct {
        const char *name, *type;
} changing[] = {
        { "State", "s" },           { "Progress", "d" },   { "BytesDone", "t" },       { "BytesTotal", "t" },
        { "Rate", "t" },            { "ExpectedEndTime", "t" }, { "SizeBefore", "t" }, { "SizeAfter", "t" },
        { "Error", "s" },           { "ErrorName", "s" },  { "Report", "a{sv}" },
};

/* A signal for the job's client alone (the connection that made the job):
 * the details go there, not in a broadcast (job-view.c). */
static int new_owner_signal(struct job *j, const char *iface, const char *member, sd_bus_message **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *s = NULL;
        int r;

        if (!j->client)
                return -ENXIO;
        r = sd_bus_message_new_signal(j->m->bus, &s, j->object, iface, member);
        if (r >= 0)
                r = sd_bus_message_set_destination(s, j->client);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

static int send_owner_changes(struct job *j)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *s = NULL;
        int r;

        r = new_owner_signal(j, "org.freedesktop.DBus.Properties", "PropertiesChanged", &s);
        if (r < 0)
                return r;
        j->m->view = VIEW_OWNER;
        r = sd_bus_message_append(s, "s", VC_BUS_JOB);
        r = r < 0 ? r : sd_bus_message_open_container(s, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < sizeof changing / sizeof *changing; i++) {
                r = sd_bus_message_open_container(s, 'e', "sv");
                r = r < 0 ? r : sd_bus_message_append(s, "s", changing[i].name);
                r = r < 0 ? r : sd_bus_message_open_container(s, 'v', changing[i].type);
                r = r < 0 ? r
                    : !strcmp(changing[i].name, "State")
                    ? property_state(j->m->bus, j->object, VC_BUS_JOB, changing[i].name, s, j, NULL)
                    : property_detail(j->m->bus, j->object, VC_BUS_JOB, changing[i].name, s, j, NULL);
                r = r < 0 ? r : sd_bus_message_close_container(s);
                r = r < 0 ? r : sd_bus_message_close_container(s);
        }
        j->m->view = VIEW_CALLER;
        r = r < 0 ? r : sd_bus_message_close_container(s);
        r = r < 0 ? r : sd_bus_message_append(s, "as", 0);
        return r < 0 ? r : sd_bus_send(j->m->bus, s, NULL);
}

/* Everyone hears of State changes; the job's client hears of everything
 * (its other readers, root among them, Get what they want). */
static void emit_changes(struct job *j)
{
        if (!j->object)
                return;
        j->last_emit = now_usec(CLOCK_MONOTONIC);
        if (j->state != j->broadcast_state) {
                j->broadcast_state = j->state;
                j->m->view = VIEW_BROADCAST;
                (void) sd_bus_emit_properties_changed(j->m->bus, j->object, VC_BUS_JOB, "State", NULL);
                j->m->view = VIEW_CALLER;
        }
        (void) send_owner_changes(j);
}

static int on_emit_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct job *j = userdata;
        j->emit_timer = sd_event_source_disable_unref(j->emit_timer);
        emit_changes(j);
        return 0;
}

/* Emits now if the last emission is old enough, else once, later. */
static void emit_soon(struct job *j)
{
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (!j->object || j->emit_timer)
                return;
        if (now >= j->last_emit + EMIT_INTERVAL_USEC) {
                emit_changes(j);
                return;
        }
        if (sd_event_add_time(j->m->event, &j->emit_timer, CLOCK_MONOTONIC, j->last_emit + EMIT_INTERVAL_USEC, 0,
                              on_emit_timer, j) < 0)
                emit_changes(j);
}

void job_set_state(struct job *j, enum job_state s)
{
        if (j->state == s)
                return;
        j->state = s;
        j->done = j->total = j->rate = j->end_usec = 0;
        j->phase_start = now_usec(CLOCK_MONOTONIC);
        /* Under the same limit as progress: phases can follow each other
         * quickly (job_finish emits its final state itself). */
        emit_soon(j);
}

void job_progress(struct job *j, uint64_t done, uint64_t total)
{
        uint64_t now = now_usec(CLOCK_MONOTONIC), el = now - j->phase_start;

        j->done = done;
        j->total = total;
        /* The rate needs a moment of history to mean anything. */
        j->rate = el > 200000 ? rate_per_second(done, el) : 0;
        j->end_usec = j->rate && total >= done
                ? rate_add(now_usec(CLOCK_REALTIME), rate_usec_for(total - done, j->rate))
                : 0;
        emit_soon(j);
}

static int on_expire(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct job *j = userdata;
        struct manager *m = j->m;

        for (struct job **p = &m->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        if (j->object) {
                m->view = VIEW_BROADCAST;
                (void) sd_bus_emit_object_removed(m->bus, j->object);
                m->view = VIEW_CALLER;
        }
        job_free(j);
        return 0;
}

/* Ended jobs stay keep_usec, but no more than KEPT_PER_USER times
 * max_per_user of one owner: past that its oldest ended job goes early, so
 * that jobs which end at once (2400 in seconds) cannot grow the list
 * without bound.  Never j, which the caller still holds. */
#define KEPT_PER_USER 4
static void trim_ended(struct manager *m, const struct job *j)
{
        struct job *oldest = NULL;
        uint64_t n = 0;

        for (struct job *k = m->jobs; k; k = k->next)
                if (k != j && k->object && !job_is_active(k) && k->owner == j->owner) {
                        n++;
                        oldest = k;     /* the list is newest first */
                }
        if (oldest && n >= (uint64_t) m->max_per_user * KEPT_PER_USER)
                (void) on_expire(NULL, 0, oldest);
}

static void reply_analysis(struct job *j, bool ok, const char *error_name, const char *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = TAKE_PTR(j->reply_to);

        if (!call)
                return;
        if (!ok) {
                (void) reply_errorf(call, error_name, "%s", error);
                return;
        }
        if (sd_bus_message_new_method_return(call, &reply) < 0 || append_report(reply, j->report, j) < 0 ||
            sd_bus_send(NULL, reply, NULL) < 0)
                (void) sd_bus_reply_method_errorf(call, VC_ERROR_FAILED, "cannot build the report");
}

void job_finish(struct job *j, bool ok, const char *error_name, const char *error)
{
        struct manager *m = j->m;
        bool was_running = j->state > JOB_QUEUED && job_is_active(j);

        if (!job_is_active(j))
                return;
        /* The arguments may be j's own strings (a worker's result).  The
         * text goes out in replies and signals: made safe once, here. */
        char *name = ok ? NULL : strdup(error_name), *text = ok ? NULL : text_escape_dup(error);
        free(j->error_name);
        free(j->error);
        j->error_name = name;
        j->error = text;
        error_name = name;
        error = text ? text : "failed";
        enum job_state s = ok ? JOB_DONE
                : error_name && !strcmp(error_name, VC_ERROR_CANCELLED) ? JOB_CANCELLED
                                                                                     : JOB_FAILED;
        uint64_t keep_done = j->done, keep_total = j->total;
        job_set_state(j, s);
        j->done = keep_done;
        j->total = keep_total;
        if (was_running)
                m->running--;
        m->active--;
        if (j->disk_fd >= 0)
                close(j->disk_fd);
        if (j->dir_fd >= 0)
                close(j->dir_fd);
        j->disk_fd = j->dir_fd = -1;
        if (j->object) {
                j->emit_timer = sd_event_source_disable_unref(j->emit_timer);
                emit_changes(j);
                /* Its message names the file: for the job's client only. */
                sd_bus_message *sig = NULL;
                if (new_owner_signal(j, VC_BUS_JOB, "Completed", &sig) >= 0 &&
                    sd_bus_message_append(sig, "bs", ok, ok ? (j->summary ? j->summary : "done") : error) >= 0)
                        (void) sd_bus_send(m->bus, sig, NULL);
                sd_bus_message_unref(sig);
        } else
                reply_analysis(j, ok, error_name, error);
        (void) sd_event_add_time_relative(m->event, &j->expire_timer, CLOCK_MONOTONIC,
                                          j->object ? m->keep_usec : 0, 0, on_expire, j);
        if (j->object)
                trim_ended(m, j);
        manager_touch(m);
        job_start_queued(m);
}

void job_start_queued(struct manager *m)
{
        /* Oldest first: jobs are prepended, so walk to the end. */
        for (;;) {
                struct job *pick = NULL;
                if (m->running >= m->max_jobs || m->stopping)
                        return;
                for (struct job *j = m->jobs; j; j = j->next)
                        if (j->state == JOB_QUEUED)
                                pick = j;
                if (!pick)
                        return;
                m->running++;
                job_set_state(pick, JOB_ATTACHING);
                int r = worker_start(pick);
                if (r < 0) {
                        char msg[512];
                        snprintf(msg, sizeof msg, "'%s': cannot start the worker: %s", pick->path, strerror(-r));
                        job_finish(pick, false, VC_ERROR_FAILED, msg);
                }
        }
}

int job_new(struct manager *m, const char *path, const struct job_request *req, uid_t owner, gid_t owner_gid,
            int disk_fd, int dir_fd, struct job **ret)
{
        struct job *j = calloc(1, sizeof *j);

        if (!j)
                return -ENOMEM;
        *j = (struct job) { .m = m, .id = ++m->next_id, .owner = owner, .owner_gid = owner_gid,
                            .disk_fd = disk_fd, .dir_fd = dir_fd, .ctl_fd = -1, .pid = 0,
                            .state = JOB_QUEUED, .req = *req };
        j->path = strdup(path);
        j->req.mode = strdup(req->mode);
        if (!req->dry_run && asprintf(&j->object, VC_BUS_JOB_PREFIX "/%" PRIu32, j->id) < 0)
                j->object = NULL;
        if (!j->path || !j->req.mode || (!req->dry_run && !j->object)) {
                j->disk_fd = j->dir_fd = -1;    /* still the caller's */
                job_free(j);
                return -ENOMEM;
        }
        if (j->object && !tsearch(j, &m->by_id, cmp_id)) {
                j->disk_fd = j->dir_fd = -1;
                job_free(j);
                return -ENOMEM;
        }
        j->next = m->jobs;
        m->jobs = j;
        m->active++;
        if (j->object) {
                /* Everyone's: State, the rest empty (job-view.c). */
                m->view = VIEW_BROADCAST;
                (void) sd_bus_emit_object_added(m->bus, j->object);
                m->view = VIEW_CALLER;
        }
        *ret = j;
        return 0;
}

void job_free(struct job *j)
{
        if (!j)
                return;
        if (j->object)
                (void) tdelete(j, &j->m->by_id, cmp_id);
        sd_event_source_disable_unref(j->ctl_src);
        sd_event_source_disable_unref(j->child_src);
        sd_event_source_disable_unref(j->emit_timer);
        sd_event_source_disable_unref(j->expire_timer);
        if (j->ctl_fd >= 0)
                close(j->ctl_fd);
        if (j->disk_fd >= 0)
                close(j->disk_fd);
        if (j->dir_fd >= 0)
                close(j->dir_fd);
        sd_bus_message_unref(j->reply_to);
        free(j->object);
        free(j->path);
        free(j->req.mode);
        free(j->error);
        free(j->error_name);
        free(j->summary);
        free(j->report);
        job_volumes_free(j);
        free(j->client);
        free(j);
}
