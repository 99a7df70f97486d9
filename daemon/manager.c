/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.vhd.Compact.Manager on /org/vhd/Compact.  Each handler reads and
 * validates its arguments, authorises (root, our own user, or polkit for
 * the path methods; holding a descriptor for the Fd methods), refuses what
 * cannot start (busy here, locked by another process, not a regular file),
 * then creates the job.  Problems inside the disk are the worker's to find.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "resolve.h"
#include "util/macro.h"

uint64_t now_usec(clockid_t c)
{
        struct timespec t;
        clock_gettime(c, &t);
        return (uint64_t) t.tv_sec * 1000000 + (uint64_t) t.tv_nsec / 1000;
}

void manager_touch(struct manager *m)
{
        m->last_activity = now_usec(CLOCK_MONOTONIC);
}

static int parse_options(sd_bus_message *msg, struct job_request *req, sd_bus_error *e)
{
        const char *key;
        int r;

        *req = (struct job_request) { .mode = (char *) "full" };
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (!strcmp(key, "mode")) {
                        const char *mode;
                        r = sd_bus_message_read(msg, "v", "s", &mode);
                        if (r < 0)
                                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "option 'mode' must be a string");
                        if (strcmp(mode, "full") && strcmp(mode, "fs") && strcmp(mode, "zero"))
                                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS,
                                                       "mode '%s' is not one of full, fs, zero", mode);
                        req->mode = (char *) mode;      /* lives in msg; job_new copies it */
                } else if (!strcmp(key, "force-dirty") || !strcmp(key, "force-children") ||
                           !strcmp(key, "no-block-moves")) {
                        int b;
                        r = sd_bus_message_read(msg, "v", "b", &b);
                        if (r < 0)
                                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "option '%s' must be a boolean", key);
                        if (!strcmp(key, "force-dirty"))
                                req->force_dirty = b;
                        else if (!strcmp(key, "force-children"))
                                req->force_children = b;
                        else
                                req->no_block_moves = b;
                } else
                        return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "unknown option '%s'", key);
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

/* Who sent msg, in the bus driver's own words: the effective uid that the
 * bus recorded when the connection was made (dbus-daemon's UnixUserID,
 * which sd-bus reports as the EUID).  Never "augmented": sd-bus fills
 * fields the driver did not give from /proc/PID of the pid it reported,
 * read now, whatever that pid runs now (a set-ID program exec'd after
 * connecting, or another process under a reused pid): unfit for a
 * decision.  The bus gives no group, so the gid is the user's primary
 * group in the user database (its other groups come from there too,
 * broker.c), or (gid_t) -1 when it has no entry. */
int sender_ids(struct manager *m, sd_bus_message *msg, uid_t *ret_uid, gid_t *ret_gid)
{
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
        const char *sender = sd_bus_message_get_sender(msg);
        uint64_t augmented;
        uid_t uid;
        int r;

        if (!sender)
                return -ENXIO;
        /* Asked on m->creds_bus, not with sd_bus_query_sender_creds: see
         * daemon.h.  Without SD_BUS_CREDS_AUGMENT. */
        r = sd_bus_get_name_creds(m->creds_bus, sender, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID, &c);
        if (r < 0)
                return r;
        /* The EUID, or the UID should a libsystemd file UnixUserID there;
         * never a field sd-bus read from /proc. */
        augmented = sd_bus_creds_get_augmented_mask(c);
        r = augmented & SD_BUS_CREDS_EUID ? -ENODATA : sd_bus_creds_get_euid(c, &uid);
        if (r < 0 && !(augmented & SD_BUS_CREDS_UID))
                r = sd_bus_creds_get_uid(c, &uid);
        if (r < 0)
                return -EPERM;  /* the bus did not say */
        if (ret_gid) {
                struct passwd *pw = getpwuid(uid);
                *ret_gid = pw ? pw->pw_gid : (gid_t) -1;
        }
        *ret_uid = uid;
        return 0;
}

/* Refuses a new job while the service stops, or over a cap: every job
 * queued or running holds descriptors (the disk's and its folder's, then
 * the worker's), so their number is bounded for the whole service
 * (max_active, set under RLIMIT_NOFILE by main.c) and for each user
 * (max_per_user), so that one user cannot take them all. */
static int check_new_job(struct manager *m, uid_t uid, sd_bus_error *e)
{
        unsigned n = 0;

        if (m->stopping)
                return sd_bus_error_set(e, VC_ERROR_SHUTTING_DOWN, "the service is stopping: it takes no new jobs");
        if (m->active >= m->max_active)
                return sd_bus_error_setf(e, VC_ERROR_TOO_MANY_JOBS,
                                         "%u jobs are queued or running, the most this service takes at once; "
                                         "try again later", m->active);
        for (struct job *j = m->jobs; j; j = j->next)
                n += job_is_active(j) && j->owner == uid;
        if (n >= m->max_per_user)
                return sd_bus_error_setf(e, VC_ERROR_TOO_MANY_JOBS,
                                         "uid %u has %u jobs queued or running, the most one user may have; "
                                         "try again later", (unsigned) uid, n);
        return 0;
}

/* A job of ours on the same file, still queued or running. */
static struct job *busy_with(struct manager *m, const struct stat *st)
{
        for (struct job *j = m->jobs; j; j = j->next)
                if (job_is_active(j) && j->dev == st->st_dev && j->ino == st->st_ino)
                        return j;
        return NULL;
}

/* Validates the descriptor, refuses busy or locked files, starts the job and
 * replies (an analysis replies when its worker ends).  Takes fd. */
static int start_job(struct manager *m, sd_bus_message *call, int fd_in, const char *path,
                     const struct job_request *req, uid_t uid, gid_t gid, bool as_owner)
{
        _cleanup_(sd_bus_error_free) sd_bus_error refusal = SD_BUS_ERROR_NULL;
        _cleanup_close_ int fd = fd_in, dir_fd = -1;
        _cleanup_free_ char *copy = NULL;
        struct stat st;
        struct job *j, *other;
        int r;

        if (check_new_job(m, uid, &refusal) < 0)
                return sd_bus_reply_method_error(call, &refusal);
        /* Files are opened with the caller's ids: without a group to take,
         * nothing would be dropped (setresgid(-1) keeps ours). */
        if (as_owner && gid == (gid_t) -1)
                return reply_errorf(call, VC_ERROR_ACCESS_DENIED,
                                    "uid %u has no entry in the user database: its groups are unknown",
                                    (unsigned) uid);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return reply_errorf(call, VC_ERROR_NOT_SUPPORTED, "'%s': not a regular file", path);
        other = busy_with(m, &st);
        if (other)
                return reply_errorf(call, VC_ERROR_BUSY, "'%s': job %s is already working on it", path,
                                    other->object ? other->object : "(an analysis)");
        /* The worker would find the same; saying it now spares a job object. */
        struct flock fl = { .l_type = req->dry_run ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
        if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
                return reply_errorf(call, VC_ERROR_IN_USE,
                                    "'%s': in use by another process (it holds a lock on the file)", path);
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        /* The folder to search for differencing children: the one the file
         * really is in (path is its real name), and only if it holds the
         * very file; else none, and the worker refuses file-system drops. */
        const char *dir = dirname(copy);
        const char *base = strrchr(path, '/');
        struct stat here;
        dir_fd = as_owner ? open_as_user(uid, gid, dir, O_RDONLY | O_DIRECTORY)
                          : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0 && (fstatat(dir_fd, base ? base + 1 : path, &here, AT_SYMLINK_NOFOLLOW) < 0 ||
                            here.st_dev != st.st_dev || here.st_ino != st.st_ino))
                close(TAKE_FD(dir_fd));
        if (dir_fd < 0)
                dir_fd = -1;

        /* job_new takes both descriptors only when it succeeds. */
        r = job_new(m, path, req, uid, gid, fd, dir_fd, &j);
        if (r < 0)
                return r;
        (void) TAKE_FD(fd);
        (void) TAKE_FD(dir_fd);
        j->dev = st.st_dev;
        j->ino = st.st_ino;
        j->as_owner = as_owner;
        j->client = sd_bus_message_get_sender(call) ? strdup(sd_bus_message_get_sender(call)) : NULL;
        manager_touch(m);
        if (req->dry_run)
                j->reply_to = sd_bus_message_ref(call);
        else {
                r = sd_bus_reply_method_return(call, "o", j->object);
                if (r < 0)
                        return r;
        }
        job_start_queued(m);
        return 1;
}

/* Path calls run as root: the name is resolved once, with the links
 * users planted in view (resolve.c), and the job works on, and reports,
 * the real file that was opened. */
static int open_path_and_start(struct manager *m, sd_bus_message *call, const char *path,
                               const struct job_request *req, uid_t uid, gid_t gid)
{
        struct resolved res;
        char why[256] = "";
        int r;

        r = resolve_open(path, req->dry_run ? O_RDONLY : O_RDWR, &res, why, sizeof why);
        if (r < 0) {
                int e = -r;
                if (e == ENOENT)
                        return reply_errorf(call, SD_BUS_ERROR_FILE_NOT_FOUND, "'%s': %s", path, strerror(e));
                if (e == EACCES || e == EPERM || e == EROFS)
                        return reply_errorf(call, VC_ERROR_ACCESS_DENIED, "'%s': cannot open it for %s: %s",
                                            path, req->dry_run ? "reading" : "writing", strerror(e));
                if (e == EXDEV)
                        return reply_errorf(call, VC_ERROR_ACCESS_DENIED, "'%s': refused: %s", path, why);
                if (e == EBADFD)
                        return reply_errorf(call, VC_ERROR_NOT_SUPPORTED, "'%s': not a regular file", path);
                return reply_errorf(call, error_name_for_problem(NULL, e), "'%s': %s", path, strerror(e));
        }
        return start_job(m, call, res.fd, res.path[0] ? res.path : path, req, uid, gid, false);
}

struct path_call {
        struct manager *m;
        char *path, *mode;
        struct job_request req;
        uid_t uid;
        gid_t gid;
};

static void path_call_free(struct path_call *pc)
{
        if (!pc)
                return;
        free(pc->path);
        free(pc->mode);
        free(pc);
}

static void path_call_freep(struct path_call **pc)
{
        path_call_free(*pc);
}

static void on_polkit(sd_bus_message *call, bool allowed, const sd_bus_error *error, void *userdata)
{
        _cleanup_(path_call_freep) struct path_call *pc = userdata;
        int r;

        if (!allowed)
                r = reply_errorf(call, VC_ERROR_ACCESS_DENIED,
                                 "'%s': not authorised to compact it (polkit action " VC_POLKIT_ACTION "%s%s)",
                                 pc->path, error ? ": " : "", error ? error->message : "");
        else {
                pc->req.mode = pc->mode;
                r = open_path_and_start(pc->m, call, pc->path, &pc->req, pc->uid, pc->gid);
        }
        if (r < 0)
                (void) reply_errorf(call, VC_ERROR_FAILED, "%s", strerror(-r));
}

static int path_method(sd_bus_message *msg, struct manager *m, bool dry_run, sd_bus_error *e)
{
        struct job_request req;
        const char *path;
        uid_t uid;
        gid_t gid;
        int r;

        manager_touch(m);
        r = sd_bus_message_read(msg, "s", &path);
        if (r < 0)
                return r;
        r = parse_options(msg, &req, e);
        if (r < 0)
                return r;
        req.dry_run = dry_run;
        if (path[0] != '/')
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not an absolute path", path);
        r = sender_ids(m, msg, &uid, &gid);
        if (r < 0)
                return r;
        r = check_new_job(m, uid, e);
        if (r < 0)
                return r;
        if (uid == 0 || uid == geteuid())
                return open_path_and_start(m, msg, path, &req, uid, gid);

        _cleanup_(path_call_freep) struct path_call *pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        *pc = (struct path_call) { .m = m, .path = strdup(path), .mode = strdup(req.mode), .req = req,
                                   .uid = uid, .gid = gid };
        if (!pc->path || !pc->mode)
                return -ENOMEM;
        r = polkit_check(m, msg, on_polkit, pc);
        if (r < 0)
                return r;
        (void) TAKE_PTR(pc);    /* on_polkit's now */
        return 1;       /* the reply comes with polkit's answer */
}

static int fd_method(sd_bus_message *msg, struct manager *m, bool dry_run, sd_bus_error *e)
{
        struct job_request req;
        char link[64], path[4096];
        uid_t uid;
        gid_t gid;
        int fd, r;

        manager_touch(m);
        r = sd_bus_message_read(msg, "h", &fd);
        if (r < 0)
                return r;
        r = parse_options(msg, &req, e);
        if (r < 0)
                return r;
        req.dry_run = dry_run;
        r = sender_ids(m, msg, &uid, &gid);
        if (r < 0)
                return r;
        r = check_new_job(m, uid, e);
        if (r < 0)
                return r;
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "not a usable descriptor");
        if (!dry_run && (flags & O_ACCMODE) != O_RDWR)
                return error_setf_safe(e, VC_ERROR_ACCESS_DENIED,
                                       "the descriptor is not open for reading and writing");
        /* Every in-place write would land at the end of the file. */
        if (!dry_run && (flags & O_APPEND))
                return error_setf_safe(e, VC_ERROR_ACCESS_DENIED,
                                       "the descriptor is open for appending (O_APPEND): the disk is rewritten "
                                       "in place, and every write would land at its end");
        if (dry_run && (flags & O_ACCMODE) == O_WRONLY)
                return error_setf_safe(e, VC_ERROR_ACCESS_DENIED, "the descriptor is not open for reading");
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n <= 0)
                snprintf(path, sizeof path, "(descriptor)");
        else
                path[n] = 0;
        /* The message owns fd; the job needs one of its own. */
        int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (own < 0)
                return -errno;
        return start_job(m, msg, own, path, &req, uid, gid, uid != 0 && uid != geteuid());
}

static int method_compact(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        return path_method(msg, userdata, false, e);
}

static int method_analyze(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        return path_method(msg, userdata, true, e);
}

static int method_compact_fd(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        return fd_method(msg, userdata, false, e);
}

static int method_analyze_fd(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        return fd_method(msg, userdata, true, e);
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        struct manager *m = userdata;
        sd_bus_message *reply = NULL;
        int r;

        manager_touch(m);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        /* Oldest first: the list is newest first.  One walk to count, one
         * to collect (a walk from the head per job made this n²). */
        size_t n = 0;
        for (struct job *j = m->jobs; j; j = j->next)
                n++;
        const struct job **v = n ? calloc(n, sizeof *v) : NULL;
        if (n && !v)
                r = -ENOMEM;
        size_t i = 0;
        for (struct job *j = m->jobs; r >= 0 && j; j = j->next)
                v[i++] = j;
        for (size_t k = n; r >= 0 && k > 0; k--)
                if (v[k - 1]->object)
                        r = sd_bus_message_append(reply, "o", v[k - 1]->object);
        free(v);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 1;
}

static int property_version(sd_bus *bus, const char *path, const char *iface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *e)
{
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("MaxConcurrentJobs", "u", NULL, offsetof(struct manager, max_jobs),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_NAMES("Compact", "sa{sv}", SD_BUS_PARAM(path) SD_BUS_PARAM(options), "o",
                                 SD_BUS_PARAM(job), method_compact, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CompactFd", "ha{sv}", SD_BUS_PARAM(fd) SD_BUS_PARAM(options), "o",
                                 SD_BUS_PARAM(job), method_compact_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Analyze", "sa{sv}", SD_BUS_PARAM(path) SD_BUS_PARAM(options), "a{sv}",
                                 SD_BUS_PARAM(report), method_analyze, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("AnalyzeFd", "ha{sv}", SD_BUS_PARAM(fd) SD_BUS_PARAM(options), "a{sv}",
                                 SD_BUS_PARAM(report), method_analyze_fd, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("FindImages", "sa{sv}", SD_BUS_PARAM(folder) SD_BUS_PARAM(options), "asb",
                                 SD_BUS_PARAM(paths) SD_BUS_PARAM(truncated), method_find_images,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("ListJobs", "", , "ao", SD_BUS_PARAM(jobs), method_list_jobs,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
