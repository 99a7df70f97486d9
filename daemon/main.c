/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhd-compactd: the org.vhd.Compact service.  Registers the objects, then
 * takes the name (so no call can arrive before we can answer it), runs the
 * event loop, and exits after --idle-timeout seconds without jobs.  On
 * SIGTERM it refuses new calls (ShuttingDown: a steady client must not keep
 * it from stopping), cancels the jobs (each stops at a safe point) and
 * exits when they have.
 *
 * Descriptors: a job queued or running holds some (FDS_PER_JOB, more while
 * its worker runs), and sd-bus needs free ones to receive the next message
 * (a message's descriptors that cannot be received cost the connection).
 * So the soft RLIMIT_NOFILE is raised to the hard one, and the number of
 * jobs at once (--job-limit, --user-job-limit) is kept where their
 * descriptors leave FD_RESERVE free.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "util/build-tree.h"
#include "util/macro.h"

/* Held by a job queued (disk, folder) and, in addition, while its worker
 * runs (control socket, pidfd, one being passed). */
#define FDS_PER_JOB 2
#define FDS_PER_RUNNING 4
/* For the bus, the event loop, polkit calls and messages being received. */
#define FD_RESERVE 64

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: vhd-compactd [OPTIONS]\n"
                "Serve org.vhd.Compact: compaction of VHD and VHDX files in place.\n\n"
                "  --user               serve on the session bus (default: the system bus)\n"
                "  --max-jobs N         jobs run at once; more wait queued (default 2)\n"
                "  --idle-timeout SEC   exit after SEC seconds without jobs; 0 = never (default 30)\n"
                "  --keep-finished SEC  keep ended jobs visible this long (default 300)\n"
                "  --job-limit N        jobs queued or running at once, all users (default 256;\n"
                "                       lowered to fit the descriptor limit)\n"
                "  --user-job-limit N   jobs queued or running at once for one user (default 32)\n"
                "  --worker PATH        the worker program (default %s, or $VHDCOMPACT_WORKER)\n"
                "  --worker-uids FIRST-LAST\n"
                "                       when root, run each worker as a uid and gid of its own\n"
                "                       from this range (default %u-%u)\n"
                "  --help, --version\n",
                VC_WORKER_INSTALLED, WORKER_IDS_DEFAULT_FIRST,
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
                { "job-limit", required_argument, NULL, 'L' }, { "user-job-limit", required_argument, NULL, 'P' },
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
                case 'L':
                        if (parse_uint(optarg, "--job-limit", 1u << 20, &v) < 0 || v == 0)
                                return -EINVAL;
                        m->max_active = (unsigned) v;
                        break;
                case 'P':
                        if (parse_uint(optarg, "--user-job-limit", 1u << 20, &v) < 0 || v == 0)
                                return -EINVAL;
                        m->max_per_user = (unsigned) v;
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

        if (m->stopping ? m->running == 0 : !any_active(m) && now >= m->last_activity + m->idle_usec)
                return sd_event_exit(m->event, 0);
        /* Look again a little later: a second while exiting, else when the
         * idle time would be up. */
        uint64_t next = m->stopping || any_active(m) ? now + 1000000 : m->last_activity + m->idle_usec;
        (void) sd_event_source_set_time(s, next);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct manager *m = userdata;

        m->stopping = true;
        for (struct job *j = m->jobs; j; j = j->next)
                if (j->state == JOB_QUEUED)
                        job_finish(j, false, VC_ERROR_CANCELLED, "cancelled: the service is stopping");
                else if (job_is_active(j))
                        worker_cancel(j);
        if (m->running == 0)
                return sd_event_exit(m->event, 0);
        if (!m->idle_timer)
                return sd_event_add_time_relative(m->event, &m->idle_timer, CLOCK_MONOTONIC, 200000, 0, on_idle, m);
        (void) sd_event_source_set_time_relative(m->idle_timer, 200000);
        return sd_event_source_set_enabled(m->idle_timer, SD_EVENT_ONESHOT);
}

/* Raises the soft descriptor limit to the hard one and lowers the job limit
 * to what the limit holds. */
static void fit_descriptor_limit(struct manager *m)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_cur < rl.rlim_max) {
                struct rlimit raised = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
                if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
                        rl = raised;
        }
        uint64_t lim = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t) rl.rlim_cur;
        uint64_t need = (uint64_t) FD_RESERVE + (uint64_t) m->max_jobs * FDS_PER_RUNNING;
        uint64_t fit = lim > need ? (lim - need) / FDS_PER_JOB : 0;
        if (fit < m->max_active) {
                fprintf(stderr, "vhd-compactd: %" PRIu64 " descriptors allowed: at most %" PRIu64
                        " jobs at once, not %u\n", lim, fit ? fit : 1, m->max_active);
                m->max_active = fit ? (unsigned) fit : 1;
        }
        if (m->max_per_user > m->max_active)
                m->max_per_user = m->max_active;
}

static int setup_bus(struct manager *m)
{
        int r;

        r = m->user_bus ? sd_bus_open_user(&m->bus) : sd_bus_open_system(&m->bus);
        if (r >= 0)
                r = m->user_bus ? sd_bus_open_user(&m->creds_bus) : sd_bus_open_system(&m->creds_bus);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot connect to the %s bus: %s\n",
                               m->user_bus ? "session" : "system", strerror(-r)), r;
        r = sd_bus_attach_event(m->bus, m->event, 0);
        if (r >= 0)
                r = sd_bus_add_object_vtable(m->bus, NULL, VC_BUS_PATH, VC_BUS_MANAGER, manager_vtable, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(m->bus, NULL, VC_BUS_JOB_PREFIX, VC_BUS_JOB, job_vtable, job_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(m->bus, NULL, VC_BUS_JOB_PREFIX, job_enumerate, m);
        if (r >= 0)
                r = sd_bus_add_object_manager(m->bus, NULL, VC_BUS_PATH);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot register objects: %s\n", strerror(-r)), r;
        r = sd_bus_request_name(m->bus, VC_BUS_NAME, 0);
        if (r < 0)
                return fprintf(stderr, "vhd-compactd: cannot own %s: %s\n", VC_BUS_NAME, strerror(-r)), r;
        return 0;
}

int main(int argc, char **argv)
{
        struct manager m = { .max_jobs = 2, .idle_usec = 30ULL * 1000000, .keep_usec = 300ULL * 1000000,
                             .worker_ids = { .first = WORKER_IDS_DEFAULT_FIRST, .count = WORKER_IDS_DEFAULT_COUNT },
                             .max_active = 256, .max_per_user = 32 };
        sigset_t mask;
        int r;

        /* $VHDCOMPACT_WORKER, else the build tree's when we run from it
         * (util/build-tree.h: never for an installed daemon), else the
         * installed one. */
        _cleanup_free_ char *in_tree = NULL;
        m.worker_path = getenv("VHDCOMPACT_WORKER");
        if (!m.worker_path)
                m.worker_path = vc_build_tree_path("daemon/vhd-compact-worker", &in_tree) > 0 ? in_tree
                                                                                            : VC_WORKER_INSTALLED;
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

        fit_descriptor_limit(&m);
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
        job_view_done(&m);
        sd_bus_flush_close_unref(m.bus);
        sd_bus_flush_close_unref(m.creds_bus);
        sd_event_unref(m.event);
        return r < 0 ? 1 : 0;
}
