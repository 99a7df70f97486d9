/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact FILE|DIR... [--recursive] [--jobs N]`: many disks, as an
 * admin compacts a share of profile disks or a folder of VMs.
 *
 * The disks come from find-images.c.  Each one is compacted by the same
 * engine as a single disk (compact_one(): the daemon's job or this
 * process's library), in a child process of its own, up to --jobs at once:
 * a disk's failure, crash or signal stays its own, and the engines need
 * no change to run side by side.  A child's summary comes back through a
 * shared anonymous mapping (one slot per disk, numbers only); its one-line
 * refusal through a memfd that is its stderr.  The line is ours
 * ("vhdctl: 'FILE': ID: text"), so its problem id decides the status:
 *
 *   done      compacted (or, with --dry-run, planned), sizes before/after
 *   skipped   not ours to compact now, nothing wrong with it: in use by
 *             another process or a daemon job (in-use, busy), a parent of
 *             differencing children (has-children), a kind we do not
 *             compact or whose children cannot all be looked for
 *             (not-supported), a saved VM state (saved-state)
 *   failed    anything else, a folder that cannot be listed included
 *   not-run   left when the run was interrupted (SIGINT, SIGTERM)
 *
 * A disk skipped as in-use while other disks of the run were still going
 * is tried once more after all of them have ended: the lock in the way
 * may be the run's own (a child's job reads its parent under a shared
 * lock, while the parent's own job holds it exclusively to look for its
 * children).  Still in use then, it is skipped.
 *
 * SIGINT and SIGTERM stop starting disks and are passed to the running
 * children, which stop at their next safe point (the image valid).  The
 * run keeps going past a failure; the exit status says whether any disk
 * failed or was not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compact-client.h"
#include "find-images.h"
#include "json.h"
#include "util/macro.h"
#include "vhdctl.h"

#define MAX_JOBS 64

enum row_status { ROW_PENDING, ROW_DONE, ROW_SKIPPED, ROW_FAILED, ROW_NOT_RUN };

static const char *const status_name[] = {
        [ROW_PENDING] = "pending", [ROW_DONE] = "done", [ROW_SKIPPED] = "skipped",
        [ROW_FAILED] = "failed", [ROW_NOT_RUN] = "not-run",
};

struct row {
        const char *path;
        enum row_status status;
        char id[32];            /* the problem id of a refusal, or "" */
        char message[400];      /* the refusal's text after the id, or "" */
        uint64_t before, after; /* COMPACT_UNKNOWN when not known */
        bool again;             /* in use during the run: tried once more */
};

struct slot {
        pid_t pid;
        size_t row;
        int err_fd;             /* the child's stderr (a memfd) */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
        stop_signal = sig;
}

/* Problem ids that leave a disk alone rather than fail it. */
static bool skip_id(const char *id)
{
        static const char *const ids[] = { "in-use", "busy", "has-children", "not-supported", "saved-state" };

        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                if (!strcmp(id, ids[i]))
                        return true;
        return false;
}

/* The refusal the child printed: "vhdctl: 'PATH': ID: text" (its first
 * line), or whatever it printed. */
static void read_refusal(int fd, const char *path, struct row *r)
{
        char buf[1024], prefix[64 + 4096];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        const char *p = buf;

        buf[n > 0 ? n : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        snprintf(prefix, sizeof prefix, "vhdctl: '%s': ", path);
        if (!strncmp(p, prefix, strlen(prefix)))
                p += strlen(prefix);
        size_t idlen = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
        if (idlen > 0 && idlen < sizeof r->id && !strncmp(p + idlen, ": ", 2)) {
                memcpy(r->id, p, idlen);
                r->id[idlen] = 0;
                p += idlen + 2;
        }
        if (!*p)
                p = "failed without a message";
        size_t len = MIN(strlen(p), sizeof r->message - 1);
        memcpy(r->message, p, len);
        r->message[len] = 0;
}

static int start_disk(const struct compact_args *a, enum compact_route route, struct row *rows,
                      struct compact_summary *shared, size_t i, struct slot *s)
{
        int err_fd = memfd_create("vhdctl-disk-stderr", MFD_CLOEXEC);
        if (err_fd < 0)
                return -errno;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(err_fd);
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
                        _exit(1);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                struct compact_args ca = *a;
                ca.file = rows[i].path;
                ca.json = false;
                ca.progress = false;
                ca.result = &shared[i];
                int st = compact_one(&ca, route);
                fflush(NULL);
                _exit(st);
        }
        *s = (struct slot) { pid, i, err_fd };
        return 0;
}

static void finish_disk(struct row *r, const struct compact_summary *sum, int status, int err_fd)
{
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                r->status = ROW_DONE;
                r->before = sum->size_before;
                r->after = sum->size_after;
        } else if (WIFEXITED(status)) {
                read_refusal(err_fd, r->path, r);
                r->status = skip_id(r->id) ? ROW_SKIPPED : ROW_FAILED;
        } else {
                r->status = ROW_FAILED;
                snprintf(r->id, sizeof r->id, "failed");
                snprintf(r->message, sizeof r->message, "the process compacting it was killed by signal %d",
                         WTERMSIG(status));
        }
        close(err_fd);
}

/* The next disk from *cursor on to try once more (see the top), or n. */
static size_t next_retry(const struct row *rows, size_t n, size_t *cursor)
{
        while (*cursor < n && !(rows[*cursor].again && rows[*cursor].status == ROW_PENDING))
                (*cursor)++;
        return *cursor < n ? (*cursor)++ : n;
}

static void say_disk(const struct row *r, size_t done, size_t n)
{
        char b[24], c[24];

        if (r->status == ROW_DONE && r->before != COMPACT_UNKNOWN && r->after != COMPACT_UNKNOWN) {
                human_size(r->before, b);
                human_size(r->after, c);
                fprintf(stderr, "vhdctl: [%zu/%zu] '%s': done, %s -> %s\n", done, n, r->path, b, c);
        } else
                fprintf(stderr, "vhdctl: [%zu/%zu] '%s': %s%s%s%s%s\n", done, n, r->path, status_name[r->status],
                        *r->id || *r->message ? ": " : "", r->id, *r->id ? ": " : "", r->message);
}

static bool have_sizes(const struct row *r)
{
        return r->status == ROW_DONE && r->before != COMPACT_UNKNOWN && r->after != COMPACT_UNKNOWN;
}

static void print_table(const struct row *rows, size_t n, bool dry_run)
{
        size_t w = 4, counts[ROW_NOT_RUN + 1] = {};
        uint64_t saved = 0;
        char b[24], c[24], d[24];

        for (size_t i = 0; i < n; i++)
                w = MAX(w, MIN(strlen(rows[i].path), (size_t) 60));
        printf("%-*s %10s %10s %10s  %s\n", (int) w, "FILE", "BEFORE", "AFTER", dry_run ? "WOULD SAVE" : "SAVED",
               "STATUS");
        for (size_t i = 0; i < n; i++) {
                const struct row *r = &rows[i];
                counts[r->status]++;
                if (have_sizes(r)) {
                        uint64_t s = r->before > r->after ? r->before - r->after : 0;
                        saved += s;
                        human_size(r->before, b);
                        human_size(r->after, c);
                        human_size(s, d);
                } else
                        strcpy(b, "-"), strcpy(c, "-"), strcpy(d, "-");
                printf("%-*s %10s %10s %10s  %s%s%s%s%s\n", (int) w, r->path, b, c, d, status_name[r->status],
                       *r->id || *r->message ? ": " : "", r->id, *r->id ? ": " : "", r->message);
        }
        human_size(saved, d);
        printf("%zu disk%s: %zu done, %zu skipped, %zu failed%s; %s %s\n", n, n == 1 ? "" : "s",
               counts[ROW_DONE], counts[ROW_SKIPPED], counts[ROW_FAILED],
               counts[ROW_NOT_RUN] ? ", some not run (interrupted)" : "", dry_run ? "would save" : "saved", d);
}

static void print_json(const struct row *rows, size_t n, bool dry_run)
{
        struct json j = { .f = stdout };
        size_t counts[ROW_NOT_RUN + 1] = {};
        uint64_t saved = 0;

        json_begin_object(&j, NULL);
        json_bool(&j, "dry-run", dry_run);
        json_begin_array(&j, "disks");
        for (size_t i = 0; i < n; i++) {
                const struct row *r = &rows[i];
                counts[r->status]++;
                json_begin_object(&j, NULL);
                json_string(&j, "file", r->path);
                json_string(&j, "status", status_name[r->status]);
                if (*r->id)
                        json_string(&j, "problem-id", r->id);
                else
                        json_null(&j, "problem-id");
                if (*r->message)
                        json_string(&j, "message", r->message);
                else
                        json_null(&j, "message");
                if (have_sizes(r)) {
                        uint64_t s = r->before > r->after ? r->before - r->after : 0;
                        saved += s;
                        json_u64(&j, "size-before", r->before);
                        json_u64(&j, "size-after", r->after);
                        json_u64(&j, "saved", s);
                } else {
                        json_null(&j, "size-before");
                        json_null(&j, "size-after");
                        json_null(&j, "saved");
                }
                json_end_object(&j);
        }
        json_end_array(&j);
        json_u64(&j, "done", counts[ROW_DONE]);
        json_u64(&j, "skipped", counts[ROW_SKIPPED]);
        json_u64(&j, "failed", counts[ROW_FAILED]);
        json_u64(&j, "not-run", counts[ROW_NOT_RUN]);
        json_u64(&j, "saved", saved);
        json_end_object(&j);
}

int compact_batch(const struct compact_args *a, char *const *args, int n_args, bool recursive, unsigned jobs,
                  enum compact_route route)
{
        struct found_images found = {};
        struct slot slots[MAX_JOBS];
        size_t running = 0, next = 0, finished = 0;
        int r;

        jobs = jobs ? MIN(jobs, (unsigned) MAX_JOBS) : 1;
        r = find_images(args, n_args, recursive, &found);
        if (r == -EISDIR)
                return 1;
        if (r < 0) {
                fprintf(stderr, "vhdctl: looking for disks: %s\n", strerror(-r));
                return 1;
        }
        size_t n = found.n;
        struct row *rows = calloc(n + 1, sizeof *rows);
        struct compact_summary *shared = mmap(NULL, (n + 1) * sizeof *shared, PROT_READ | PROT_WRITE,
                                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (!rows || shared == MAP_FAILED) {
                fprintf(stderr, "vhdctl: %s\n", strerror(ENOMEM));
                free(rows);
                found_images_done(&found);
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                rows[i] = (struct row) { .path = found.v[i].path, .before = COMPACT_UNKNOWN,
                                         .after = COMPACT_UNKNOWN };
                if (found.v[i].error) {
                        rows[i].status = ROW_FAILED;
                        snprintf(rows[i].id, sizeof rows[i].id, "%s",
                                 found.v[i].error == -ENOENT ? "file-not-found" : "io-error");
                        snprintf(rows[i].message, sizeof rows[i].message, "%s%s", strerror(-found.v[i].error),
                                 found.v[i].error == -EACCES ? " (the folder cannot be listed)" : "");
                }
        }

        /* A line per disk as it ends, for a person watching (the table
         * says it all again at the end). */
        bool say = a->progress && isatty(STDERR_FILENO);
        struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        bool forwarded = false;
        size_t next_again = 0;
        while (true) {
                /* The disks in order; then, one at a time once every one
                 * has ended, those found in use meanwhile. */
                while (!stop_signal && running < jobs) {
                        size_t i = n;
                        if (next < n)
                                i = next++;
                        else if (running == 0)
                                i = next_retry(rows, n, &next_again);
                        if (i == n)
                                break;
                        if (rows[i].status != ROW_PENDING) {
                                if (say)
                                        say_disk(&rows[i], ++finished, n);
                                continue;
                        }
                        r = start_disk(a, route, rows, shared, i, &slots[running]);
                        if (r < 0) {
                                rows[i].status = ROW_FAILED;
                                snprintf(rows[i].id, sizeof rows[i].id, "failed");
                                snprintf(rows[i].message, sizeof rows[i].message, "cannot start: %s",
                                         strerror(-r));
                                continue;
                        }
                        running++;
                }
                if (running == 0)
                        break;
                if (stop_signal && !forwarded) {
                        for (size_t k = 0; k < running; k++)
                                kill(slots[k].pid, stop_signal);
                        forwarded = true;
                }
                int status;
                pid_t pid = waitpid(-1, &status, 0);
                if (pid < 0) {
                        if (errno == EINTR)
                                continue;
                        break;  /* ECHILD: none left that we know of */
                }
                for (size_t k = 0; k < running; k++)
                        if (slots[k].pid == pid) {
                                struct row *row = &rows[slots[k].row];
                                finish_disk(row, &shared[slots[k].row], status, slots[k].err_fd);
                                if (row->status == ROW_SKIPPED && !strcmp(row->id, "in-use") && !row->again &&
                                    (running > 1 || next < n)) {
                                        *row = (struct row) { .path = row->path, .before = COMPACT_UNKNOWN,
                                                              .after = COMPACT_UNKNOWN, .again = true };
                                } else if (say)
                                        say_disk(row, ++finished, n);
                                slots[k] = slots[--running];
                                break;
                        }
        }
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);

        bool bad = false;
        for (size_t i = 0; i < n; i++) {
                if (rows[i].status == ROW_PENDING)
                        rows[i].status = ROW_NOT_RUN;
                bad |= rows[i].status == ROW_FAILED || rows[i].status == ROW_NOT_RUN;
        }
        if (a->json)
                print_json(rows, n, a->opts.dry_run);
        else if (n == 0)
                printf("No VHD or VHDX disks found.\n");
        else
                print_table(rows, n, a->opts.dry_run);
        munmap(shared, (n + 1) * sizeof *shared);
        free(rows);
        found_images_done(&found);
        return bad ? 1 : 0;
}
