/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhd-compact-worker: one compaction (or dry run) for vhd-compactd, in a
 * process of its own, because it parses untrusted disks.  See
 * worker-protocol.h for what it is handed and what it says.
 *
 * It holds the disk (fd 4), the disk's folder (fd 5, maybe absent) and the
 * control socket (fd 3), and, started by a root daemon, runs as a uid and
 * gid of its own (daemon/worker-ids.c) with no_new_privs; before it
 * reads anything it makes itself non-dumpable and installs its
 * system-call filter (worker-seccomp.c), so that a hostile image that
 * takes it over can reach little beyond its own descriptors: everything it needs by name (the
 * parents of a differencing disk, the candidates of the search for
 * children) it asks the daemon for, through the opener of its open
 * context (lib/image/open.h).  For
 * the same reason the file systems are read in-process: nbdkit would need
 * a path it could open.
 *
 *   exit 0  after "result ok"
 *   exit 1  after "result fail ..." (also for bad arguments, when the
 *           control socket can carry the result)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compact/compact.h"
#include "compact/move.h"
#include "image/open.h"
#include "util/bus-names.h"
#include "worker-channel.h"
#include "worker-open.h"
#include "worker-progress.h"
#include "worker-protocol.h"
#include "worker-result.h"
#include "worker-seccomp.h"
#include "worker-volumes.h"

struct args {
        const char *path;
        struct compact_opts opts;
};

static bool fd_is_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

/* Descriptors 0-2 must be taken before anything is received or opened:
 * otherwise a disk's descriptor could land on 2 and a warning (ours, or a
 * sanitizer's) be written into the disk. */
static int guard_std_fds(void)
{
        for (int fd = 0; fd <= 2; fd++) {
                if (fd_is_open(fd))
                        continue;
                int n = open("/dev/null", O_RDWR | O_NOCTTY);
                if (n < 0)
                        return -errno;
                if (n != fd)
                        return -EBADF;  /* cannot happen: the lowest free is fd */
        }
        return 0;
}

static int check_control(int fd)
{
        struct stat st;
        int type;
        socklen_t len = sizeof type;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
            type != SOCK_SEQPACKET)
                return -ENOTSOCK;
        return 0;
}

/* Returns 0, or -EINVAL with the reason in why. */
static int parse_args(int argc, char **argv, struct args *a, char *why, size_t size)
{
        static const struct option options[] = {
                { "path", required_argument, NULL, 'p' },
                { "mode", required_argument, NULL, 'm' },
                { "dry-run", no_argument, NULL, 'n' },
                { "force-dirty", no_argument, NULL, 'f' },
                { "force-children", no_argument, NULL, 'c' },
                { "no-block-moves", no_argument, NULL, 'B' },
                {}
        };
        bool have_mode = false;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1)
                switch (c) {
                case 'p': a->path = optarg; break;
                case 'm':
                        a->opts.mode = compact_mode_from_string(optarg);
                        if ((int) a->opts.mode < 0) {
                                snprintf(why, size, "unknown mode '%.64s' (full, fs or zero)", optarg);
                                return -EINVAL;
                        }
                        have_mode = true;
                        break;
                case 'n': a->opts.dry_run = true; break;
                case 'f': a->opts.force_dirty = true; break;
                case 'c': a->opts.force_children = true; break;
                case 'B': a->opts.no_block_moves = true; break;
                default:
                        snprintf(why, size, "unknown option '%.64s'", argv[optind - 1]);
                        return -EINVAL;
                }
        if (optind != argc || !a->path || !*a->path || !have_mode) {
                snprintf(why, size, "usage: vhd-compact-worker --path PATH --mode full|fs|zero "
                                    "[--dry-run] [--force-dirty] [--force-children] [--no-block-moves]");
                return -EINVAL;
        }
        return 0;
}

static void on_analysed(void *userdata, const struct vc_analysis *a)
{
        const struct worker_progress *wp = userdata;
        worker_send_volumes(wp->channel, a);
}

int main(int argc, char **argv)
{
        struct channel ch = { .fd = WORKER_FD_CONTROL };
        struct worker_progress wp;
        struct vc_problems problems = {};
        struct compact_report rep;
        struct args a = {};
        char why[256];
        int r;

        /* Freed per-block tables go back to the system (see vhdctl.c). */
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        r = guard_std_fds();
        if (r < 0)
                return 1;       /* not even stderr to say so */
        r = check_control(WORKER_FD_CONTROL);
        if (r < 0) {
                fprintf(stderr, "vhd-compact-worker: fd %d is not the control socket (SOCK_SEQPACKET): %s\n",
                        WORKER_FD_CONTROL, strerror(-r));
                return 1;
        }
        /* Whether the daemon passed the folder, asked before anything is
         * opened here: the ring's descriptor would take the free number. */
        const bool have_dir = fd_is_open(WORKER_FD_DIR);
        /* The moves' ring, restricted to what they submit, is made
         * before the filter, which forbids io_uring_setup
         * (compact/move-ring.c, worker-seccomp.c). */
        static struct io_uring ring;
        const int ring_r = compact_ring_init_restricted(&ring);
        r = worker_seccomp_install();
        if (r < 0) {
                (void) channel_send(&ch, "result fail %d - cannot install the system-call filter: %s", -r,
                                    strerror(-r));
                return 1;
        }
        const char *what = NULL;
        r = worker_seccomp_test_hook(ring_r == 0 ? &ring : NULL, &what);
        if (r == 2) {
                (void) channel_send(&ch, "result fail %d - test hook: %s was refused (EACCES)", EACCES, what);
                return 1;
        }
        if (r != 0) {
                /* Still alive: the filter let the call through. */
                (void) channel_send(&ch, "result fail %d - test hook: %s was not refused by the filter (%s)",
                                    EPERM, what, r > 0 ? "it succeeded" : strerror(-r));
                return 1;
        }
        r = parse_args(argc, argv, &a, why, sizeof why);
        if (r < 0) {
                (void) channel_send(&ch, "result fail %d - %s", -r, why);
                return 1;
        }

        const struct vc_open_ctx ctx = {
                .opener = worker_open,
                .userdata = &ch,
                .fd = WORKER_FD_DISK,
                /* Absent: the daemon could not open the folder; nothing is found. */
                .dir_fd = have_dir ? WORKER_FD_DIR : -1,
        };
        if (ring_r < 0 && !a.opts.dry_run) {
                (void) channel_send(&ch, "result fail %d io-error cannot set up the io_uring the moves need: %s",
                                    -ring_r, strerror(-ring_r));
                return 1;
        }
        a.opts.ring = ring_r == 0 ? &ring : NULL;
        a.opts.open = &ctx;
        a.opts.in_process = true;
        worker_progress_init(&wp, &ch);
        worker_progress_attach(&wp, &a.opts);
        /* The volumes are for Analyze's report: a dry run's. */
        a.opts.analysed = a.opts.dry_run ? on_analysed : NULL;

        /* Opening and validating the disk, its parents and the search for
         * children come before the engine's first phase. */
        (void) channel_send(&ch, "phase " VC_STATE_ATTACHING);
        r = compact_run(a.path, &a.opts, &rep, &problems);
        if (r < 0) {
                (void) worker_result_fail(&ch, r, &problems, a.opts.dry_run);
                return 1;
        }
        (void) worker_result_ok(&ch, a.opts.mode, &rep);
        return 0;
}
