/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring block mover.  A fixed table of slots, each with one buffer of a
 * piece (the largest move, or at most the chunk: 4 MiB unless a test asks
 * less); the slot index travels in user_data.  A slot reads a piece of its
 * object, then writes it, piece after piece (an object of at most a chunk,
 * VHD's 2 MiB + 512 blocks, in one read and one write): memory is
 * queue_depth pieces whatever the objects' size (VHDX: up to 256 MiB).
 * Short transfers are resubmitted for the remainder and -EAGAIN is
 * retried.  We submit once per batch and reap with "wait for one, drain the
 * rest, advance once".  Durability never depends on completion order: the
 * barriers are the explicit fdatasync calls of the protocol in move.h.
 *
 * Every write, truncate and barrier is reported to the power-cut log
 * (lib/util/fault.h) once it has succeeded: syncs and truncates go
 * through vc_sync()/vc_ftruncate(), which do both.
 *
 * The wait for completions has a deadline (opts->stall_ms).  Buffered
 * writes to most Linux file systems (ext4 among them) do not take the
 * non-blocking path, so io_uring hands every one to its io-wq worker
 * threads.  On the 6.18 kernel of our machines that hand-off sometimes
 * loses its worker: the writes stay queued, no thread runs them, and the
 * wait never ends (caught in CI: about one run in 40 of test-compact-
 * aligned; a 60-line liburing program shows it without any of our code).
 * Any new work for io-wq starts a worker, which then drains the queue, so
 * when nothing completes before the deadline we queue an asynchronous
 * no-op (a "kick") and wait again; a kick goes through io-wq as well, so
 * each deadline that passes sends another while fewer than four are in
 * flight.  A kick changes no byte of the file and costs nothing when
 * completions flow (test-compact-stall).
 *
 * Every failure is reported once, as an io-error problem that names the
 * operation, the block and the offset; whatever step fails, nothing after
 * it is written, so the image stays valid (see move.h).  Each I/O first
 * asks vc_io_fault() (lib/util/fault.h), so tests can fail or shorten any
 * one of them; an injected failure is submitted as a no-op, so that the
 * completion path is the real one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/log.h"
#include "../util/macro.h"
#include "image/image.h"
#include "move.h"

#define DEFAULT_QUEUE_DEPTH 8
#define MAX_QUEUE_DEPTH 64
#define DEFAULT_STALL_MS 1000
#define DEFAULT_CHUNK (4u << 20)
#define KICK_TAG (UINT64_MAX - 1) /* user_data of a kick, never a slot index */
#define MAX_KICKS 4             /* kicks in flight at once (see kick_io_wq) */
#define STALL_TAG (UINT64_MAX - 2) /* of a test's stall (lib/util/fault.h) */
_Static_assert(MAX_QUEUE_DEPTH * 2 + MAX_KICKS <= COMPACT_RING_ENTRIES, "a caller's ring holds any queue depth");

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_WRITING };

struct slot {
        enum slot_state state;
        uint32_t move;          /* index into plan->moves */
        uint64_t piece;         /* offset of the current piece in the object */
        uint64_t done;          /* bytes of the piece's current phase transferred */
        uint8_t *buf;
        int injected;           /* an injected error, for the no-op in flight */
        bool direct;            /* its I/O in flight was submitted with O_DIRECT on */
};

struct mover {
        struct io_uring *ring;  /* opts->ring, or own */
        struct io_uring own;
        int fd;
        const struct vc_compact_ops *ops;
        struct vc_image *img;   /* handed to ops only */
        const struct compact_plan *plan;
        struct slot *slots;
        unsigned n_slots, busy;
        uint64_t chunk;         /* bytes of a piece at most */
        unsigned stall_ms;      /* see "deadline" at the top */
        unsigned kicks_in_flight;       /* at most MAX_KICKS: the ring has room */
        uint32_t dio_align;     /* direct I/O's alignment, 0: through the page cache (see below) */
        bool direct;            /* O_DIRECT is on on fd now */
        uint32_t next;          /* next move to start */
        uint32_t end;           /* the round's moves end here */
        uint32_t finished;      /* moves landed, in every round so far */
        uint64_t bytes_finished;        /* their bytes */
        bool *landed;           /* per move: its copy is complete */
        struct compact_exec_stats *stats;
        struct vc_problems *problems;
};

/* fdatasync (fsync with full) after step, then the crash point what (none
 * when NULL: the last fsync ends the run anyway). */
static int sync_point(int fd, bool full, const char *step, const char *what, struct vc_problems *problems)
{
        int r = vc_io_fault(VC_IO_SYNC, NULL);

        if (r == 0)
                r = vc_sync(fd, full, what ? what : step);
        if (r < 0)
                return vc_problem_step_failed(problems, r, 0, "%s: %s", step, full ? "fsync" : "fdatasync");
        if (what)
                vc_fault_point(what);
        return 0;
}

/*
 * Direct I/O.  Copied through the page cache, every block is read into
 * the cache, copied into our buffer, copied again into the cache as
 * dirty pages and written back only at the fdatasync: on our machines a
 * move then takes as long as dd copying the same bytes.  With O_DIRECT
 * the reads and writes go between the disk and our buffers, all of them
 * in flight at once without io-wq's threads for the reads: 15-25% less
 * wall time for the moves here (docs/benchmarks.md).  So when the host
 * file system tells its alignment (statx STATX_DIOALIGN; ext4 and XFS do,
 * tmpfs and FUSE do not) and every move's source, place, length and the
 * piece size are multiples of it (VHD: 512, VHDX: 1 MiB), O_DIRECT is
 * turned on on the image's descriptor for each round's copy, and off
 * again before its fdatasync and the map's writes.  Nothing else uses
 * the descriptor meanwhile.  Durability is unchanged: a direct write
 * still sits in the disk's cache until the fdatasync, which stays.  The
 * kernel keeps the cache coherent (a direct read writes back dirty pages
 * of its range first; a direct write drops the range's cached pages).
 * Should the file system still refuse one (EINVAL: a short transfer left
 * an unaligned remainder, say), O_DIRECT goes off for the rest of the run
 * and that I/O is submitted again through the page cache.
 * compact_exec_opts.buffered keeps the page cache throughout.
 */
static uint32_t direct_alignment(int fd, const struct compact_plan *plan, uint64_t chunk)
{
        struct statx stx;

        if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) < 0 || !(stx.stx_mask & STATX_DIOALIGN))
                return 0;
        uint32_t a = stx.stx_dio_offset_align;
        /* The buffers are 4 KiB-aligned (compact_execute_ops). */
        if (a == 0 || stx.stx_dio_mem_align == 0 || stx.stx_dio_mem_align > 4096 || chunk % a)
                return 0;
        for (uint32_t i = 0; i < plan->n_moves; i++) {
                const struct compact_move *mv = &plan->moves[i];
                if (mv->from % a || mv->to % a || mv->len % a)
                        return 0;
        }
        return a;
}

/* O_DIRECT on on the image's descriptor when the run may use it (see
 * above); should the file system refuse, the page cache it is. */
static void direct_on(struct mover *m)
{
        if (!m->dio_align || m->direct)
                return;
        int fl = fcntl(m->fd, F_GETFL);
        if (fl < 0 || fcntl(m->fd, F_SETFL, fl | O_DIRECT) < 0)
                return;
        m->direct = true;
        m->stats->dio_align = m->dio_align;
}

/* O_DIRECT off again: anything but the copy's I/O needs it off. */
static int direct_off(struct mover *m)
{
        if (!m->direct)
                return 0;
        int fl = fcntl(m->fd, F_GETFL);
        if (fl < 0 || fcntl(m->fd, F_SETFL, fl & ~O_DIRECT) < 0)
                return vc_problem_step_failed(m->problems, -errno, 0, "copying blocks: turning direct I/O off");
        m->direct = false;
        return 0;
}

/* Bytes of the slot's current piece. */
static uint64_t piece_len(const struct mover *m, const struct slot *s)
{
        return MIN(m->plan->moves[s->move].len - s->piece, m->chunk);
}

static int submit_io(struct mover *m, unsigned i)
{
        struct slot *s = &m->slots[i];
        const struct compact_move *mv = &m->plan->moves[s->move];
        struct io_uring_sqe *sqe = io_uring_get_sqe(m->ring);

        if (!sqe)
                return -EBUSY;  /* cannot happen: ring entries >= slots */
        size_t len = (size_t) (piece_len(m, s) - s->done);
        uint64_t at = s->piece + s->done;
        bool rd = s->state == SLOT_READING;
        s->direct = m->direct;
        s->injected = vc_io_fault(rd ? VC_IO_READ : VC_IO_WRITE, &len);
        if (s->injected == VC_IO_STALL) {
                /* A test's stand-in for the lost io-wq worker: the I/O
                 * waits, linked behind a poll that only a kick ends. */
                s->injected = 0;
                int efd = vc_io_stall_fd();
                if (efd >= 0) {
                        io_uring_prep_poll_add(sqe, efd, POLLIN);
                        io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
                        io_uring_sqe_set_data64(sqe, STALL_TAG);
                        sqe = io_uring_get_sqe(m->ring);
                        if (!sqe)
                                return -EBUSY;  /* cannot happen: see the ring's size */
                }
        }
        if (s->injected < 0)
                io_uring_prep_nop(sqe);
        else if (rd)
                io_uring_prep_read(sqe, m->fd, s->buf + s->done, (unsigned) len, mv->from + at);
        else
                io_uring_prep_write(sqe, m->fd, s->buf + s->done, (unsigned) len, mv->to + at);
        io_uring_sqe_set_data64(sqe, i);
        return 0;
}

static int start_moves(struct mover *m)
{
        int r;

        for (unsigned i = 0; i < m->n_slots && m->next < m->end; i++) {
                if (m->slots[i].state != SLOT_FREE)
                        continue;
                m->slots[i] = (struct slot) { .state = SLOT_READING, .move = m->next++, .buf = m->slots[i].buf };
                r = submit_io(m, i);
                if (r < 0)
                        return r;
                m->busy++;
        }
        return 0;
}

/* Handles one completion; returns <0 on an I/O error, recorded once (the
 * first error stops the run: later ones are only returned). */
static int complete(struct mover *m, unsigned i, int res, bool first)
{
        struct slot *s = &m->slots[i];
        const struct compact_move *mv = &m->plan->moves[s->move];
        bool rd = s->state == SLOT_READING;

        if (s->injected < 0)
                res = s->injected;
        if (res == -EAGAIN || res == -EINTR)
                return submit_io(m, i);
        if (res == -EINVAL && s->direct) {
                /* Direct I/O refused this one after all: through the page
                 * cache from now on, this one again first. */
                m->dio_align = 0;
                int r = direct_off(m);
                if (r < 0) {
                        s->state = SLOT_FREE;   /* nothing of it in flight */
                        m->busy--;
                        return r;
                }
                vc_debug("compact: direct I/O refused (%s at %" PRIu64 "); copying through the page cache",
                         rd ? "reading" : "writing", (rd ? mv->from : mv->to) + s->piece + s->done);
                m->stats->direct_fallbacks++;
                return submit_io(m, i);
        }
        if (res <= 0) {
                /* 0: a read past EOF, or a write of nothing: the file
                 * changed under us, or its file system is failing. */
                int r = res < 0 ? res : -EIO;
                /* The slot is done with: nothing waits for it any more. */
                s->state = SLOT_FREE;
                m->busy--;
                if (!first)
                        return r;
                return vc_problem_step_failed(m->problems, r, (rd ? mv->from : mv->to) + s->piece + s->done,
                              "copying block %" PRIu32 ": %s %" PRIu64 " bytes%s", mv->block,
                              rd ? "reading" : "writing", piece_len(m, s) - s->done,
                              res == 0 ? (rd ? " (end of file)" : " (nothing written)") : "");
        }
        if (!rd)
                vc_power_log_write_ring(m->fd, s->buf + s->done, (size_t) res, mv->to + s->piece + s->done);
        s->done += (uint64_t) res;
        if (s->state == SLOT_READING)
                m->stats->bytes_read += (uint64_t) res;
        else
                m->stats->bytes_written += (uint64_t) res;
        if (s->done < piece_len(m, s))
                return submit_io(m, i);         /* short transfer: the rest */
        if (s->state == SLOT_READING) {
                s->state = SLOT_WRITING;
                s->done = 0;
                return submit_io(m, i);
        }
        s->piece += s->done;
        if (s->piece < mv->len) {               /* the next piece */
                s->state = SLOT_READING;
                s->done = 0;
                return submit_io(m, i);
        }
        vc_fault_point("compact: block copied");
        /* Its source is read for good: out of the page cache now, while
         * the disk works, rather than in the truncate, which would evict
         * it (0.1-0.2 s per GiB here; docs/benchmarks.md), and no longer
         * crowding out others' cache on a large disk.  A hint only.  (A
         * direct read caches nothing, but the scans may have.) */
        (void) posix_fadvise(m->fd, (off_t) mv->from, (off_t) mv->len, POSIX_FADV_DONTNEED);
        m->landed[s->move] = true;
        s->state = SLOT_FREE;
        m->busy--;
        m->finished++;
        m->bytes_finished += mv->len;
        m->stats->blocks_moved++;
        return 0;
}

/* Nothing completed before the deadline: starts an io-wq worker (see the
 * top of this file) with a no-op that only it may run. */
static int kick_io_wq(struct mover *m)
{
        /* A kick goes through io-wq too: should it be stuck with the
         * rest, the next deadline sends another, up to MAX_KICKS. */
        if (m->kicks_in_flight >= MAX_KICKS)
                return 0;
        struct io_uring_sqe *sqe = io_uring_get_sqe(m->ring);
        if (!sqe)
                return -EBUSY;  /* cannot happen: ring entries > slots */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
        io_uring_sqe_set_data64(sqe, KICK_TAG);
        m->kicks_in_flight++;
        vc_io_stall_wake();     /* what ends a test's stall */
        if (m->stats->io_wq_kicks++ == 0)
                vc_debug("compact: no block I/O completed in %u ms with %u in flight; waking io-wq",
                         m->stall_ms, m->busy);
        return 0;
}

/* Step 2: copies the round's moves, up to m->end; stops early (returning
 * -ECANCELED) when the progress callback asks, after the blocks in flight
 * have landed. */
static int copy_blocks(struct mover *m, const struct compact_exec_opts *o)
{
        bool stop = false;
        int r = 0;

        while (m->finished < m->end || m->busy > 0) {
                if (!stop && r == 0) {
                        r = start_moves(m);
                        if (r < 0)
                                stop = true;
                }
                if (m->busy == 0)
                        break;
                struct __kernel_timespec deadline = {
                        .tv_sec = m->stall_ms / 1000,
                        .tv_nsec = (long long) (m->stall_ms % 1000) * 1000000,
                };
                struct io_uring_cqe *first;
                int sr = io_uring_submit_and_wait_timeout(m->ring, &first, 1, &deadline, NULL);
                if (sr == -ETIME)
                        sr = kick_io_wq(m);     /* then a cancel is still seen */
                if (sr < 0 && sr != -EINTR) {
                        if (r == 0)
                                r = vc_problem_step_failed(m->problems, sr, 0, "copying blocks: waiting for io_uring");
                        break;
                }
                struct io_uring_cqe *cqe;
                unsigned head, seen = 0;
                io_uring_for_each_cqe(m->ring, head, cqe) {
                        seen++;
                        uint64_t tag = io_uring_cqe_get_data64(cqe);
                        if (tag >= m->n_slots) {
                                /* A kick's, or the timeout liburing queues
                                 * itself on kernels before 5.11. */
                                if (tag == KICK_TAG)
                                        m->kicks_in_flight--;
                                continue;
                        }
                        int cr = complete(m, (unsigned) tag, cqe->res, r == 0);
                        if (cr < 0 && r == 0) {
                                r = cr;
                                stop = true;
                        }
                }
                io_uring_cq_advance(m->ring, seen);
                if (!stop && o->progress &&
                    o->progress(o->userdata, m->bytes_finished, m->plan->bytes_moved) != 0) {
                        stop = true;
                        r = -ECANCELED;
                }
                /* After an error or a cancel: start nothing new, let what is
                 * in flight land, then stop. */
                if (stop)
                        m->next = m->end;
        }
        return r;
}

/*
 * Room on the host file system (see "Rounds" in move.h).  Writing a block
 * allocates whatever part of its place is a hole of the file; punching a
 * block's old place gives back what part of it is not.  Holes are found
 * with SEEK_DATA/SEEK_HOLE (a file system without them is all data: a
 * move then needs nothing).  The descriptor's position, which a caller
 * may share, is put back afterwards.
 */
uint64_t compact_hole_bytes(int fd, uint64_t off, uint64_t len)
{
        uint64_t pos = off, end = off + len, holes = 0;

        while (pos < end) {
                off_t d = lseek(fd, (off_t) pos, SEEK_DATA);
                if (d < 0) {
                        if (errno == ENXIO)     /* no data from pos on */
                                holes += end - pos;
                        break;
                }
                if ((uint64_t) d >= end) {
                        holes += end - pos;
                        break;
                }
                holes += (uint64_t) d - pos;
                off_t h = lseek(fd, d, SEEK_HOLE);
                if (h <= d)
                        break;
                pos = (uint64_t) h;
        }
        return holes;
}

/* Kept free besides what the moves need: the tail at the new end, the
 * file system's own bookkeeping (a punch can split an extent), and others'. */
#define SPACE_MARGIN (2ull << 20)

struct rounds {
        uint32_t n;             /* rounds; sources are punched when more than 1 */
        uint32_t *end;          /* round i moves [end[i-1], end[i]) */
        /* Past the new end, what no block moved in a round occupies:
         * dropped slots, and what an interrupted run left.  Punched
         * after step 1, n_tail ranges of tail[2 * i] bytes at tail[2 * i + 1]. */
        uint64_t *tail;
        uint32_t n_tail;
};

static void rounds_done(struct rounds *rs)
{
        free(rs->end);
        free(rs->tail);
        *rs = (struct rounds) {};
}

static int no_space(struct vc_problems *problems, uint64_t need, uint64_t avail, uint32_t block)
{
        return vc_problem_add(problems, VC_PROBLEM_NO_SPACE, -ENOSPC, NULL, 0,
                              "nothing was written: moving block %" PRIu32 " needs %" PRIu64 " bytes and %llu in "
                              "reserve, the file system has %" PRIu64 " free (with what moves before it give back); "
                              "free some space and run again",
                              block, need, (unsigned long long) SPACE_MARGIN, avail);
}

/*
 * Splits the moves into rounds that each fit in the free space, counting
 * what punching the rounds before gave back.  Refuses (no-space, nothing
 * written) when even one move cannot fit.  When free space is plenty for
 * the worst case (every place a hole), nothing is looked up: one round.
 */
static int plan_rounds(int fd, const struct compact_plan *plan, struct rounds *ret,
                       struct vc_problems *problems)
{
        struct rounds rs = {};
        struct statvfs sv;
        uint64_t last_end = plan->final_size - plan->tail;

        rs.end = malloc(sizeof *rs.end);
        if (!rs.end)
                return -ENOMEM;
        rs.n = 1;
        rs.end[0] = plan->n_moves;
        if (plan->n_moves == 0 || fstatvfs(fd, &sv) < 0) {
                *ret = rs;
                return 0;
        }
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        uint64_t worst = plan->bytes_moved + SPACE_MARGIN;
        if (avail >= worst) {
                *ret = rs;
                return 0;
        }

        off_t pos = lseek(fd, 0, SEEK_CUR);
        _cleanup_free_ uint64_t *need = malloc((size_t) plan->n_moves * sizeof *need);
        int r = need ? 0 : -ENOMEM;
        uint64_t total = 0, freed = 0;
        for (uint32_t i = 0; r == 0 && i < plan->n_moves; i++) {
                need[i] = compact_hole_bytes(fd, plan->moves[i].to, plan->moves[i].len);
                total += need[i];
        }
        if (r == 0 && total + SPACE_MARGIN > avail) {
                /* Past the new end, everything but the sources of moves
                 * gives its space back at once, before any move: the
                 * slots released in step 1, and those a run interrupted
                 * after pointing the BAT away from them left behind.
                 * Sources come highest first. */
                uint64_t tail_off = plan->old_size - plan->tail, at = last_end;
                rs.tail = malloc(((size_t) plan->n_moves + 1) * 2 * sizeof *rs.tail);
                r = rs.tail ? 0 : -ENOMEM;
                for (uint32_t j = 0; r == 0 && j <= plan->n_moves; j++) {
                        /* The j-th lowest source, then the old tail. */
                        bool src = j < plan->n_moves;
                        const struct compact_move *mv = src ? &plan->moves[plan->n_moves - 1 - j] : NULL;
                        uint64_t upto = src ? mv->from : tail_off;
                        if (upto > at) {
                                rs.tail[2 * rs.n_tail] = upto - at;
                                rs.tail[2 * rs.n_tail + 1] = at;
                                rs.n_tail++;
                                freed += upto - at - compact_hole_bytes(fd, at, upto - at);
                        }
                        if (src)
                                at = MAX(at, upto + mv->len);
                }
                /* Then as many moves per round as fit; each round gives
                 * back its sources' space before the next. */
                uint64_t room = avail + freed, used = 0;
                uint32_t cap = 1;
                rs.n = 0;
                for (uint32_t i = 0; r == 0 && i < plan->n_moves;) {
                        uint32_t first = i;
                        uint64_t round_need = 0, given = 0;
                        while (i < plan->n_moves && used + round_need + need[i] + SPACE_MARGIN <= room) {
                                round_need += need[i];
                                given += plan->moves[i].len - compact_hole_bytes(fd, plan->moves[i].from, plan->moves[i].len);
                                i++;
                        }
                        if (i == first) {
                                r = no_space(problems, need[i], room - used, plan->moves[i].block);
                                break;
                        }
                        if (rs.n == cap) {
                                uint32_t *v = realloc(rs.end, (size_t) (cap *= 2) * sizeof *v);
                                if (!v) {
                                        r = -ENOMEM;
                                        break;
                                }
                                rs.end = v;
                        }
                        rs.end[rs.n++] = i;
                        used += round_need;
                        room += given;
                }
        }
        if (pos >= 0)
                (void) lseek(fd, pos, SEEK_SET);
        if (r < 0) {
                rounds_done(&rs);
                return r;
        }
        *ret = rs;
        return 0;
}

/* Gives back the space of a slot nothing points at any more (durably). */
static int punch(int fd, uint64_t off, uint64_t len, const char *step, struct vc_problems *problems)
{
        int r = vc_io_fault(VC_IO_TRUNCATE, NULL);

        if (r == 0)
                r = vc_punch_hole(fd, off, len);        /* logged for the power-cut tests */
        if (r < 0)
                return vc_problem_step_failed(problems, r, off, "%s: punching a hole of %" PRIu64 " bytes", step, len);
        return 0;
}

/*
 * A plan without moves punches (plan->punches): first, before any write,
 * whether the file system can.  A hole punched past the end of the file
 * (KEEP_SIZE: the size stays) changes nothing, and fails with EOPNOTSUPP
 * where punching is not supported (vfat, a FUSE file system without
 * fallocate).  Not logged: it is no write.  Only a regular file is asked:
 * a device has no end past which a punch is harmless.
 */
static int probe_punch(int fd, struct vc_problems *problems)
{
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return vc_problem_step_failed(problems, -errno, 0, "before punching holes: fstat");
        if (!S_ISREG(st.st_mode))
                return vc_problem_add(problems, VC_PROBLEM_NO_PUNCH, -EOPNOTSUPP, NULL, 0,
                                      "no-block-moves punches holes, which only a regular file has; nothing "
                                      "was written: compact it without no-block-moves");
        r = vc_io_fault(VC_IO_TRUNCATE, NULL);
        if (r == 0 && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size, 4096) < 0)
                r = -errno;
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_NO_PUNCH, r, NULL, (uint64_t) st.st_size,
                                      "the file system holding the image cannot punch holes (fallocate "
                                      "PUNCH_HOLE: %s), which no-block-moves needs; nothing was written: "
                                      "compact it without no-block-moves", strerror(-r));
        return 0;
}

/*
 * One round: copies moves [first, m->end) (step 2), points the BAT at the
 * copies that landed (step 3), and with give_back punches their sources,
 * which nothing points at any more.  *copy_r is -ECANCELED when the run
 * was cancelled (the round is then finished for what landed); returns
 * <0 on failure, with the BAT still at the sources of this round.
 */
static int move_round(struct mover *m, const struct compact_exec_opts *opts, uint32_t first,
                      struct compact_layout *l, bool give_back, int *copy_r)
{
        int fd = m->fd;
        const struct compact_plan *plan = m->plan;
        struct vc_problems *problems = m->problems;
        int r;

        m->next = first;
        direct_on(m);
        *copy_r = copy_blocks(m, opts);
        /* Off before anything else writes through fd (the map's writes
         * are not aligned). */
        r = direct_off(m);
        if (*copy_r < 0 && *copy_r != -ECANCELED)
                return *copy_r;         /* the BAT still points at the sources */
        if (r < 0)
                return r;
        r = sync_point(fd, false, "copying blocks", "compact: copies synced", problems);
        if (r < 0)
                return r;

        /* Point the format's map at the copies that landed. */
        r = m->ops->repoint(m->img, l, plan, first, m->end, m->landed, problems);
        if (r < 0)
                return r;
        r = sync_point(fd, false, "pointing the BAT at the copies", "compact: moves synced", problems);
        if (r < 0)
                return r;
        if (!give_back)
                return 0;
        for (uint32_t i = first; i < m->end; i++) {
                if (!m->landed[i])
                        continue;
                r = punch(fd, plan->moves[i].from, plan->moves[i].len, "giving back the space of moved blocks", problems);
                if (r < 0)
                        return r;
        }
        vc_fault_point("compact: sources punched");
        return 0;
}

int compact_execute_ops(int fd, const struct vc_compact_ops *ops, struct vc_image *img, struct compact_layout *l,
                        const struct compact_plan *plan, const struct compact_exec_opts *opts,
                        struct compact_exec_stats *ret_stats)
{
        const struct compact_exec_opts defaults = {};
        struct compact_exec_stats stats = {};
        struct mover m = { .fd = fd, .ops = ops, .img = img, .plan = plan, .stats = &stats };
        int r, copy_r = 0;

        if (!opts)
                opts = &defaults;
        struct vc_problems *problems = opts->problems;
        m.problems = problems;
        m.n_slots = opts->queue_depth ? MIN(opts->queue_depth, MAX_QUEUE_DEPTH) : DEFAULT_QUEUE_DEPTH;
        m.stall_ms = opts->stall_ms ? opts->stall_ms : DEFAULT_STALL_MS;
        m.chunk = opts->copy_chunk ? opts->copy_chunk : DEFAULT_CHUNK;
        m.dio_align = opts->buffered ? 0 : direct_alignment(fd, plan, m.chunk);

        /* A plan punches or moves, never both (plan-in-place.c); one
         * that punches asks first whether it can. */
        if (plan->n_punches > 0) {
                if (plan->n_moves > 0)
                        return -EINVAL;
                r = probe_punch(fd, problems);
                if (r < 0)
                        return r;
        }

        /* Before any write: how many rounds the free space allows. */
        struct rounds rs = {};
        r = plan_rounds(fd, plan, &rs, problems);
        if (r < 0)
                return r;

        /* Phase begin: what the format must make durable first. */
        if (ops->begin) {
                r = ops->begin(img, plan, problems);
                if (r == 0)
                        r = sync_point(fd, false, "beginning", NULL, problems);
                if (r < 0) {
                        rounds_done(&rs);
                        return r;
                }
        }

        /* Step 1 (release): the dropped blocks out of the map, durably. */
        if (plan->n_drops > 0) {
                r = ops->release(img, l, plan, problems);
                if (r == 0)
                        r = sync_point(fd, false, "releasing blocks", "compact: drops synced", problems);
                if (r < 0) {
                        rounds_done(&rs);
                        return r;
                }
        }
        for (uint32_t i = 0; i < rs.n_tail; i++) {
                r = punch(fd, rs.tail[2 * i + 1], rs.tail[2 * i], "giving back the space past the new end", problems);
                if (r < 0) {
                        rounds_done(&rs);
                        return r;
                }
        }
        if (rs.n_tail > 0)
                vc_fault_point("compact: tail punched");

        /* No moves: the free ranges below the new end given back, now
         * that nothing points at them durably (plan-in-place.c). */
        for (uint32_t i = 0; i < plan->n_punches; i++) {
                r = punch(fd, plan->punches[i].off, plan->punches[i].len, "giving back the space of dropped blocks",
                          problems);
                if (r < 0) {
                        rounds_done(&rs);
                        return r;
                }
                stats.bytes_punched += plan->punches[i].len;
                vc_fault_point("compact: dropped punched");
        }

        /* Steps 2 and 3, once per round. */
        if (plan->n_moves > 0) {
                /* Room for what may wait to be submitted at once: two
                 * entries per slot (a test's stall adds one) and kicks. */
                const unsigned entries = m.n_slots * 2 + MAX_KICKS;
                if (opts->ring) {
                        /* The caller's (a restricted one: move-ring.c). */
                        m.ring = opts->ring;
                        r = m.ring->sq.ring_entries >= entries ? 0 : -EINVAL;
                } else {
                        m.ring = &m.own;
                        r = io_uring_queue_init(entries, m.ring, 0);
                }
                if (r < 0) {    /* io_uring unavailable: nothing moved yet */
                        rounds_done(&rs);
                        return vc_problem_step_failed(problems, r, 0, "copying blocks: io_uring_queue_init (%u entries)",
                                                      entries);
                }
                m.slots = calloc(m.n_slots, sizeof *m.slots);
                m.landed = calloc(plan->n_moves, sizeof *m.landed);
                r = m.slots && m.landed ? 0 : -ENOMEM;
                uint64_t largest = 0;
                for (uint32_t i = 0; i < plan->n_moves; i++)
                        largest = MAX(largest, plan->moves[i].len);
                for (unsigned i = 0; r == 0 && i < m.n_slots; i++)
                        if (posix_memalign((void **) &m.slots[i].buf, 4096, MIN(largest, m.chunk)) != 0)
                                r = -ENOMEM;
                if (r < 0)
                        r = vc_problem_step_failed(problems, r, 0, "copying blocks: allocating %u block buffers", m.n_slots);
                for (uint32_t k = 0, first = 0; r == 0 && k < rs.n && copy_r == 0; first = rs.end[k++]) {
                        m.end = rs.end[k];
                        r = move_round(&m, opts, first, l, rs.n > 1, &copy_r);
                }
                for (unsigned i = 0; m.slots && i < m.n_slots; i++)
                        free(m.slots[i].buf);
                free(m.slots);
                free(m.landed);
                if (m.ring == &m.own)
                        io_uring_queue_exit(&m.own);
                if (r < 0) {
                        rounds_done(&rs);
                        return r;
                }
        }
        rounds_done(&rs);
        if (copy_r == -ECANCELED) {
                *ret_stats = stats;
                return -ECANCELED;
        }

        /* Step 4 (finish): the format's tail right after the new end (a
         * VHD's footer), then cut the file. */
        if (opts->truncating)
                opts->truncating(opts->userdata);
        r = ops->finish(img, plan, problems);
        if (r < 0)
                return r;
        r = sync_point(fd, false, "truncating", "compact: footer synced", problems);
        if (r < 0)
                return r;
        r = vc_io_fault(VC_IO_TRUNCATE, NULL);
        if (r == 0)
                r = vc_ftruncate(fd, plan->final_size);
        if (r < 0)
                return vc_problem_step_failed(problems, r, plan->final_size, "truncating: ftruncate to %" PRIu64 " bytes",
                              plan->final_size);
        vc_fault_point("compact: truncated");
        r = sync_point(fd, true, "truncating", NULL, problems);
        if (r < 0)
                return r;
        stats.truncated = true;
        *ret_stats = stats;
        return 0;
}

int compact_execute(struct vc_image *img, struct compact_layout *l, const struct compact_plan *plan,
                    const struct compact_exec_opts *opts, struct compact_exec_stats *ret_stats)
{
        return compact_execute_ops(vc_image_fd(img), vc_image_format(img)->compact, img, l, plan, opts, ret_stats);
}
