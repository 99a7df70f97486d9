/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX's commits in the compaction's write order (image.h, struct
 * vc_compact_ops; lib/compact/move.h runs them and syncs after each),
 * which is VHDX.md section 3.4's:
 *
 *   begin    the headers with a new FileWriteGuid, and a new DataWriteGuid
 *            when a drop changes what the disk reads (a file-system drop;
 *            a zero drop, a move, a freed sector bitmap change nothing:
 *            section 3.5), both slots; then the soft anchors' offsets set
 *            to 0 (state kept), through the log
 *   release  through the log: the dropped blocks' bits cleared in the
 *            sector bitmaps that stay; the dropped blocks ZERO (dynamic)
 *            or NOT_PRESENT (differencing), offset 0; then the sector-
 *            bitmap blocks no PARTIALLY_PRESENT block needs any more,
 *            NOT_PRESENT (in that order, so that no instant has a
 *            partially present block without its bitmap)
 *   (copy)   the core copies the moving objects into holes
 *   repoint  through the log: the moved entries at their copies, state
 *            unchanged
 *   finish   LogGuid 0 in both header slots (the core then truncates)
 *
 * and, when an image is opened read-write and a run was interrupted
 * before its cut (lib/image/finish-tail.c; the log was replayed by the
 * open), tail_prepare: a new FileWriteGuid (the file changes) and no log
 * named, in both slots, which finish-tail.c makes durable before the cut.
 *
 * "Through the log" is write.c's batch: the entry at log offset 0 with a
 * fresh LogGuid, fdatasync; a header naming it, fdatasync; the pages in
 * place, fdatasync; a header with LogGuid 0, fdatasync.  So the header
 * never names a GUID without its entry, a crash anywhere replays (or
 * ignores) a whole batch, and a slot is reused by a copy only after the
 * batch that freed it is durable and LogGuid is 0 again (the core copies
 * only after release returned).  A change larger than the log takes
 * several batches, each a valid state of its own.  Crash points: the
 * header and log fault points of header.c and write.c, and here
 * "compact: anchors cleared", "compact: bitmaps cleared", "compact: BAT
 * written" after each step that changed something.
 *
 * And before any of that, the check that the file is still the one the
 * plan was made from (as lib/vhd/commit.c): size, headers and BAT read
 * again and compared; any difference refuses with file-changed, nothing
 * written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/macro.h"
#include "image-private.h"
#include "vhdx-compact.h"

#define PAGE 4096u
/* Pages one batch carries at most: memory stays 1 MiB whatever the log. */
#define MAX_BATCH 256u

struct change {
        uint64_t index, entry;
};

static int cmp_change(const void *a, const void *b)
{
        const struct change *x = a, *y = b;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* The metadata pages of one batch being made, and the BAT changes they
 * carry (applied to the image's table once the batch is durable). */
struct pager {
        struct vhdx_image *img;
        size_t cap, n;
        uint64_t target[MAX_BATCH];
        uint8_t *page[MAX_BATCH];
        uint8_t *buf;
        struct change *pend;
        size_t n_pend, cap_pend;
        bool wrote;
};

static int pager_init(struct pager *pg, struct vhdx_image *img)
{
        *pg = (struct pager) { .img = img, .cap = MIN(vhdx_log_max_pages(img), (size_t) MAX_BATCH) };
        if (pg->cap == 0)
                return -ENOSPC;
        pg->buf = malloc(pg->cap * PAGE);
        if (!pg->buf)
                return -ENOMEM;
        for (size_t i = 0; i < pg->cap; i++)
                pg->page[i] = pg->buf + i * PAGE;
        return 0;
}

static void pager_done(struct pager *pg)
{
        free(pg->buf);
        free(pg->pend);
}

/* The batch through the log, then its BAT changes in memory. */
static int pager_flush(struct pager *pg)
{
        struct vhdx_bat *b = &pg->img->bat;
        int r;

        if (pg->n == 0)
                return 0;
        r = vhdx_log_pages(pg->img, pg->target, pg->page, pg->n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < pg->n_pend; k++) {
                const struct change *c = &pg->pend[k];
                uint64_t old = b->e[c->index];
                if (c->index % (b->chunk_ratio + 1) == b->chunk_ratio)
                        b->sb_present += ((c->entry & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT) -
                                         (int) ((old & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT);
                else {
                        b->count[old & VHDX_BAT_STATE_MASK]--;
                        b->count[c->entry & VHDX_BAT_STATE_MASK]++;
                }
                __atomic_store_n(&b->e[c->index], c->entry, __ATOMIC_RELEASE);
        }
        pg->n = pg->n_pend = 0;
        pg->wrote = true;
        return 0;
}

/* The page at file offset at, as it is now, in the batch: the last one
 * when it is the same page (callers go in file order), else read after
 * flushing a full batch. */
static int pager_page(struct pager *pg, uint64_t at, uint8_t **ret)
{
        int r;

        if (pg->n > 0 && pg->target[pg->n - 1] == at) {
                *ret = pg->page[pg->n - 1];
                return 0;
        }
        if (pg->n == pg->cap && (r = pager_flush(pg)) < 0)
                return r;
        r = pread_full(pg->img->fd, pg->page[pg->n], PAGE, at);
        if (r < 0)
                return r;
        pg->target[pg->n] = at;
        *ret = pg->page[pg->n++];
        return 0;
}

/* BAT entries c[0..n) changed through the log (sorted here), in as many
 * batches as the log needs. */
static int bat_commit(struct vhdx_image *img, struct change *c, size_t n, const char *step,
                      struct vc_problems *problems)
{
        struct pager pg;
        int r;

        if (n == 0)
                return 0;
        r = pager_init(&pg, img);
        if (r < 0)
                return vc_problem_step_failed(problems, r, img->bat.offset, "%s: preparing the log", step);
        qsort(c, n, sizeof *c, cmp_change);
        for (size_t i = 0; i < n; i++) {
                uint64_t at = img->bat.offset + c[i].index * 8 / PAGE * PAGE;
                uint8_t *p;
                r = pager_page(&pg, at, &p);
                if (r < 0)
                        goto fail;
                put_le64(p + c[i].index * 8 % PAGE, c[i].entry);
                if (pg.n_pend == pg.cap_pend) {
                        size_t cap = pg.cap_pend ? 2 * pg.cap_pend : 256;
                        struct change *v = realloc(pg.pend, cap * sizeof *v);
                        if (!v) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        pg.pend = v;
                        pg.cap_pend = cap;
                }
                pg.pend[pg.n_pend++] = c[i];
        }
        r = pager_flush(&pg);
        if (r < 0)
                goto fail;
        pager_done(&pg);
        vc_fault_point("compact: BAT written");
        return 0;
fail:
        pager_done(&pg);
        return vc_problem_step_failed(problems, r, img->bat.offset, "%s: writing the BAT through the log", step);
}

static int add_change(struct change **v, size_t *n, size_t *cap, uint64_t index, uint64_t entry)
{
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                struct change *nv = realloc(*v, c * sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = (struct change) { index, entry };
        return 0;
}

int vhdx_compact_begin(struct vc_image *gimg, const struct compact_plan *p, struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        const struct vhdx_bat *b = &img->bat;
        _cleanup_free_ struct change *c = NULL;
        size_t n = 0, cap = 0;
        bool data_change = false;
        int r;

        for (uint32_t i = 0; i < p->n_drops; i++)
                data_change |= compact_drop_changes_data(p->why[i]);
        r = vhdx_session_begin(img, data_change);
        if (r < 0)
                return vc_problem_step_failed(problems, r, VHDX_HEADER1_OFFSET,
                                              "beginning: writing the headers (a new FileWriteGuid%s)",
                                              data_change ? " and DataWriteGuid" : "");
        /* Soft anchors: the offset goes, the state (what it reads) stays. */
        for (uint64_t k = 0; k < b->data_blocks; k++) {
                uint64_t idx = vhdx_bat_index(b, k), e = b->e[idx];
                unsigned st = e & VHDX_BAT_STATE_MASK;
                if ((st == VHDX_PAYLOAD_UNDEFINED || st == VHDX_PAYLOAD_UNMAPPED) && (e & VHDX_BAT_OFFSET_MASK) &&
                    (r = add_change(&c, &n, &cap, idx, st)) < 0)
                        return r;
        }
        r = bat_commit(img, c, n, "beginning: clearing the offsets of unmapped blocks", problems);
        if (r < 0)
                return r;
        if (n > 0)
                vc_fault_point("compact: anchors cleared");
        return 0;
}

/* Clears the sector-bitmap slice of each dropped payload block whose
 * chunk keeps its bitmap block (VHDX.md 2.4, the stale-bit hazard). */
static int clear_slices(struct vhdx_image *img, const struct compact_layout *l, const struct compact_plan *p,
                        const bool *sb_goes, struct vc_problems *problems)
{
        const struct vhdx_bat *b = &img->bat;
        const uint32_t n = (uint32_t) b->data_blocks;
        const uint64_t slice = (uint64_t) img->meta.block_size / img->meta.logical_sector_size / 8;
        struct pager pg;
        uint64_t at = 0;
        int r;

        r = pager_init(&pg, img);
        if (r < 0)
                return vc_problem_step_failed(problems, r, 0, "releasing blocks: preparing the log");
        for (uint32_t i = 0; i < p->n_drops && p->drops[i] < n; i++) {
                uint32_t blk = p->drops[i], c = (uint32_t) (blk / b->chunk_ratio);
                if (n + c >= l->n_objects || l->at[n + c] == COMPACT_ABSENT || sb_goes[c])
                        continue;
                uint64_t lo = (uint64_t) l->at[n + c] * VHDX_MiB + blk % b->chunk_ratio * slice, hi = lo + slice;
                for (at = lo; at < hi;) {
                        uint64_t page = at / PAGE * PAGE, end = MIN(hi, page + PAGE);
                        uint8_t *q;
                        r = pager_page(&pg, page, &q);
                        if (r < 0)
                                goto fail;
                        memset(q + (at - page), 0, end - at);
                        at = end;
                }
        }
        r = pager_flush(&pg);
        if (r < 0)
                goto fail;
        if (pg.wrote)
                vc_fault_point("compact: bitmaps cleared");
        pager_done(&pg);
        return 0;
fail:
        pager_done(&pg);
        return vc_problem_step_failed(problems, r, at, "releasing blocks: clearing sector bitmaps through the log");
}

int vhdx_compact_release(struct vc_image *gimg, struct compact_layout *l, const struct compact_plan *p,
                         struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        const uint32_t n = (uint32_t) img->bat.data_blocks;
        const bool child = img->meta.has_parent;
        _cleanup_free_ bool *sb_goes = calloc(l->n_objects - n + 1, sizeof *sb_goes);
        _cleanup_free_ struct change *c = NULL;
        size_t nc = 0, cap = 0;
        int r;

        if (!sb_goes)
                return -ENOMEM;
        for (uint32_t i = 0; i < p->n_drops; i++)
                if (p->drops[i] >= n)
                        sb_goes[p->drops[i] - n] = true;
        r = clear_slices(img, l, p, sb_goes, problems);
        if (r < 0)
                return r;
        /* The blocks, then (a batch of their own) the bitmaps. */
        for (int pass = 0; pass < 2; pass++) {
                nc = 0;
                for (uint32_t i = 0; i < p->n_drops; i++) {
                        uint32_t o = p->drops[i];
                        if ((o >= n) != pass)
                                continue;
                        r = add_change(&c, &nc, &cap, vhdx_compact_object_index(img, o),
                                       o < n && !child ? VHDX_PAYLOAD_ZERO : VHDX_PAYLOAD_NOT_PRESENT);
                        if (r < 0)
                                return r;
                }
                r = bat_commit(img, c, nc, pass ? "releasing sector bitmaps" : "releasing blocks", problems);
                if (r < 0)
                        return r;
        }
        for (uint32_t i = 0; i < p->n_drops; i++)
                l->at[p->drops[i]] = COMPACT_ABSENT;
        return 0;
}

int vhdx_compact_repoint(struct vc_image *gimg, struct compact_layout *l, const struct compact_plan *p,
                         uint32_t first, uint32_t end, const bool *landed, struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        _cleanup_free_ struct change *c = NULL;
        size_t n = 0, cap = 0;
        int r;

        for (uint32_t i = first; i < end; i++) {
                if (!landed[i])
                        continue;
                const struct compact_move *m = &p->moves[i];
                uint64_t idx = vhdx_compact_object_index(img, m->block);
                r = add_change(&c, &n, &cap, idx, (m->to & VHDX_BAT_OFFSET_MASK) | (img->bat.e[idx] & VHDX_BAT_STATE_MASK));
                if (r < 0)
                        return r;
        }
        r = bat_commit(img, c, n, "pointing the BAT at the copies", problems);
        if (r < 0)
                return r;
        for (uint32_t i = first; i < end; i++)
                if (landed[i])
                        l->at[p->moves[i].block] = (uint32_t) (p->moves[i].to / VHDX_MiB);
        return 0;
}

int vhdx_compact_finish(struct vc_image *gimg, const struct compact_plan *p, struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        int r;

        (void) p;
        /* Both slots name no log before the file gets shorter: a log named
         * past the new end would be a truncated file (VHDX.md 3.4). */
        r = vhdx_session_end(img);
        if (r < 0)
                return vc_problem_step_failed(problems, r, VHDX_HEADER1_OFFSET,
                                              "truncating: writing both headers with no log");
        return 0;
}

int vhdx_compact_verify_unchanged(struct vc_image *gimg, const struct compact_layout *l,
                                  struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        const struct vhdx_header *was = &img->headers.h[img->headers.current];
        const struct vhdx_bat *b = &img->bat;
        struct vc_problems quiet = { .collect = false };
        struct vhdx_report rep = { .ps = &quiet };
        struct vhdx_headers hs;
        struct stat st;
        int r;

        if (fstat(img->fd, &st) < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, -errno, NULL, 0,
                                      "before moving: fstat failed: %m; nothing was written");
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size != l->file_size)
                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, NULL, 0,
                                      "the file changed during the run (%" PRIu64 " bytes when scanned, %" PRIu64
                                      " now): another program writes to it without taking its lock; nothing was "
                                      "written", l->file_size, (uint64_t) st.st_size);
        _cleanup_free_ uint8_t *raw = malloc(MAX((size_t) VHDX_HEADER_USED, (size_t) 64 << 10));
        if (!raw)
                return -ENOMEM;
        r = pread_full(img->fd, raw, VHDX_HEADER_USED, 0);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                      "before moving: reading the headers again failed: %s; nothing was written",
                                      strerror(-r));
        r = vhdx_headers_parse(raw, &rep, &hs);
        vc_problems_done(&quiet);
        const struct vhdx_header *now = r < 0 ? NULL : &hs.h[hs.current];
        if (!now || now->sequence != was->sequence || memcmp(now->file_write_guid, was->file_write_guid, 16) ||
            memcmp(now->data_write_guid, was->data_write_guid, 16) || memcmp(now->log_guid, was->log_guid, 16))
                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, "header",
                                      vhdx_header_offset(img->headers.current),
                                      "the headers changed during the run: another program writes to the file "
                                      "without taking its lock; nothing was written");
        /* The BAT, a piece at a time: memory must not grow with it. */
        const size_t chunk = 64 << 10;
        for (uint64_t at = 0; at < b->n_entries * 8; at += chunk) {
                size_t len = (size_t) MIN((uint64_t) chunk, b->n_entries * 8 - at);
                r = pread_full(img->fd, raw, len, b->offset + at);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, b->offset + at,
                                              "before moving: reading the BAT again failed: %s; nothing was written",
                                              strerror(-r));
                for (uint64_t i = at / 8; i < (at + len) / 8; i++)
                        if (get_le64(raw + 8 * i - at) != b->e[i])
                                return vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, "bat", b->offset + 8 * i,
                                                      "BAT entry %" PRIu64 " changed during the run (0x%016" PRIx64
                                                      " when scanned, 0x%016" PRIx64 " now): another program "
                                                      "writes to the file without taking its lock; nothing was "
                                                      "written", i, b->e[i], get_le64(raw + 8 * i - at));
        }
        return 0;
}

int vhdx_compact_tail_prepare(struct vc_image *gimg, uint64_t end, struct vc_problems *problems)
{
        struct vhdx_image *img = vc_image_priv(gimg);
        int r;

        (void) end;
        r = vhdx_session_begin(img, false);
        if (r == 0)
                r = vhdx_session_end(img);
        if (r < 0)
                return vc_problem_step_failed(problems, r, VHDX_HEADER1_OFFSET,
                                              "finishing an interrupted compaction: writing both headers");
        return 0;
}
