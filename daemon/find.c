/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manager.FindImages: the VHD and VHDX files under a folder, found by
 * content (lib/image/find.c: no symbolic link followed, eight bytes read
 * at two places, nothing parsed), for a front end such as the Cockpit
 * page, which can reach the machine's files only through this service.
 * Authorised like Analyze: root, the daemon's own user, or polkit action
 * org.vhd.compact.
 *
 * The walk runs in a child process, so that a slow or hung file system
 * (a dead network mount) stalls the search, never the daemon: the child
 * stats the folder, walks it within FIND_MAX_DEPTH folders,
 * FIND_MAX_ENTRIES names and FIND_MAX_FOUND disks, and writes lines to a
 * pipe the event loop reads:
 *
 *   P PATH      a disk (safe text only: other paths could not be passed
 *               to Analyze or Compact, and are left out)
 *   T 0|1       the end: whether a limit cut the walk short
 *   E ERRNO     the folder could not be walked (stat or listing)
 *   N           the folder is not a folder
 *
 * What the child writes is bounded (FIND_MAX_FOUND paths of at most
 * PATH_MAX bytes); the parent caps what it keeps the same way, and stops
 * waiting after FIND_TIMEOUT_USEC (the child is killed, and reaped when
 * it dies).  At most FIND_MAX_RUNNING searches run at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "image/find.h"
#include "util/macro.h"
#include "util/text.h"

#define FIND_MAX_DEPTH 8
#define FIND_MAX_ENTRIES 20000
#define FIND_MAX_FOUND 1000
#define FIND_MAX_RUNNING 4
#define FIND_TIMEOUT_USEC (120ULL * 1000 * 1000)
#define FIND_OUTPUT_MAX ((size_t) FIND_MAX_FOUND * (PATH_MAX + 3) + 64)

struct find_walk {
        struct manager *m;
        sd_bus_message *call;
        char *folder;
        pid_t pid;
        int fd;
        sd_event_source *io, *child, *timer;
        char *out;
        size_t len, cap;
        bool replied, reaped;
};

static unsigned running;

static void write_all(int fd, const char *s, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, s, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        _exit(1);
                s += w;
                n -= (size_t) w;
        }
}

static _Noreturn void walk_in_child(int fd, const char *folder)
{
        static const struct image_walk_limits limits = {
                .max_depth = FIND_MAX_DEPTH, .max_entries = FIND_MAX_ENTRIES, .max_found = FIND_MAX_FOUND,
        };
        struct found_images l = {};
        struct stat st;
        char line[32];

        /* Test hook: a slow file system (test-daemon-volumes.sh). */
        const char *slow = getenv("VHDCOMPACT_TEST_FIND_SLEEP_MS");
        if (slow) {
                unsigned long ms = strtoul(slow, NULL, 10);
                nanosleep(&(struct timespec) { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000 }, NULL);
        }
        if (stat(folder, &st) < 0) {
                snprintf(line, sizeof line, "E %d\n", errno);
                write_all(fd, line, strlen(line));
                _exit(0);
        }
        if (!S_ISDIR(st.st_mode)) {
                write_all(fd, "N\n", 2);
                _exit(0);
        }
        if (image_walk(folder, &limits, &l) < 0 || found_images_sort(&l) < 0)
                _exit(1);
        if (l.n == 1 && l.v[0].error && !strcmp(l.v[0].path, folder)) {
                snprintf(line, sizeof line, "E %d\n", -l.v[0].error);
                write_all(fd, line, strlen(line));
                _exit(0);
        }
        for (size_t i = 0; i < l.n; i++)
                if (l.v[i].error == 0 && text_is_safe(l.v[i].path) && strlen(l.v[i].path) < PATH_MAX) {
                        write_all(fd, "P ", 2);
                        write_all(fd, l.v[i].path, strlen(l.v[i].path));
                        write_all(fd, "\n", 1);
                }
        write_all(fd, l.truncated ? "T 1\n" : "T 0\n", 4);
        _exit(0);
}

static void walk_free(struct find_walk *w)
{
        sd_event_source_disable_unref(w->io);
        sd_event_source_disable_unref(w->child);
        sd_event_source_disable_unref(w->timer);
        if (w->fd >= 0)
                close(w->fd);
        sd_bus_message_unref(w->call);
        free(w->folder);
        free(w->out);
        free(w);
        running--;
}

/* The reply from the child's whole output; the call's error otherwise. */
static void reply_from_output(struct find_walk *w)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *folder = w->folder;
        int r, e;

        if (w->len > 0 && w->out[w->len - 1] == '\n' && !memchr(w->out, 0, w->len))
                w->out[w->len - 1] = 0;
        else
                w->len = 0;     /* cut short: no "T" line */
        if (w->len == 0) {
                (void) reply_errorf(w->call, VC_ERROR_FAILED, "'%s': the search for disks failed", folder);
                return;
        }
        if (!strcmp(w->out, "N")) {
                (void) reply_errorf(w->call, VC_ERROR_NOT_SUPPORTED, "'%s': not a folder", folder);
                return;
        }
        if (sscanf(w->out, "E %d", &e) == 1) {
                const char *name = VC_ERROR_FAILED;
                if (e == ENOENT)
                        name = SD_BUS_ERROR_FILE_NOT_FOUND;
                else if (e == EACCES || e == EPERM)
                        name = VC_ERROR_ACCESS_DENIED;
                (void) reply_errorf(w->call, name, "'%s': %s", folder, strerror(e));
                return;
        }
        r = sd_bus_message_new_method_return(w->call, &reply);
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'a', "s");
        char *p = w->out;
        int truncated = -1;
        while (r >= 0 && p) {
                char *nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                if (!strncmp(p, "P ", 2) && truncated < 0)
                        r = sd_bus_message_append(reply, "s", p + 2);
                else if (!strcmp(p, "T 0") || !strcmp(p, "T 1"))
                        truncated = p[2] == '1';
                else
                        r = -EBADMSG;
                p = nl ? nl + 1 : NULL;
        }
        if (r >= 0 && truncated < 0)
                r = -EBADMSG;
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        r = r < 0 ? r : sd_bus_message_append(reply, "b", truncated);
        r = r < 0 ? r : sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                (void) reply_errorf(w->call, VC_ERROR_FAILED, "'%s': the search for disks failed: %s", folder,
                                    strerror(-r));
}

static void finish(struct find_walk *w)
{
        if (!w->replied) {
                w->replied = true;
                reply_from_output(w);
        }
        w->io = sd_event_source_disable_unref(w->io);
        w->timer = sd_event_source_disable_unref(w->timer);
        if (w->fd >= 0)
                close(w->fd);
        w->fd = -1;
        if (w->reaped)
                walk_free(w);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct find_walk *w = userdata;

        if (w->len == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 4096;
                if (cap > FIND_OUTPUT_MAX + 1)
                        cap = FIND_OUTPUT_MAX + 1;
                char *v = cap > w->cap ? realloc(w->out, cap) : NULL;
                if (!v) {
                        w->len = 0;
                        finish(w);
                        return 0;
                }
                w->out = v;
                w->cap = cap;
        }
        ssize_t n = read(fd, w->out + w->len, w->cap - w->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                if (n < 0)
                        w->len = 0;
                finish(w);
                return 0;
        }
        w->len += (size_t) n;
        return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        struct find_walk *w = userdata;

        w->reaped = true;
        w->child = sd_event_source_disable_unref(w->child);
        if (w->replied)
                walk_free(w);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct find_walk *w = userdata;

        (void) kill(w->pid, SIGKILL);
        if (!w->replied) {
                w->replied = true;
                (void) reply_errorf(w->call, VC_ERROR_FAILED, "'%s': the search for disks took longer than %llu s",
                                    w->folder, FIND_TIMEOUT_USEC / 1000000);
        }
        finish(w);
        return 0;
}

static int start_walk(struct manager *m, sd_bus_message *call, const char *folder)
{
        int p[2], r;

        if (running >= FIND_MAX_RUNNING)
                return reply_errorf(call, VC_ERROR_TOO_MANY_JOBS,
                                    "'%s': %u searches for disks are running; try again later", folder,
                                    FIND_MAX_RUNNING);
        struct find_walk *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        running++;
        *w = (struct find_walk) { .m = m, .call = sd_bus_message_ref(call), .folder = strdup(folder), .fd = -1 };
        if (!w->folder || pipe2(p, O_CLOEXEC) < 0) {
                r = w->folder ? -errno : -ENOMEM;
                walk_free(w);
                return r;
        }
        w->pid = fork();
        if (w->pid < 0) {
                r = -errno;
                close(p[0]);
                close(p[1]);
                walk_free(w);
                return r;
        }
        if (w->pid == 0) {
                close(p[0]);
                walk_in_child(p[1], folder);
        }
        close(p[1]);
        w->fd = p[0];
        r = sd_event_add_child(m->event, &w->child, w->pid, WEXITED, on_child, w);
        if (r < 0) {
                (void) kill(w->pid, SIGKILL);
                (void) waitpid(w->pid, NULL, 0);
                walk_free(w);
                return r;
        }
        r = sd_event_add_io(m->event, &w->io, w->fd, EPOLLIN, on_output, w);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &w->timer, CLOCK_MONOTONIC, FIND_TIMEOUT_USEC, 0,
                                               on_timeout, w);
        if (r < 0) {
                /* The child source reaps it and frees w. */
                (void) kill(w->pid, SIGKILL);
                w->replied = true;
                finish(w);
                return r;
        }
        return 1;
}

struct find_call {
        struct manager *m;
        char *folder;
};

static void on_polkit(sd_bus_message *call, bool allowed, const sd_bus_error *error, void *userdata)
{
        struct find_call *fc = userdata;
        int r;

        if (!allowed)
                (void) reply_errorf(call, VC_ERROR_ACCESS_DENIED,
                                    "'%s': not authorised to look for disks (polkit action " VC_POLKIT_ACTION "%s%s)",
                                    fc->folder, error ? ": " : "", error ? error->message : "");
        else {
                r = start_walk(fc->m, call, fc->folder);
                if (r < 0)
                        (void) reply_errorf(call, VC_ERROR_FAILED, "'%s': %s", fc->folder, strerror(-r));
        }
        free(fc->folder);
        free(fc);
}

int method_find_images(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        struct manager *m = userdata;
        const char *folder, *key;
        uid_t uid;
        int r;

        manager_touch(m);
        r = sd_bus_message_read(msg, "s", &folder);
        if (r < 0)
                return r;
        /* No option yet: the a{sv} is for later ones; any key is refused. */
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(msg, 'e', "sv");
        if (r > 0 && sd_bus_message_read(msg, "s", &key) >= 0)
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "unknown option '%s'", key);
        if (r < 0)
                return r;
        if (folder[0] != '/')
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not an absolute path", folder);
        r = sender_ids(m, msg, &uid, NULL);
        if (r < 0)
                return r;
        if (uid == 0 || uid == geteuid())
                return start_walk(m, msg, folder);
        struct find_call *fc = calloc(1, sizeof *fc);
        if (!fc || !(fc->folder = strdup(folder))) {
                free(fc);
                return -ENOMEM;
        }
        fc->m = m;
        r = polkit_check(m, msg, on_polkit, fc);
        if (r < 0) {
                free(fc->folder);
                free(fc);
                return r;
        }
        return 1;
}
