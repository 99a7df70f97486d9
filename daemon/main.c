/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhd-compactd: the org.vhd.Compact service.  Registers the objects, then
 * takes the name (so no call can arrive before we can answer it), runs the
 * event loop, and exits after --idle-timeout seconds without jobs.  On
 * SIGTERM it cancels running jobs (each stops at a safe point) and exits
 * when they have.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"

static bool exiting;

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vhd-compactd [OPTIONS]\n"
                "Serve org.vhd.Compact: compaction of VHD files in place.\n\n"
                "  --user               serve on the session bus (default: the system bus)\n"
                "  --max-jobs N         jobs run at once; more wait queued (default 2)\n"
                "  --idle-timeout SEC   exit after SEC seconds without jobs; 0 = never (default 30)\n"
                "  --keep-finished SEC  keep ended jobs visible this long (default 300)\n"
                "  --worker PATH        the worker program (default %s, or $VHDCOMPACT_WORKER)\n"
                "  --worker-uids FIRST-LAST\n"
                "                       when root, run each worker as a uid and gid of its own\n"
                "                       from this range (default %u-%u)\n"
                "  --help, --version\n",
                VHD_WORKER_INSTALLED, WORKER_IDS_DEFAULT_FIRST,
                WORKER_IDS_DEFAULT_FIRST + WORKER_IDS_DEFAULT_COUNT - 1);
}

static int parse_uint(const char *s, const char *what, uint64_t max, uint64_t *ret)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max) {
                fprintf(stderr, "vhd-compactd: %s: '%s' is not a number up to %llu\n", what, s,
                        (unsigned long long) max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_args(int argc, char **argv, struct manager *m)
{
        static const struct option opts[] = {
                { "user", no_argument, NULL, 'u' },          { "max-jobs", required_argument, NULL, 'j' },
                { "idle-timeout", required_argument, NULL, 'i' }, { "keep-finished", required_argument, NULL, 'k' },
                { "worker", required_argument, NULL, 'w' },  { "worker-uids", required_argument, NULL, 'U' },
                { "help", no_argument, NULL, 'h' },          { "version", no_argument, NULL, 'V' },
                {},
        };
        uint64_t v;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
                switch (c) {
                case 'u': m->user_bus = true; break;
                case 'j':
                        if (parse_uint(optarg, "--max-jobs", 64, &v) < 0 || v == 0)
                                return -EINVAL;
                        m->max_jobs = (unsigned) v;
                        break;
                case 'i':
                        if (parse_uint(optarg, "--idle-timeout", 86400 * 365, &v) < 0)
                                return -EINVAL;
                        m->idle_usec = v * 1000000;
                        break;
                case 'k':
                        if (parse_uint(optarg, "--keep-finished", 86400 * 365, &v) < 0)
                                return -EINVAL;
                        m->keep_usec = v * 1000000;
                        break;
                case 'w': m->worker_path = optarg; break;
                case 'U':
                        if (worker_ids_parse(optarg, &m->worker_ids) < 0) {
                                fprintf(stderr, "vhd-compactd: --worker-uids: '%s' is not FIRST-LAST, "
                                        "1 to %u ids from 1 up to 2147483646, without 65534-65535\n",
                                        optarg, WORKER_IDS_MAX_COUNT);
                                return -EINVAL;
                        }
                        break;
                case 'h': usage(stdout); exit(0);
                case 'V': printf("vhd-compactd %s\n", PACKAGE_VERSION); exit(0);
                default: usage(stderr); return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "vhd-compactd: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

static bool any_active(struct manager *m)
{
        for (struct job *j = m->jobs; j; j = j->next)
                if (job_is_active(j))
                        return true;
        return false;
}

static int on_idle(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct manager *m = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (exiting ? m->running == 0 : !any_active(m) && now >= m->last_activity + m->idle_usec)
                return sd_event_exit(m->event, 0);
        /* Look again a little later: a second while exiting, else when the
         * idle time would be up. */
        uint64_t next = exiting || any_active(m) ? now + 1000000 : m->last_activity + m->idle_usec;
        (void) sd_event_source_set_time(s, next);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct manager *m = userdata;

        exiting = true;
        for (struct job *j = m->jobs; j; j = j->next)
                if (j->state == JOB_QUEUED)
                        job_finish(j, false, "org.vhd.Compact.Error.Cancelled", "cancelled: the service is stopping");
                else if (job_is_active(j))
                        worker_cancel(j);
        if (m->running == 0)
                return sd_event_exit(m->event, 0);
        if (!m->idle_timer)
                return sd_event_add_time_relative(m->event, &m->idle_timer, CLOCK_MONOTONIC, 200000, 0, on_idle, m);
        (void) sd_event_source_set_time_relative(m->idle_timer, 200000);
        return sd_event_source_set_enabled(m->idle_timer, SD_EVENT_ONESHOT);
}

static int setup_bus(struct manager *m)
{
        int r;

        r = m->user_bus ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot connect to the %s bus: %s\n",
                               m->user_bus ? "session" : "system", strerror(-r)), r;
        r = sd_bus_attach_event(m->bus, m->event, 0);
        if (r >= 0)
                r = sd_bus_add_object_vtable(m->bus, NULL, MANAGER_PATH, MANAGER_IFACE, manager_vtable, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(m->bus, NULL, JOB_PREFIX, JOB_IFACE, job_vtable, job_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, JOB_PREFIX, job_enumerate, m);
        if (r >= 0)
                r = sd_bus_add_object_manager(m->bus, NULL, MANAGER_PATH);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot register objects: %s\n", strerror(-r)), r;
        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot own %s: %s\n", BUS_NAME, strerror(-r)), r;
        return 0;
}

int main(int argc, char **argv)
{
        struct manager m = { .max_jobs = 2, .idle_usec = 30ULL * 1000000, .keep_usec = 300ULL * 1000000,
                             .worker_ids = { .first = WORKER_IDS_DEFAULT_FIRST, .count = WORKER_IDS_DEFAULT_COUNT } };
        sigset_t mask;
        int r;

        m.worker_path = getenv("VHDCOMPACT_WORKER") ? getenv("VHDCOMPACT_WORKER") : VHD_WORKER_INSTALLED;
        if (parse_args(argc, argv, &m) < 0)
                return 2;
        if (access(m.worker_path, X_OK) < 0) {
                fprintf(stderr, "vhd-compactd: worker '%s': %s\n", m.worker_path, strerror(errno));
                return 1;
        }
        if (geteuid() == 0) {
                char why[300];
                /* Every running worker needs an id of its own. */
                if (m.worker_ids.count < m.max_jobs) {
                        fprintf(stderr, "vhd-compactd: --worker-uids: %u ids for --max-jobs %u\n",
                                m.worker_ids.count, m.max_jobs);
                        return 1;
                }
                if (worker_ids_check(&m.worker_ids, why, sizeof why) < 0) {
                        fprintf(stderr, "vhd-compactd: --worker-uids %u-%u: %s; choose a range no user or "
                                "group has\n", (unsigned) m.worker_ids.first,
                                (unsigned) (m.worker_ids.first + m.worker_ids.count - 1), why);
                        return 1;
                }
                m.drop_privileges = true;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* A worker gone mid-message must not kill us. */
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&m.event);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGTERM, on_term, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGINT, on_term, &m);
        if (r < 0) {
                fprintf(stderr, "vhd-compactd: event loop: %s\n", strerror(-r));
                return 1;
        }
        manager_touch(&m);
        if (m.idle_usec > 0) {
                r = sd_event_add_time_relative(m.event, &m.idle_timer, CLOCK_MONOTONIC, m.idle_usec, 0, on_idle, &m);
                if (r < 0)
                        return 1;
        }
        r = setup_bus(&m);
        if (r < 0)
                return 1;
        r = sd_event_loop(m.event);

        for (struct job *j = m.jobs, *next; j; j = next) {
                next = j->next;
                job_free(j);
        }
        sd_event_source_disable_unref(m.idle_timer);
        sd_bus_flush_close_unref(m.bus);
        sd_event_unref(m.event);
        return r < 0 ? 1 : 0;
}
