/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a job's worker and listening to it (worker-protocol.h).  The
 * worker gets the control socket, the disk and its directory at fds 3-5,
 * nothing else; as root we switch it to a uid and gid of its own
 * (worker-ids.c) with no supplementary groups and no_new_privs, and it
 * dies with us (PR_SET_PDEATHSIG): an orphan would keep the disk locked,
 * while a killed one leaves a valid image.  The worker itself turns
 * non-dumpable and installs its system-call filter (worker-seccomp.c).
 *
 * A job ends when its worker has exited, not at its "result" line: only
 * then is the disk's lock released, so a client that reacts to Completed
 * can use the file at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "fd-pass.h"
#include "rate.h"
#include "worker-msg.h"
#include "util/text.h"
#include "worker-protocol.h"

static _Noreturn void exec_worker(const struct job *j, int ctl, pid_t parent)
{
        const struct manager *m = j->m;
        const char *argv[13];
        sigset_t none;
        int n = 0;

        /* Out of the way first, so that no dup2 below overwrites another. */
        int c = fcntl(ctl, F_DUPFD, 10), d = fcntl(j->disk_fd, F_DUPFD, 10);
        int r = j->dir_fd >= 0 ? fcntl(j->dir_fd, F_DUPFD, 10) : -1;
        if (c < 0 || d < 0 || dup2(c, WORKER_FD_CONTROL) < 0 || dup2(d, WORKER_FD_DISK) < 0)
                _exit(127);
        if (r >= 0 ? dup2(r, WORKER_FD_DIR) < 0 : (close(WORKER_FD_DIR), false))
                _exit(127);
        if (close_range(WORKER_FD_DIR + 1, ~0U, 0) < 0)
                _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (m->drop_privileges) {
                gid_t g = (gid_t) j->worker_id;
                uid_t u = j->worker_id;
                if (!j->has_worker_id || setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 ||
                    setresuid(u, u, u) < 0)
                        _exit(127);
        }
        /* After the id change, which clears the death signal. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
            getppid() != parent)
                _exit(127);
        argv[n++] = m->worker_path;
        argv[n++] = "--path";
        argv[n++] = j->path;
        argv[n++] = "--mode";
        argv[n++] = j->req.mode;
        if (j->req.dry_run)
                argv[n++] = "--dry-run";
        if (j->req.force_dirty)
                argv[n++] = "--force-dirty";
        if (j->req.force_children)
                argv[n++] = "--force-children";
        if (j->req.no_block_moves)
                argv[n++] = "--no-block-moves";
        argv[n] = NULL;
        execv(m->worker_path, (char **) argv);
        _exit(127);
}

static void send_line(struct job *j, const char *s, int fd)
{
        if (j->ctl_fd >= 0)
                (void) fd_send(j->ctl_fd, s, strlen(s), fd);
}

static void on_open_request(struct job *j, const char *path)
{
        char reply[32];
        int fd = broker_open(j, path, O_RDONLY);

        if (fd < 0) {
                snprintf(reply, sizeof reply, "error %d", -fd);
                send_line(j, reply, -1);
                return;
        }
        send_line(j, "fd", fd);
        close(fd);
}

static void on_result_ok(struct job *j, const char *kv)
{
        j->report = strdup(kv);
        j->size_before = worker_report_value(kv, "size-before");
        j->size_after = worker_report_value(kv, "size-after");
        uint64_t fs = worker_report_value(kv, "blocks-dropped-fs"), zero = worker_report_value(kv, "blocks-dropped-zero");
        uint64_t fz = worker_report_value(kv, "blocks-dropped-fs-zero");
        char part[80] = "";
        if (fz)
                snprintf(part, sizeof part, ", %" PRIu64 " partly free with the rest zero or as the parent", fz);
        if (asprintf(&j->summary,
                     "%s: %s%" PRIu64 " -> %" PRIu64 " bytes; dropped %" PRIu64 " blocks (%" PRIu64
                     " free in the file system, %" PRIu64 " zero%s); moved %" PRIu64 " blocks (%" PRIu64 " bytes)",
                     j->path, j->req.dry_run ? "would go " : "", j->size_before, j->size_after,
                     rate_add(rate_add(fs, zero), fz), fs, zero, part, worker_report_value(kv, "blocks-moved"),
                     worker_report_value(kv, "bytes-moved")) < 0)
                j->summary = NULL;
        /* It names the file, whose name is bytes. */
        if (j->summary && !text_is_safe(j->summary)) {
                char *t = text_escape_dup(j->summary);
                free(j->summary);
                j->summary = t;
        }
}

static void on_result_fail(struct job *j, const struct worker_msg *w)
{
        const char *msg = w->text;
        size_t il = strlen(w->id);
        free(j->error_name);
        j->error_name = strdup(error_name_for_problem(w->id, w->error));
        free(j->error);
        j->error = NULL;
        /* Name the problem id once, whether the worker's line has it or not. */
        char *e = NULL;
        int r;
        if (strcmp(w->id, "-") && !(strncmp(msg, w->id, il) == 0 && msg[il] == ':'))
                r = asprintf(&e, "'%s': %s: %s", j->path, w->id, *msg ? msg : "failed");
        else
                r = asprintf(&e, "'%s': %s", j->path, *msg ? msg : strerror(w->error));
        j->error = r < 0 ? NULL : e;
}

static void on_line(struct job *j, const char *line, int fd)
{
        static const enum job_state states[] = {
                [WORKER_PHASE_ATTACHING] = JOB_ATTACHING, [WORKER_PHASE_SCANNING] = JOB_SCANNING,
                [WORKER_PHASE_MOVING] = JOB_MOVING, [WORKER_PHASE_TRUNCATING] = JOB_TRUNCATING,
        };
        struct worker_msg w;

        if (fd >= 0)
                close(fd);      /* the worker has nothing to hand us */
        worker_msg_parse(line, &w);
        switch (w.kind) {
        case WORKER_MSG_PHASE:
                if (w.phase != WORKER_PHASE_UNKNOWN && job_is_active(j))
                        job_set_state(j, states[w.phase]);
                break;
        case WORKER_MSG_PROGRESS:
                if (job_is_active(j))
                        job_progress(j, w.a, w.b);
                break;
        case WORKER_MSG_PLANNED:
                j->size_before = w.a;
                j->size_after = w.b;
                if (job_is_active(j))
                        job_progress(j, j->done, j->total);
                break;
        case WORKER_MSG_VOLUME:
                if (j->req.dry_run && !j->got_result && job_add_volume(j, &w.vol, w.text) < 0)
                        fprintf(stderr, "vhd-compactd: job %" PRIu32 ": out of memory for a volume\n", j->id);
                break;
        case WORKER_MSG_OPEN:
                on_open_request(j, w.text);
                break;
        case WORKER_MSG_OK:
        case WORKER_MSG_FAIL:
                if (j->got_result)
                        break;
                j->got_result = true;
                if (w.kind == WORKER_MSG_OK)
                        on_result_ok(j, w.text);
                else
                        on_result_fail(j, &w);
                break;
        case WORKER_MSG_UNKNOWN: {
                char word[32];
                text_escape(word, sizeof word, line);
                word[strcspn(word, " ")] = 0;
                fprintf(stderr, "vhd-compactd: job %" PRIu32 ": unknown worker message '%s'\n", j->id, word);
                break;
        }
        }
}

/* Reads one message; false at end of stream or on an error. */
static bool read_one(struct job *j)
{
        char buf[WORKER_MSG_MAX + 1];
        int fd;
        ssize_t n = fd_recv(j->ctl_fd, buf, WORKER_MSG_MAX, &fd);

        if (n <= 0) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        buf[n] = 0;
        on_line(j, buf, fd);
        return true;
}

static void close_control(struct job *j)
{
        j->ctl_src = sd_event_source_disable_unref(j->ctl_src);
        if (j->ctl_fd >= 0)
                close(j->ctl_fd);
        j->ctl_fd = -1;
}

static int on_control(sd_event_source *s, int fd, uint32_t events, void *userdata)
{
        struct job *j = userdata;

        if (!read_one(j))
                close_control(j);
        return 0;
}

static int on_exit_worker(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct job *j = userdata;
        char msg[512];

        j->child_src = sd_event_source_disable_unref(j->child_src);
        j->pid = 0;
        /* Reaped: its id may go to another worker. */
        if (j->has_worker_id)
                worker_ids_give_back(&j->m->worker_ids, j->worker_id);
        j->has_worker_id = false;
        /* Whatever it said before exiting is still in the socket. */
        if (j->ctl_fd >= 0) {
                (void) fcntl(j->ctl_fd, F_SETFL, O_NONBLOCK);
                while (read_one(j))
                        ;
                close_control(j);
        }
        if (j->got_result && !j->error_name) {
                job_finish(j, true, NULL, NULL);
                return 0;
        }
        if (j->got_result) {
                job_finish(j, false, j->error_name, j->error ? j->error : "failed");
                return 0;
        }
        if (si->si_code == CLD_EXITED)
                snprintf(msg, sizeof msg, "'%s': the worker ended with status %d and no result", j->path,
                         si->si_status);
        else
                snprintf(msg, sizeof msg, "'%s': the worker was killed by signal %d (SIG%s); the image is valid",
                         j->path, si->si_status, sigabbrev_np(si->si_status) ? sigabbrev_np(si->si_status) : "?");
        job_finish(j, false, VC_ERROR_FAILED, msg);
        return 0;
}

int worker_start(struct job *j)
{
        struct manager *m = j->m;
        int sv[2], r;
        pid_t self = getpid(), pid;

        if (m->drop_privileges) {
                r = worker_ids_take(&m->worker_ids, &j->worker_id);
                if (r < 0)
                        return r;
                j->has_worker_id = true;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                goto fail_id;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                goto fail_id;
        }
        if (pid == 0)
                exec_worker(j, sv[1], self);
        close(sv[1]);
        j->ctl_fd = sv[0];
        j->pid = pid;
        r = sd_event_add_io(m->event, &j->ctl_src, j->ctl_fd, EPOLLIN, on_control, j);
        if (r >= 0)
                r = sd_event_add_child(m->event, &j->child_src, pid, WEXITED, on_exit_worker, j);
        if (r < 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                j->pid = 0;
                close_control(j);
                goto fail_id;
        }
        return 0;
fail_id:
        if (j->has_worker_id)
                worker_ids_give_back(&m->worker_ids, j->worker_id);
        j->has_worker_id = false;
        return r;
}

void worker_cancel(struct job *j)
{
        j->cancel_requested = true;
        send_line(j, "cancel", -1);
}
