/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX log: finding the active sequence and replaying it.
 *
 * Finding (VHDX.md §3.2, the checks of §5 items 15-17): every 4 KiB
 * offset of the log is tried as an entry; an entry is valid when its
 * signature, LogGuid (the header's), lengths, descriptors, data sectors
 * and CRC-32C agree.  Entries chain when one starts where the previous one
 * ends (modulo the log length: an entry may wrap) with the next sequence
 * number; the active sequence is the chain whose head (a) has its Tail on
 * an entry of the chain and (b) has the highest sequence number.  No valid
 * sequence while the header names a log: the file is corrupt (bad-log).
 *
 * Cost: the log (at most 1 GiB) is read one 4 KiB sector at a time, never
 * in one piece.  Valid entries cannot overlap (the first sector of an
 * entry says "loge", every other says "desc", "zero" or "data"), so each
 * sector is read at most twice while scanning, each entry has at most one
 * predecessor, and walking chains from the entries without one is linear.
 *
 * The sequence's descriptors are kept (not their pages: a data page is
 * read back from the log when wanted), after their targets are checked:
 * 4 KiB multiples, no overflow, at or above 192 KiB (never the file
 * identifier or the headers), outside the log, inside the size the head
 * says the file has (LastFileOffset) or has.  LastFileOffset itself is at
 * most what any VHDX can be (64 TiB and 64 GiB): the file is extended to
 * it on disk.  Replay order is log order,
 * tail to head, later descriptors winning.
 *
 * In memory, vhdx_log_overlay() patches any bytes read from the file,
 * through an index made once (build_index): the sorted, disjoint pieces
 * of the file the sequence writes, each with the descriptor that wins it
 * (the last in replay order), so that a read looks up its pieces by
 * binary search and reads each winning page once, however many
 * descriptors wrote the same place.  The index is made by painting the
 * pieces between the descriptors' boundaries from the last descriptor to
 * the first, each piece painted once (a union-find skips the painted):
 * O(n log n) for n descriptors, about 32 bytes each while it is made and
 * at most 48 kept.  On disk, vhdx_log_apply() writes them in replay
 * order (a zero descriptor only over the data the file holds in its
 * range: holes, and the extension past the end, read as zeros already,
 * so a replay writes at most the log's pages and the file's data), then
 * syncs and extends the file: applying twice gives the same bytes, so a
 * crash during it is repaired by the next replay (the header still names
 * the log until the caller clears it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "log.h"

#define SECTOR 4096u
#define LOGGABLE_OFFSET (192u * VHDX_KiB)
/* 64 TiB of payload and 64 GiB for the rest (16 GiB of sector bitmaps at
 * most, a BAT of 0.5 GiB, a log of 4 GiB, metadata). */
#define VHDX_LOG_MAX_FILE_OFFSET ((64ull << 40) + (64ull << 30))

struct entry {
        bool valid;
        uint32_t len, tail, ndesc;
        uint64_t seq, flushed, last;
};

struct scan {
        int fd;
        uint64_t log_offset;
        uint32_t log_length;
        const uint8_t *guid;
        /* why the first entry carrying our GUID was not valid */
        bool have_why;
        char why[160];
        const char *why_field;
        uint64_t why_offset;
        bool other_guid;                /* an entry of another (older) log */
        uint64_t other_guid_at;
};

static int read_sector(const struct scan *s, uint64_t rel, uint8_t *buf)
{
        return pread_full(s->fd, buf, SECTOR, s->log_offset + rel % s->log_length);
}

static uint64_t sector_at(const struct scan *s, uint32_t o, uint64_t k)
{
        return (o + k * SECTOR) % s->log_length;
}

static int invalid(struct scan *s, bool ours, const char *field, uint64_t at, const char *why)
{
        if (ours && !s->have_why) {
                s->have_why = true;
                s->why_field = field;
                s->why_offset = s->log_offset + at;
                snprintf(s->why, sizeof s->why, "%s", why);
        }
        return 0;
}

/* 1 and *e when the entry at log offset o is valid, 0 when not, -errno. */
static int check_entry(struct scan *s, uint32_t o, struct entry *e)
{
        _cleanup_free_ uint8_t *s0 = malloc(SECTOR), *buf = malloc(SECTOR);
        uint64_t n_data = 0, dsec;
        uint32_t crc;
        int r;

        if (!s0 || !buf)
                return -ENOMEM;
        r = read_sector(s, o, s0);
        if (r < 0)
                return r;
        if (memcmp(s0, "loge", 4))
                return 0;
        const bool ours = memcmp(s0 + 32, s->guid, 16) == 0;
        if (!ours) {
                if (!s->other_guid)
                        s->other_guid_at = s->log_offset + o + 32;
                s->other_guid = true;
                return 0;
        }
        e->len = get_le32(s0 + 8);
        e->tail = get_le32(s0 + 12);
        e->seq = get_le64(s0 + 16);
        e->ndesc = get_le32(s0 + 24);
        e->flushed = get_le64(s0 + 48);
        e->last = get_le64(s0 + 56);
        if (e->len % SECTOR || e->len < SECTOR || e->len >= s->log_length)
                return invalid(s, ours, "log_entry.entry_length", o + 8,
                               "its EntryLength is not a 4 KiB multiple smaller than the log");
        if (e->tail % SECTOR || e->tail >= s->log_length)
                return invalid(s, ours, "log_entry.tail", o + 12, "its Tail is not a 4 KiB offset inside the log");
        if (e->seq == 0)
                return invalid(s, ours, "log_entry.sequence_number", o + 16, "its sequence number is 0");
        dsec = ((uint64_t) e->ndesc + 2 + 127) / 128;
        if (dsec * SECTOR > e->len)
                return invalid(s, ours, "log_entry.descriptor_count", o + 24,
                               "its descriptors do not fit in the entry");

        uint32_t want = get_le32(s0 + 4);
        for (uint64_t k = 0; k < dsec; k++) {
                uint8_t *p = s0;
                if (k > 0) {
                        r = read_sector(s, sector_at(s, o, k), buf);
                        if (r < 0)
                                return r;
                        p = buf;
                }
                for (unsigned slot = k ? 0 : 2; slot < 128; slot++) {
                        uint64_t i = k * 128 + slot - 2;
                        if (i >= e->ndesc)
                                break;
                        const uint8_t *d = p + 32 * slot;
                        bool data = memcmp(d, "desc", 4) == 0;
                        if (!data && memcmp(d, "zero", 4))
                                return invalid(s, ours, "log_descriptor.signature",
                                               sector_at(s, o, k) + 32 * slot,
                                               "a descriptor is neither \"desc\" nor \"zero\"");
                        if (get_le64(d + 24) != e->seq)
                                return invalid(s, ours, "log_descriptor.sequence_number",
                                               sector_at(s, o, k) + 32 * slot + 24,
                                               "a descriptor's sequence number is not the entry's");
                        n_data += data;
                }
                if (k == 0) {
                        memset(s0 + 4, 0, 4);
                        crc = crc32c(0, s0, SECTOR);
                } else
                        crc = crc32c(crc, buf, SECTOR);
        }
        if ((dsec + n_data) * SECTOR != e->len)
                return invalid(s, ours, "log_entry.entry_length", o + 8,
                               "its EntryLength is not its descriptor sectors plus one sector per data descriptor");
        for (uint64_t j = 0; j < n_data; j++) {
                uint64_t at = sector_at(s, o, dsec + j);
                r = read_sector(s, at, buf);
                if (r < 0)
                        return r;
                if (memcmp(buf, "data", 4))
                        return invalid(s, ours, "log_data.signature", at, "a data sector lacks \"data\"");
                if (((uint64_t) get_le32(buf + 4) << 32 | get_le32(buf + 4092)) != e->seq)
                        return invalid(s, ours, "log_data.sequence_low", at + 4092,
                                       "a data sector's sequence number is not the entry's (a torn or misdirected write)");
                crc = crc32c(crc, buf, SECTOR);
        }
        if (crc != want)
                return invalid(s, ours, "log_entry.checksum", o + 4, "its CRC-32C is wrong");
        e->valid = true;
        return 1;
}

/* Refuses a descriptor: bad-log-descriptor, always fatal. */
#define bad_desc(rep, at, ...)                                                                                \
        ({                                                                                                    \
                int _r = vhdx_report(rep, VC_PROBLEM_BAD_LOG_DESCRIPTOR, -EBADMSG, "log_descriptor.file_offset", \
                                     at, __VA_ARGS__);                                                       \
                _r < 0 ? _r : -EBADMSG;                                                                      \
        })

/* Collects the descriptors of the entry at o, checking their targets. */
static int collect(struct scan *s, uint32_t o, const struct entry *e, uint64_t limit, struct vhdx_report *rep,
                   struct vhdx_log_replay *l)
{
        _cleanup_free_ uint8_t *buf = malloc(SECTOR);
        const uint64_t dsec = ((uint64_t) e->ndesc + 2 + 127) / 128;
        uint64_t j = 0;
        int r;

        if (!buf)
                return -ENOMEM;
        if (l->n + e->ndesc > VHDX_LOG_MAX_DESCRIPTORS) {
                r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, "log_entry.descriptor_count",
                                s->log_offset + o + 24, "the log's active sequence has more than %u descriptors",
                                VHDX_LOG_MAX_DESCRIPTORS);
                return r < 0 ? r : -EBADMSG;
        }
        struct vhdx_log_desc *nd = realloc(l->d, (l->n + e->ndesc + 1) * sizeof *nd);
        if (!nd)
                return -ENOMEM;
        l->d = nd;
        for (uint64_t k = 0; k < dsec; k++) {
                r = read_sector(s, sector_at(s, o, k), buf);
                if (r < 0)
                        return r;
                for (unsigned slot = k ? 0 : 2; slot < 128; slot++) {
                        uint64_t i = k * 128 + slot - 2, end;
                        if (i >= e->ndesc)
                                break;
                        const uint8_t *d = buf + 32 * slot;
                        const uint64_t at = s->log_offset + sector_at(s, o, k) + 32 * slot + 16;
                        struct vhdx_log_desc x = { .target = get_le64(d + 16) };
                        if (memcmp(d, "desc", 4) == 0) {
                                x.length = SECTOR;
                                x.data_at = sector_at(s, o, dsec + j++);
                                memcpy(x.leading, d + 8, 8);
                                memcpy(x.trailing, d + 4, 4);
                        } else {
                                x.length = get_le64(d + 8);
                                x.data_at = UINT64_MAX;
                                if (x.length % SECTOR)
                                        return bad_desc(rep, at - 8, "a zero descriptor's length (%" PRIu64
                                                        " bytes at %" PRIu64 ") is not a 4 KiB multiple",
                                                        x.length, x.target);
                        }
                        if (x.target % SECTOR)
                                return bad_desc(rep, at, "a log descriptor targets %" PRIu64 " (%" PRIu64
                                                " bytes), not a 4 KiB multiple", x.target, x.length);
                        if (ADD_OVERFLOW(x.target, x.length, &end))
                                return bad_desc(rep, at, "a log descriptor's range (%" PRIu64 " + %" PRIu64
                                                ") overflows", x.target, x.length);
                        if (x.target < LOGGABLE_OFFSET)
                                return bad_desc(rep, at, "a log descriptor would write %" PRIu64 " bytes at %"
                                                PRIu64 ", below 192 KiB (the file identifier and headers)",
                                                x.length, x.target);
                        if (x.target < s->log_offset + s->log_length && end > s->log_offset)
                                return bad_desc(rep, at, "a log descriptor would write %" PRIu64 " bytes at %"
                                                PRIu64 ", into the log itself", x.length, x.target);
                        if (end > limit)
                                return bad_desc(rep, at, "a log descriptor would write past %" PRIu64
                                                " (the size the log's head gives the file), to %" PRIu64,
                                                limit, end);
                        if (l->n == 0 || x.target < l->lo)
                                l->lo = x.target;
                        if (end > l->hi)
                                l->hi = end;
                        l->d[l->n++] = x;
                }
        }
        return 0;
}

void vhdx_log_replay_done(struct vhdx_log_replay *l)
{
        free(l->d);
        l->d = NULL;
        l->n = 0;
        free(l->span);
        l->span = NULL;
        l->n_span = 0;
}

static int cmp_u64(const void *a, const void *b)
{
        const uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* The index of v in the sorted p[0..n) that holds it. */
static size_t point_index(const uint64_t *p, size_t n, uint64_t v)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (p[mid] < v)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* The first piece at or after k not yet painted (path halving). */
static size_t unpainted(uint32_t *next, size_t k)
{
        while (next[k] != k) {
                next[k] = next[next[k]];
                k = next[k];
        }
        return k;
}

/* l->span from l->d (see the note at the top). */
static int build_index(struct vhdx_log_replay *l)
{
        size_t m = 0, n_span = 0;

        if (l->n == 0)
                return 0;
        /* n <= VHDX_LOG_MAX_DESCRIPTORS: 2n points fit uint32_t. */
        _cleanup_free_ uint64_t *pt = malloc(2 * l->n * sizeof *pt);
        if (!pt)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                pt[m++] = l->d[i].target;
                pt[m++] = l->d[i].target + l->d[i].length;     /* checked by collect() */
        }
        qsort(pt, m, sizeof *pt, cmp_u64);
        size_t u = 1;
        for (size_t i = 1; i < m; i++)
                if (pt[i] != pt[u - 1])
                        pt[u++] = pt[i];
        m = u;
        /* Piece k is [pt[k], pt[k+1]), k < m - 1; next[m - 1] is the end. */
        _cleanup_free_ uint32_t *win = malloc(m * sizeof *win), *next = malloc(m * sizeof *next);
        if (!win || !next)
                return -ENOMEM;
        for (size_t k = 0; k < m; k++) {
                win[k] = UINT32_MAX;
                next[k] = (uint32_t) k;
        }
        for (size_t i = l->n; i-- > 0;) {
                const size_t b = point_index(pt, m, l->d[i].target),
                             e = point_index(pt, m, l->d[i].target + l->d[i].length);
                for (size_t k = unpainted(next, b); k < e; k = unpainted(next, k)) {
                        win[k] = (uint32_t) i;
                        next[k] = (uint32_t) k + 1;
                }
        }
        struct vhdx_log_span *span = malloc(m * sizeof *span);     /* m - 1 pieces at most */
        if (!span)
                return -ENOMEM;
        for (size_t k = 0; k + 1 < m; k++) {
                if (win[k] == UINT32_MAX)
                        continue;
                if (n_span && span[n_span - 1].end == pt[k] && span[n_span - 1].desc == win[k])
                        span[n_span - 1].end = pt[k + 1];
                else
                        span[n_span++] = (struct vhdx_log_span) { pt[k], pt[k + 1], win[k] };
        }
        l->span = span;
        l->n_span = n_span;
        return 0;
}

int vhdx_log_find(int fd, uint64_t file_size, const struct vhdx_header *h, uint64_t header_at,
                  struct vhdx_report *rep, struct vhdx_log_replay *ret)
{
        struct scan s = { .fd = fd, .log_offset = h->log_offset, .log_length = h->log_length, .guid = h->log_guid };
        const uint32_t n_sec = h->log_length / SECTOR;
        _cleanup_free_ struct entry *ent = NULL;
        _cleanup_free_ uint32_t *stamp = NULL;
        _cleanup_free_ bool *has_pred = NULL;
        struct vhdx_log_replay l = { .log_offset = h->log_offset, .log_length = h->log_length };
        bool found = false;
        int r;

        if (n_sec == 0 || h->log_length % SECTOR)
                return -EINVAL;
        ent = calloc(n_sec, sizeof *ent);
        stamp = calloc(n_sec, sizeof *stamp);
        has_pred = calloc(n_sec, sizeof *has_pred);
        if (!ent || !stamp || !has_pred)
                return -ENOMEM;
        for (uint32_t i = 0; i < n_sec; i++) {
                r = check_entry(&s, i * SECTOR, &ent[i]);
                if (r < 0)
                        return vhdx_report(rep, VC_PROBLEM_IO, r, "log", h->log_offset + (uint64_t) i * SECTOR,
                                           "cannot read the log"), r;
        }
        for (uint32_t i = 0; i < n_sec; i++) {
                if (!ent[i].valid)
                        continue;
                uint32_t nx = (uint32_t) (((uint64_t) i * SECTOR + ent[i].len) % h->log_length) / SECTOR;
                if (ent[nx].valid && ent[nx].seq == ent[i].seq + 1)
                        has_pred[nx] = true;
        }
        for (uint32_t i = 0, walk = 1; i < n_sec; i++) {
                if (!ent[i].valid || has_pred[i])
                        continue;
                uint64_t total = 0;
                for (uint32_t cur = i;;) {
                        stamp[cur] = walk;
                        total += ent[cur].len;
                        uint32_t t = ent[cur].tail / SECTOR;
                        if (stamp[t] == walk && ent[t].valid && (!found || ent[cur].seq > l.head_sequence)) {
                                found = true;
                                l.head_sequence = ent[cur].seq;
                                l.head = cur * SECTOR;
                                l.tail = t * SECTOR;
                                l.flushed_file_offset = ent[cur].flushed;
                                l.last_file_offset = ent[cur].last;
                        }
                        uint32_t nx = (uint32_t) (((uint64_t) cur * SECTOR + ent[cur].len) % h->log_length) / SECTOR;
                        if (!ent[nx].valid || ent[nx].seq != ent[cur].seq + 1 ||
                            total + ent[nx].len > h->log_length)
                                break;
                        cur = nx;
                }
                walk++;
        }
        if (!found) {
                if (s.have_why)
                        r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, s.why_field, s.why_offset,
                                        "the header names a log (LogGuid is set) but it holds no valid sequence: "
                                        "the entry at log offset %" PRIu64 " is not valid: %s",
                                        (s.why_offset - h->log_offset) / SECTOR * SECTOR, s.why);
                else if (s.other_guid)
                        r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, "log_entry.log_guid", s.other_guid_at,
                                        "the header names a log (LogGuid is set) but no entry carries that GUID "
                                        "(the entry at log offset %" PRIu64 " belongs to another log)",
                                        s.other_guid_at - 32 - h->log_offset);
                else
                        r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, header_at == VHDX_HEADER2_OFFSET ? "header2.log_guid" :
                                        "header1.log_guid", header_at + VHDX_HEADER_OFF_LOG_GUID,
                                        "the header names a log (LogGuid is set) but the log holds no entry "
                                        "with that GUID");
                return r < 0 ? r : -EBADMSG;
        }
        if (l.flushed_file_offset > file_size) {
                r = vhdx_report(rep, VC_PROBLEM_TRUNCATED, -EBADMSG, "log_entry.flushed_file_offset",
                                h->log_offset + l.head + 48,
                                "the log says the file was at least %" PRIu64 " bytes long (FlushedFileOffset) "
                                "but it is %" PRIu64 ": it was truncated", l.flushed_file_offset, file_size);
                return r < 0 ? r : -EBADMSG;
        }
        /* A bound on what a replay may make of the file (VHDX.md section
         * 5 item 16): every descriptor ends below limit, and the file is
         * extended to it.  No VHDX is larger than its 64 TiB of payload
         * plus its sector bitmaps, BAT, metadata and log. */
        if (l.last_file_offset > VHDX_LOG_MAX_FILE_OFFSET) {
                r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, "log_entry.last_file_offset",
                                h->log_offset + l.head + 56,
                                "the log's head says the file is %" PRIu64 " bytes long (LastFileOffset), more than "
                                "any VHDX can be (%" PRIu64 ")", l.last_file_offset,
                                (uint64_t) VHDX_LOG_MAX_FILE_OFFSET);
                return r < 0 ? r : -EBADMSG;
        }
        const uint64_t limit = MAX(file_size, l.last_file_offset);
        for (uint32_t cur = l.tail / SECTOR;;) {
                r = collect(&s, cur * SECTOR, &ent[cur], limit, rep, &l);
                if (r < 0) {
                        vhdx_log_replay_done(&l);
                        return r;
                }
                l.n_entries++;
                if (cur * SECTOR == l.head)
                        break;
                cur = (uint32_t) (((uint64_t) cur * SECTOR + ent[cur].len) % h->log_length) / SECTOR;
        }
        r = build_index(&l);
        if (r < 0) {
                vhdx_log_replay_done(&l);
                return r;
        }
        *ret = l;
        return 0;
}

uint64_t vhdx_log_replayed_size(const struct vhdx_log_replay *l, uint64_t file_size)
{
        return MAX(MAX(file_size, l->last_file_offset), l->hi);
}

static int build_page(int fd, const struct vhdx_log_replay *l, const struct vhdx_log_desc *d, uint8_t *page)
{
        int r = pread_full(fd, page, SECTOR, l->log_offset + d->data_at);
        if (r < 0)
                return r;
        memcpy(page, d->leading, 8);
        memcpy(page + 4092, d->trailing, 4);
        return 0;
}

int vhdx_log_overlay(int fd, const struct vhdx_log_replay *l, uint8_t *buf, size_t len, uint64_t off)
{
        _cleanup_free_ uint8_t *page = NULL;
        size_t lo = 0, hi = l->n_span;

        if (l->n_span == 0 || off >= l->hi || off + len <= l->lo)
                return 0;
        /* The first piece that ends after off. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (l->span[mid].end <= off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t k = lo; k < l->n_span && l->span[k].start < off + len; k++) {
                const struct vhdx_log_span *sp = &l->span[k];
                const struct vhdx_log_desc *d = &l->d[sp->desc];
                uint64_t a = MAX(off, sp->start), b = MIN(off + len, sp->end);
                if (d->data_at == UINT64_MAX) {
                        memset(buf + (a - off), 0, b - a);
                        continue;
                }
                if (!page && !(page = malloc(SECTOR)))
                        return -ENOMEM;
                int r = build_page(fd, l, d, page);
                if (r < 0)
                        return r;
                memcpy(buf + (a - off), page + (a - d->target), b - a);
        }
        return 0;
}

/* Zeros [a, b) of the file where it holds data: a hole, and anything past
 * the end, reads as zeros already (the file is extended with zeros).  So
 * a zero descriptor costs at most the data the file has in its range,
 * however long it says it is, and again when a replay runs twice (the
 * file then already extended to a hostile LastFileOffset).  Where the
 * file cannot say (no SEEK_DATA), [a, b) up to the end is written. */
static int zero_data(int fd, const uint8_t *zeros, uint64_t a, uint64_t b)
{
        while (a < b) {
                off_t from = lseek(fd, (off_t) a, SEEK_DATA), to;
                if (from < 0 && errno == ENXIO)
                        return 0;               /* holes to the end */
                if (from < 0) {
                        struct stat st;
                        if (errno != EINVAL || fstat(fd, &st) < 0)
                                return -errno;
                        from = (off_t) a;
                        to = st.st_size;
                } else {
                        to = lseek(fd, from, SEEK_HOLE);
                        if (to < 0)
                                return -errno;
                }
                if ((uint64_t) from >= b || to <= from)
                        return 0;
                const uint64_t end = MIN((uint64_t) to, b);
                for (uint64_t at = (uint64_t) from; at < end;) {
                        size_t n = (size_t) MIN(end - at, (uint64_t) VHDX_MiB);
                        int r = pwrite_full(fd, zeros, n, at);
                        if (r < 0)
                                return r;
                        at += n;
                }
                a = end;
        }
        return 0;
}

int vhdx_log_apply(int fd, const struct vhdx_log_replay *l, uint64_t file_size)
{
        _cleanup_free_ uint8_t *page = malloc(SECTOR), *zeros = calloc(1, VHDX_MiB);
        struct stat st;
        int r;

        if (!page || !zeros)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                const struct vhdx_log_desc *d = &l->d[i];
                if (d->data_at == UINT64_MAX) {
                        r = zero_data(fd, zeros, d->target, d->target + d->length);
                        if (r < 0)
                                return r;
                } else {
                        r = build_page(fd, l, d, page);
                        if (r < 0)
                                return r;
                        r = pwrite_full(fd, page, SECTOR, d->target);
                        if (r < 0)
                                return r;
                }
                vc_fault_point("vhdx: log page applied");
        }
        r = vc_sync(fd, false, "vhdx: log applied");
        if (r < 0)
                return r;
        vc_fault_point("vhdx: log applied");
        if (fstat(fd, &st) < 0)
                return -errno;
        uint64_t want = vhdx_log_replayed_size(l, file_size);
        if ((uint64_t) st.st_size < want) {
                r = vc_ftruncate(fd, want);
                if (r < 0)
                        return r;
                r = vc_sync(fd, true, "vhdx: log file extended");
                if (r < 0)
                        return r;
                vc_fault_point("vhdx: log file extended");
        }
        return 0;
}
