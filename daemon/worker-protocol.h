/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What vhd-compactd and its worker (vhd-compact-worker) say to each other.
 *
 * Untrusted disk contents are parsed only in the worker: one process per
 * job, started by the daemon with
 *
 *   fd 3  the control socket (AF_UNIX, SOCK_SEQPACKET: one message per
 *         datagram, so no framing)
 *   fd 4  the disk, opened by the daemon (read-write, or read-only for a dry
 *         run)
 *   fd 5  the disk's directory, O_RDONLY|O_DIRECTORY, for the search for
 *         differencing children (absent, i.e. closed, when it could not be
 *         opened: the search then finds nothing)
 *   argv  vhd-compact-worker --path PATH --mode full|fs|zero
 *         [--dry-run] [--force-dirty] [--force-children] [--no-block-moves]
 *
 * and, when the daemon runs as root, already switched to an unprivileged
 * user with no_new_privs set.  It cannot open files by name; it asks.
 *
 * Messages are text, at most WORKER_MSG_MAX bytes, fields separated by one
 * space; a PATH or MESSAGE field is always last and runs to the end (it may
 * contain spaces).  Numbers are decimal.
 *
 * Worker -> daemon:
 *   phase NAME            attaching | scanning | moving | truncating
 *   progress DONE TOTAL   bytes of the current phase (sent at most ~10/s)
 *   planned BEFORE AFTER  file sizes now and after the job, once planned
 *   volume P START SIZE CLUSTER USED FREE FSFREE RECLAIM SCANNED CLEAN FS NOTE
 *                         one per volume the file-system scan looked at
 *                         (a dry run in modes full and fs), before the
 *                         result, at most
 *                         WORKER_VOLUMES_MAX: partition number (0: no
 *                         table), offset and size on the virtual disk,
 *                         cluster size (0: no counts), used and free bytes
 *                         by the file system's counts, the bytes it frees,
 *                         the file bytes its wholly free blocks hold, 0|1
 *                         scanned, 0|1 clean, the registry's name or "-",
 *                         why it frees nothing (maybe empty)
 *   open PATH             please open PATH read-only; the reply is
 *                           "fd" carrying the descriptor (SCM_RIGHTS), or
 *                           "error ERRNO"
 *   result ok K=V ...     success; keys: mode size-before size-after
 *                         blocks-allocated blocks-dropped-fs
 *                         blocks-dropped-zero blocks-dropped-fs-zero
 *                         blocks-moved bytes-moved
 *                         bytes-read bytes-written seconds (a decimal)
 *                         allocated-before allocated-after (st_blocks x
 *                         512; after is 0 in a dry run) and, with
 *                         --no-block-moves, bytes-punched
 *   result fail ERRNO ID MESSAGE
 *                         failure: ERRNO positive, ID a problem id of
 *                         lib/util/problem.c or "-", MESSAGE the one line
 *                         to show (without the file name)
 *   The worker exits 0 after "result ok", 1 after "result fail"; an exit
 *   without a result is a crash (the job fails; the image is valid by the
 *   executor's write order).
 *
 * Daemon -> worker:
 *   cancel                stop at the next safe point ("result fail 125
 *                         - cancelled ...")
 *
 * The daemon opens only regular files whose names end in .vhd, .avhd, .vhdx or .avhdx
 * (any case) for "open", and for a job started through CompactFd by a
 * non-root caller, only what that caller could open itself.
 */
#pragma once

#define WORKER_FD_CONTROL 3
#define WORKER_FD_DISK 4
#define WORKER_FD_DIR 5
#define WORKER_MSG_MAX 4096
#define WORKER_VOLUMES_MAX 128
