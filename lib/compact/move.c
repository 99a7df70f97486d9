/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io_uring block mover.  A fixed table of slots, each with one block buffer;
 * the slot index travels in user_data.  A slot reads its block, then writes
 * it; short transfers are resubmitted for the remainder and -EAGAIN is
 * retried.  We submit once per batch and reap with "wait for one, drain the
 * rest, advance once".  Durability never depends on completion order: the
 * barriers are the explicit fdatasync calls of the protocol in move.h.
 *
 * Every write, truncate and barrier is reported to the power-cut log
 * (lib/util/fault.h) once it has succeeded: syncs and truncates go
 * through vc_sync()/vc_ftruncate(), which do both.
 *
 * Every failure is reported once, as an io-error problem that names the
 * operation, the block and the offset; whatever step fails, nothing after
 * it is written, so the image stays valid (see move.h).  Each I/O first
 * asks vc_io_fault() (lib/util/fault.h), so tests can fail or shorten any
 * one of them; an injected failure is submitted as a no-op, so that the
 * completion path is the real one.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/macro.h"
#include "move.h"

#define DEFAULT_QUEUE_DEPTH 8
#define MAX_QUEUE_DEPTH 64
#define BAT_CHUNK (64u << 10)

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_WRITING };

struct slot {
        enum slot_state state;
        uint32_t move;          /* index into plan->moves */
        uint64_t done;          /* bytes of the current phase transferred */
        uint8_t *buf;
        int injected;           /* an injected error, for the no-op in flight */
};

struct mover {
        struct io_uring ring;
        int fd;
        const struct compact_plan *plan;
        struct slot *slots;
        unsigned n_slots, busy;
        uint32_t next;          /* next move to start */
        uint32_t finished;
        bool *landed;           /* per move: its copy is complete */
        struct compact_exec_stats *stats;
        struct vc_problems *problems;
};

#define RUN_AGAIN "; nothing after it was written and the image is valid: run again to finish"

/* Records the failure of one operation (printf-style what) at offset in
 * the file, and returns r. */
_printf_(4, 5)
static int failed(struct vc_problems *problems, int r, uint64_t offset, const char *fmt, ...)
{
        char what[160];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, offset, "%s failed: %s" RUN_AGAIN,
                              what, strerror(-r));
}

static int write_bat(int fd, uint64_t table_offset, const uint32_t *bat, uint32_t n, const char *step,
                     struct vc_problems *problems)
{
        size_t bytes = ROUND_UP((size_t) n * 4, 512);
        _cleanup_free_ uint8_t *raw = malloc(BAT_CHUNK);
        int r;

        if (!raw)
                return -ENOMEM;
        /* A piece at a time, so that memory does not grow with the table
         * (16 MiB for 2040 GiB of 512 KiB blocks).  No atomicity is lost:
         * entries change from one valid value to another, and sectors are
         * the unit a crash can tear in any case.  The padding after the
         * last entry is rewritten as unused too, as Microsoft and qemu
         * leave it. */
        for (size_t at = 0; at < bytes; at += BAT_CHUNK) {
                size_t len = MIN((size_t) BAT_CHUNK, bytes - at);
                memset(raw, 0xFF, len);
                for (size_t i = at / 4; i < n && i < (at + len) / 4; i++)
                        put_be32(raw + 4 * i - at, bat[i]);
                r = pwrite_full(fd, raw, len, table_offset + at);
                if (r < 0)
                        return failed(problems, r, table_offset + at, "%s: writing the BAT (%zu bytes at %zu)", step,
                                      len, at);
        }
        vc_fault_point("compact: BAT written");
        return 0;
}

/* fdatasync (fsync with full) after step, then the crash point what (none
 * when NULL: the last fsync ends the run anyway). */
static int sync_point(int fd, bool full, const char *step, const char *what, struct vc_problems *problems)
{
        int r = vc_io_fault(VC_IO_SYNC, NULL);

        if (r == 0)
                r = vc_sync(fd, full, what ? what : step);
        if (r < 0)
                return failed(problems, r, 0, "%s: %s", step, full ? "fsync" : "fdatasync");
        if (what)
                vc_fault_point(what);
        return 0;
}

static int submit_io(struct mover *m, unsigned i)
{
        struct slot *s = &m->slots[i];
        const struct compact_move *mv = &m->plan->moves[s->move];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&m->ring);

        if (!sqe)
                return -EBUSY;  /* cannot happen: ring entries >= slots */
        size_t len = (size_t) (m->plan->stride - s->done);
        bool rd = s->state == SLOT_READING;
        s->injected = vc_io_fault(rd ? VC_IO_READ : VC_IO_WRITE, &len);
        if (s->injected < 0)
                io_uring_prep_nop(sqe);
        else if (rd)
                io_uring_prep_read(sqe, m->fd, s->buf + s->done, (unsigned) len, mv->from + s->done);
        else
                io_uring_prep_write(sqe, m->fd, s->buf + s->done, (unsigned) len, mv->to + s->done);
        io_uring_sqe_set_data64(sqe, i);
        return 0;
}

static int start_moves(struct mover *m)
{
        int r;

        for (unsigned i = 0; i < m->n_slots && m->next < m->plan->n_moves; i++) {
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
        if (res <= 0) {
                /* 0: a read past EOF, or a write of nothing: the file
                 * changed under us, or its file system is failing. */
                int r = res < 0 ? res : -EIO;
                /* The slot is done with: nothing waits for it any more. */
                s->state = SLOT_FREE;
                m->busy--;
                if (!first)
                        return r;
                return failed(m->problems, r, (rd ? mv->from : mv->to) + s->done,
                              "copying block %" PRIu32 ": %s %" PRIu64 " bytes%s", mv->block,
                              rd ? "reading" : "writing", m->plan->stride - s->done,
                              res == 0 ? (rd ? " (end of file)" : " (nothing written)") : "");
        }
        if (!rd)
                vc_power_log_write_ring(m->fd, s->buf + s->done, (size_t) res, mv->to + s->done);
        s->done += (uint64_t) res;
        if (s->state == SLOT_READING)
                m->stats->bytes_read += (uint64_t) res;
        else
                m->stats->bytes_written += (uint64_t) res;
        if (s->done < m->plan->stride)
                return submit_io(m, i);         /* short transfer: the rest */
        if (s->state == SLOT_READING) {
                s->state = SLOT_WRITING;
                s->done = 0;
                return submit_io(m, i);
        }
        vc_fault_point("compact: block copied");
        m->landed[s->move] = true;
        s->state = SLOT_FREE;
        m->busy--;
        m->finished++;
        m->stats->blocks_moved++;
        return 0;
}

/* Step 2: copies every move; stops early (returning -ECANCELED) when the
 * progress callback asks, after the blocks in flight have landed. */
static int copy_blocks(struct mover *m, const struct compact_exec_opts *o)
{
        bool stop = false;
        int r = 0;

        while (m->finished < m->plan->n_moves || m->busy > 0) {
                if (!stop && r == 0) {
                        r = start_moves(m);
                        if (r < 0)
                                stop = true;
                }
                if (m->busy == 0)
                        break;
                int sr = io_uring_submit_and_wait(&m->ring, 1);
                if (sr < 0 && sr != -EINTR) {
                        if (r == 0)
                                r = failed(m->problems, sr, 0, "copying blocks: io_uring_submit_and_wait");
                        break;
                }
                struct io_uring_cqe *cqe;
                unsigned head, seen = 0;
                io_uring_for_each_cqe(&m->ring, head, cqe) {
                        int cr = complete(m, (unsigned) io_uring_cqe_get_data64(cqe), cqe->res, r == 0);
                        if (cr < 0 && r == 0) {
                                r = cr;
                                stop = true;
                        }
                        seen++;
                }
                io_uring_cq_advance(&m->ring, seen);
                if (!stop && o->progress &&
                    o->progress(o->userdata, (uint64_t) m->finished * m->plan->stride,
                                (uint64_t) m->plan->n_moves * m->plan->stride) != 0) {
                        stop = true;
                        r = -ECANCELED;
                }
                /* After an error or a cancel: start nothing new, let what is
                 * in flight land, then stop. */
                if (stop)
                        m->next = m->plan->n_moves;
        }
        return r;
}

int compact_execute(int fd, uint64_t table_offset, uint32_t *bat, uint32_t n_entries,
                    const uint8_t footer[512], const struct compact_plan *plan,
                    const struct compact_exec_opts *opts, struct compact_exec_stats *ret_stats)
{
        const struct compact_exec_opts defaults = {};
        struct compact_exec_stats stats = {};
        struct mover m = { .fd = fd, .plan = plan, .stats = &stats };
        int r, copy_r = 0;

        if (!opts)
                opts = &defaults;
        struct vc_problems *problems = opts->problems;
        m.problems = problems;
        m.n_slots = opts->queue_depth ? MIN(opts->queue_depth, MAX_QUEUE_DEPTH) : DEFAULT_QUEUE_DEPTH;

        /* Step 1: release the dropped blocks, durably. */
        if (plan->n_drops > 0) {
                for (uint32_t i = 0; i < plan->n_drops; i++)
                        bat[plan->drops[i]] = VHD_BAT_UNUSED;
                r = write_bat(fd, table_offset, bat, n_entries, "releasing blocks", problems);
                if (r < 0)
                        return r;
                r = sync_point(fd, false, "releasing blocks", "compact: drops synced", problems);
                if (r < 0)
                        return r;
        }

        /* Step 2: copy survivors into the holes. */
        if (plan->n_moves > 0) {
                r = io_uring_queue_init(m.n_slots * 2, &m.ring, 0);
                if (r < 0)      /* io_uring unavailable: nothing moved yet */
                        return failed(problems, r, 0, "copying blocks: io_uring_queue_init");
                m.slots = calloc(m.n_slots, sizeof *m.slots);
                m.landed = calloc(plan->n_moves, sizeof *m.landed);
                r = m.slots && m.landed ? 0 : -ENOMEM;
                for (unsigned i = 0; r == 0 && i < m.n_slots; i++)
                        if (posix_memalign((void **) &m.slots[i].buf, 4096, plan->stride) != 0)
                                r = -ENOMEM;
                if (r == 0)
                        copy_r = copy_blocks(&m, opts);
                for (unsigned i = 0; m.slots && i < m.n_slots; i++)
                        free(m.slots[i].buf);
                free(m.slots);
                io_uring_queue_exit(&m.ring);
                if (r < 0) {
                        free(m.landed);
                        return failed(problems, r, 0, "copying blocks: allocating %u block buffers", m.n_slots);
                }
                if (copy_r < 0 && copy_r != -ECANCELED) {
                        free(m.landed);
                        return copy_r;  /* the BAT still points at the sources */
                }
                r = sync_point(fd, false, "copying blocks", "compact: copies synced", problems);
                if (r < 0) {
                        free(m.landed);
                        return r;
                }

                /* Step 3: point the BAT at the copies that landed (in any
                 * order: completion order is not plan order). */
                for (uint32_t i = 0; i < plan->n_moves; i++)
                        if (m.landed[i])
                                bat[plan->moves[i].block] = (uint32_t) (plan->moves[i].to / VHD_SECTOR_SIZE);
                free(m.landed);
                r = write_bat(fd, table_offset, bat, n_entries, "pointing the BAT at the copies", problems);
                if (r < 0)
                        return r;
                r = sync_point(fd, false, "pointing the BAT at the copies", "compact: moves synced", problems);
                if (r < 0)
                        return r;
        }
        if (copy_r == -ECANCELED) {
                *ret_stats = stats;
                return -ECANCELED;
        }

        /* Step 4: footer right after the new end, then cut the file. */
        if (opts->truncating)
                opts->truncating(opts->userdata);
        uint64_t end = plan->final_size - VHD_FOOTER_SIZE;
        r = pwrite_full(fd, footer, VHD_FOOTER_SIZE, end);
        if (r < 0)
                return failed(problems, r, end, "truncating: writing the footer at the new end");
        vc_fault_point("compact: footer written");
        r = sync_point(fd, false, "truncating", "compact: footer synced", problems);
        if (r < 0)
                return r;
        r = vc_io_fault(VC_IO_TRUNCATE, NULL);
        if (r == 0)
                r = vc_ftruncate(fd, plan->final_size);
        if (r < 0)
                return failed(problems, r, plan->final_size, "truncating: ftruncate to %" PRIu64 " bytes",
                              plan->final_size);
        vc_fault_point("compact: truncated");
        r = sync_point(fd, true, "truncating", NULL, problems);
        if (r < 0)
                return r;
        stats.truncated = true;
        *ret_stats = stats;
        return 0;
}
