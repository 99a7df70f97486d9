/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting a job's worker and listening to it (worker-protocol.h).  The
 * worker gets the control socket, the disk and its directory at fds 3-5,
 * nothing else; as root we switch it to the worker user with
 * no_new_privs, and it dies with us (PR_SET_PDEATHSIG): an orphan would
 * keep the disk locked, while a killed one leaves a valid image.
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
#include "util/text.h"
#include "worker-protocol.h"

static _Noreturn void exec_worker(const struct job *j, int ctl, pid_t parent)
{
        const struct manager *m = j->m;
        const char *argv[12];
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
                if (setgroups(1, &m->worker_gid) < 0 || setresgid(m->worker_gid, m->worker_gid, m->worker_gid) < 0 ||
                    setresuid(m->worker_uid, m->worker_uid, m->worker_uid) < 0)
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

static uint64_t report_value(const char *report, const char *key)
{
        size_t kl = strlen(key);
        for (const char *p = report; p && *p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL)
                if (!strncmp(p, key, kl) && p[kl] == '=')
                        return strtoull(p + kl + 1, NULL, 10);
        return 0;
}

static void on_result(struct job *j, char *rest)
{
        if (j->got_result)
                return;
        j->got_result = true;
        if (!strncmp(rest, "ok", 2) && (rest[2] == ' ' || rest[2] == 0)) {
                const char *kv = rest[2] ? rest + 3 : "";
                j->report = strdup(kv);
                j->size_before = report_value(kv, "size-before");
                j->size_after = report_value(kv, "size-after");
                if (asprintf(&j->summary,
                             "%s: %s%" PRIu64 " -> %" PRIu64 " bytes; dropped %" PRIu64 " blocks (%" PRIu64
                             " free in the file system, %" PRIu64 " zero); moved %" PRIu64 " blocks (%" PRIu64 " bytes)",
                             j->path, j->req.dry_run ? "would go " : "", j->size_before, j->size_after,
                             report_value(kv, "blocks-dropped-fs") + report_value(kv, "blocks-dropped-zero"),
                             report_value(kv, "blocks-dropped-fs"), report_value(kv, "blocks-dropped-zero"),
                             report_value(kv, "blocks-moved"), report_value(kv, "bytes-moved")) < 0)
                        j->summary = NULL;
                /* It names the file, whose name is bytes. */
                if (j->summary && !text_is_safe(j->summary)) {
                        char *t = text_escape_dup(j->summary);
                        free(j->summary);
                        j->summary = t;
                }
                return;
        }
        /* "fail ERRNO ID MESSAGE" */
        int err = 0, off = 0;
        char id[64] = "-";
        if (sscanf(rest, "fail %d %63s %n", &err, id, &off) < 2 || off == 0)
                off = (int) strlen(rest);
        const char *msg = rest + off;
        size_t il = strlen(id);
        free(j->error_name);
        j->error_name = strdup(error_name_for_problem(id, err));
        free(j->error);
        j->error = NULL;
        /* Name the problem id once, whether the worker's line has it or not. */
        char *e = NULL;
        int r;
        if (strcmp(id, "-") && !(strncmp(msg, id, il) == 0 && msg[il] == ':'))
                r = asprintf(&e, "'%s': %s: %s", j->path, id, *msg ? msg : "failed");
        else
                r = asprintf(&e, "'%s': %s", j->path, *msg ? msg : strerror(err));
        j->error = r < 0 ? NULL : e;
}

static void on_line(struct job *j, char *line, int fd)
{
        uint64_t a, b;
        char word[32];

        if (fd >= 0)
                close(fd);      /* the worker has nothing to hand us */
        if (!strncmp(line, "phase ", 6)) {
                const char *p = line + 6;
                enum job_state s = !strcmp(p, "attaching") ? JOB_ATTACHING
                        : !strcmp(p, "scanning")           ? JOB_SCANNING
                        : !strcmp(p, "moving")             ? JOB_MOVING
                        : !strcmp(p, "truncating")         ? JOB_TRUNCATING
                                                           : j->state;
                if (job_is_active(j))
                        job_set_state(j, s);
        } else if (sscanf(line, "progress %" SCNu64 " %" SCNu64, &a, &b) == 2) {
                if (job_is_active(j))
                        job_progress(j, a, b);
        } else if (sscanf(line, "planned %" SCNu64 " %" SCNu64, &a, &b) == 2) {
                j->size_before = a;
                j->size_after = b;
                if (job_is_active(j))
                        job_progress(j, j->done, j->total);
        } else if (!strncmp(line, "open ", 5)) {
                on_open_request(j, line + 5);
        } else if (!strncmp(line, "result ", 7)) {
                on_result(j, line + 7);
        } else if (sscanf(line, "%31s", word) == 1)
                fprintf(stderr, "vhd-compactd: job %" PRIu32 ": unknown worker message '%s'\n", j->id, word);
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
        job_finish(j, false, "org.vhd.Compact.Error.Failed", msg);
        return 0;
}

int worker_start(struct job *j)
{
        struct manager *m = j->m;
        int sv[2], r;
        pid_t self = getpid(), pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
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
                return r;
        }
        return 0;
}

void worker_cancel(struct job *j)
{
        j->cancel_requested = true;
        send_line(j, "cancel", -1);
}
