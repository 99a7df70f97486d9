/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The writable VHDX session (VHDX.md §3.1, §3.4, §3.6), modelled on qemu
 * and openvmm:
 *
 *   - A read-write open writes nothing, unless the log is dirty: then the
 *     replay that image.c did in memory is done on disk (log.c's
 *     vhdx_log_apply: pages, fdatasync, the file extended), then a header
 *     with a new FileWriteGuid and LogGuid 0.  A crash before that header
 *     leaves the log named, so the next open replays again: same bytes.
 *   - Before the first change, a header update with a new FileWriteGuid
 *     (once per session) and, before the first change a guest can read, a
 *     new DataWriteGuid: the non-current slot, fdatasync, then the other.
 *   - Every BAT change goes through the log, one entry per batch at log
 *     offset 0 with a fresh LogGuid, sequence 1, Tail 0, data descriptors
 *     only, FlushedFileOffset = LastFileOffset = the file size (which does
 *     not change while the log is named): entry, fdatasync; header naming
 *     it, fdatasync; pages in place, fdatasync; header with LogGuid 0.
 *     So the header never names a GUID without a valid entry, and nothing
 *     relies on the in-place pages before LogGuid is cleared.
 *   - A new block goes at the end of the file rounded up to 1 MiB, a
 *     whole BlockSize (the file extended first, so its unwritten part
 *     reads zeros), its data written and fdatasynced before the BAT entry
 *     changes.  Freed space is never reused here (compaction does that).
 *   - zero: whole blocks of a dynamic disk become ZERO (offset 0); parts
 *     of present blocks get real zeros.  trim: whole blocks become
 *     UNMAPPED (offset 0); parts are left (NBD leaves them undefined).  A
 *     disk with LeaveBlockAllocated keeps its blocks: zero writes zeros,
 *     trim does nothing.
 *   - Close: a last header copies the current one into the other slot,
 *     so both say LogGuid 0.
 *
 * Differencing disks: write-child.c, with this file's session, log and
 * allocation (vhdx_txn: pages that change together in one entry).
 * Writes are serialised by write_lock; readers run alongside and see
 * each BAT entry old or new (atomic loads and stores: vhdx_txn_commit()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "image-private.h"

#define SECTOR 4096u

static int guid_new(uint8_t g[16])
{
        if (getrandom(g, 16, 0) != 16)
                return -EIO;
        g[7] = (uint8_t) ((g[7] & 0x0f) | 0x40);        /* version 4 (Data3, little-endian) */
        g[8] = (uint8_t) ((g[8] & 0x3f) | 0x80);
        return 0;
}

/* The headers before a change: FileWriteGuid once, DataWriteGuid before
 * the first change a guest sees; both slots. */
int vhdx_session_begin(struct vhdx_image *img, bool data_change)
{
        uint8_t fg[16], dg[16];
        int r;

        if (!img->rw)
                return -EROFS;
        if (img->file_guid_new && (!data_change || img->data_guid_new))
                return 0;
        if (!img->file_guid_new && (r = guid_new(fg)) < 0)
                return r;
        if (data_change && !img->data_guid_new && (r = guid_new(dg)) < 0)
                return r;
        for (int k = 0; k < 2; k++) {
                r = vhdx_header_update(img->fd, &img->headers, img->file_guid_new ? NULL : fg,
                                       data_change && !img->data_guid_new ? dg : NULL, NULL);
                if (r < 0)
                        return r;
        }
        img->file_guid_new = true;
        img->data_guid_new |= data_change;
        return 0;
}

/* Most pages one entry of a log of log_length bytes may carry: the entry
 * (descriptor sectors + data sectors) stays smaller than the log. */
static size_t max_pages(uint32_t log_length)
{
        size_t n = log_length / SECTOR;
        while (n > 0 && ((n + 2 + 127) / 128 + n) * SECTOR >= log_length)
                n--;
        return n;
}

/* One batch of 4 KiB metadata pages through the log, in the order of the
 * design note. */
static int log_batch(struct vhdx_image *img, const uint64_t *target, uint8_t *const *page, size_t n)
{
        const struct vhdx_header *h = &img->headers.h[img->headers.current];
        const size_t dsec = (n + 2 + 127) / 128, len = (dsec + n) * SECTOR;
        static const uint8_t zero_guid[16];
        _cleanup_free_ uint8_t *e = calloc(1, len);
        uint8_t g[16];
        int r;

        if (!e)
                return -ENOMEM;
        if (len >= h->log_length)
                return -EINVAL;
        r = guid_new(g);
        if (r < 0)
                return r;
        memcpy(e, "loge", 4);
        put_le32(e + 8, (uint32_t) len);
        put_le32(e + 12, 0);                    /* Tail: itself */
        put_le64(e + 16, 1);
        put_le32(e + 24, (uint32_t) n);
        memcpy(e + 32, g, 16);
        put_le64(e + 48, img->disk_size);
        put_le64(e + 56, img->disk_size);
        for (size_t i = 0; i < n; i++) {
                uint8_t *d = e + 32 * (i + 2), *s = e + (dsec + i) * SECTOR;
                memcpy(d, "desc", 4);
                memcpy(d + 4, page[i] + 4092, 4);
                memcpy(d + 8, page[i], 8);
                put_le64(d + 16, target[i]);
                put_le64(d + 24, 1);
                memcpy(s, "data", 4);
                put_le32(s + 4, 0);
                memcpy(s + 8, page[i] + 8, 4084);
                put_le32(s + 4092, 1);
        }
        put_le32(e + 4, crc32c(0, e, len));
        r = pwrite_full(img->fd, e, len, h->log_offset);
        if (r < 0)
                return r;
        vc_fault_point("vhdx: log entry written");
        r = vc_sync(img->fd, false, "vhdx: log entry written");
        if (r < 0)
                return r;
        vc_fault_point("vhdx: log entry synced");
        r = vhdx_header_update(img->fd, &img->headers, NULL, NULL, g);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = pwrite_full(img->fd, page[i], SECTOR, target[i]);
                if (r < 0)
                        return r;
                vc_fault_point("vhdx: log page written");
        }
        r = vc_sync(img->fd, false, "vhdx: log pages written");
        if (r < 0)
                return r;
        vc_fault_point("vhdx: log pages synced");
        return vhdx_header_update(img->fd, &img->headers, NULL, NULL, zero_guid);
}

struct bat_change {
        uint64_t index, entry;
};

void vhdx_txn_done(struct vhdx_txn *t)
{
        free(t->target);
        free(t->pages);
        free(t->c);
        *t = (struct vhdx_txn) {};
}

int vhdx_txn_init(const struct vhdx_image *img, struct vhdx_txn *t)
{
        *t = (struct vhdx_txn) { .cap = max_pages(img->headers.h[img->headers.current].log_length) };
        if (t->cap == 0)
                return -ENOSPC;
        t->target = calloc(t->cap, sizeof *t->target);
        t->pages = malloc(t->cap * SECTOR);
        if (!t->target || !t->pages) {
                vhdx_txn_done(t);
                return -ENOMEM;
        }
        return 0;
}

/*
 * Changes BAT entries (and the pages that go with them) through the log,
 * then in memory.  Readers load the entries without a lock
 * (vhdx_bat_entry_load(), acquire), alongside this one writer
 * (write_lock), so each entry is published with one release store: a
 * reader sees it whole, old or new.  The order makes the new one safe to
 * follow: a new block's data is written and fdatasync'ed (allocate()),
 * the entry logged, synced and written in place (log_batch()), and only
 * then published; a reader whose acquire load sees it happens after all
 * of that returned, so its pread finds the data.  An entry going to ZERO
 * or UNMAPPED leaves the block's bytes in the file (freed space is never
 * reused in a session), so a reader holding the old entry reads what the
 * block held, as if it had read just before.
 */
int vhdx_txn_commit(struct vhdx_image *img, struct vhdx_txn *t)
{
        _cleanup_free_ uint8_t **page = calloc(t->n ? t->n : 1, sizeof *page);
        const uint64_t cr = img->bat.chunk_ratio;
        int r;

        if (!page)
                return -ENOMEM;
        if (t->n == 0)
                return 0;
        for (size_t i = 0; i < t->n; i++)
                page[i] = t->pages + i * SECTOR;
        r = log_batch(img, t->target, page, t->n);
        if (r < 0)
                return r;
        /* In memory, in the order given: a sector-bitmap entry before the
         * PARTIALLY_PRESENT entry that needs it. */
        for (size_t k = 0; k < t->nc; k++) {
                uint64_t old = img->bat.e[t->c[k].index];
                if (t->c[k].index % (cr + 1) == cr) {
                        img->bat.sb_present -= (old & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT;
                        img->bat.sb_present += (t->c[k].entry & VHDX_BAT_STATE_MASK) == VHDX_SB_PRESENT;
                } else {
                        img->bat.count[old & VHDX_BAT_STATE_MASK]--;
                        img->bat.count[t->c[k].entry & VHDX_BAT_STATE_MASK]++;
                }
                __atomic_store_n(&img->bat.e[t->c[k].index], t->c[k].entry, __ATOMIC_RELEASE);
        }
        t->n = t->nc = 0;
        return 0;
}

int vhdx_txn_reserve(struct vhdx_image *img, struct vhdx_txn *t, size_t pages)
{
        if (pages > t->cap)
                return -ENOSPC;
        return t->n + pages > t->cap ? vhdx_txn_commit(img, t) : 0;
}

int vhdx_txn_page(struct vhdx_image *img, struct vhdx_txn *t, uint64_t at, uint8_t **ret)
{
        int r;

        for (size_t i = 0; i < t->n; i++)
                if (t->target[i] == at) {
                        *ret = t->pages + i * SECTOR;
                        return 0;
                }
        if (t->n == t->cap && (r = vhdx_txn_commit(img, t)) < 0)
                return r;
        r = pread_full(img->fd, t->pages + t->n * SECTOR, SECTOR, at);
        if (r < 0)
                return r;
        t->target[t->n] = at;
        *ret = t->pages + t->n++ * SECTOR;
        return 0;
}

int vhdx_txn_set_entry(struct vhdx_image *img, struct vhdx_txn *t, uint64_t index, uint64_t entry)
{
        const uint64_t at = img->bat.offset + index * 8;
        uint8_t *page;
        int r;

        if (t->nc == t->capc) {
                size_t cap = t->capc ? 2 * t->capc : 16;
                void *nc = realloc(t->c, cap * sizeof *t->c);
                if (!nc)
                        return -ENOMEM;
                t->c = nc;
                t->capc = cap;
        }
        r = vhdx_txn_page(img, t, at / SECTOR * SECTOR, &page);
        if (r < 0)
                return r;
        put_le64(page + at % SECTOR, entry);
        t->c[t->nc].index = index;
        t->c[t->nc++].entry = entry;
        return 0;
}

/* Changes BAT entries through the log, then in memory. */
static int bat_update(struct vhdx_image *img, const struct bat_change *c, size_t n)
{
        _cleanup_(vhdx_txn_done) struct vhdx_txn t = {};
        int r = vhdx_txn_init(img, &t);

        for (size_t i = 0; r >= 0 && i < n; i++)
                r = vhdx_txn_set_entry(img, &t, c[i].index, c[i].entry);
        return r < 0 ? r : vhdx_txn_commit(img, &t);
}

int vhdx_extend(struct vhdx_image *img, uint64_t len, uint64_t *ret_at)
{
        uint64_t at = (img->disk_size + VHDX_MiB - 1) / VHDX_MiB * VHDX_MiB, end;
        int r;

        if (ADD_OVERFLOW(at, len, &end) || end > VHDX_BAT_OFFSET_MASK)
                return -EFBIG;
        r = vc_ftruncate(img->fd, end);
        if (r < 0)
                return r;
        img->disk_size = img->file_size = end;
        *ret_at = at;
        return 0;
}

/* Writes len bytes of block data at offset at (none when len is 0) and
 * makes them durable: the barrier before a BAT entry or sector bitmap
 * may point at them. */
int vhdx_write_block_data(struct vhdx_image *img, const void *buf, size_t len, uint64_t at)
{
        int r;

        if (len) {
                r = pwrite_full(img->fd, buf, len, at);
                if (r < 0)
                        return r;
        }
        vc_fault_point("vhdx: block data written");
        r = vc_sync(img->fd, false, "vhdx: block data written");
        if (r < 0)
                return r;
        vc_fault_point("vhdx: block data synced");
        return 0;
}

/* A new FULLY_PRESENT block for data block b at the end of the file,
 * holding buf at in (the rest zeros). */
int vhdx_allocate(struct vhdx_image *img, uint64_t b, const void *buf, size_t len, uint64_t in)
{
        uint64_t at;
        int r;

        r = vhdx_extend(img, img->meta.block_size, &at);
        if (r < 0)
                return r;
        r = vhdx_write_block_data(img, buf, len, at + in);
        if (r < 0)
                return r;
        struct bat_change c = { vhdx_bat_index(&img->bat, b), at | VHDX_PAYLOAD_FULLY_PRESENT };
        return bat_update(img, &c, 1);
}

uint64_t vhdx_entry_of(const struct vhdx_image *img, uint64_t b)
{
        return vhdx_bat_entry_load(&img->bat, vhdx_bat_index(&img->bat, b));
}

int vhdx_image_pwrite(struct vhdx_image *img, const void *buf, size_t count, uint64_t offset)
{
        const uint64_t bs = img->meta.block_size;
        const uint8_t *p = buf;
        int r;

        if (range_outside(offset, count, img->meta.virtual_size))
                return -EINVAL;
        pthread_mutex_lock(&img->write_lock);
        r = count ? vhdx_session_begin(img, true) : 0;
        while (r >= 0 && count > 0) {
                uint64_t b = offset / bs, in = offset % bs, len = MIN((uint64_t) count, bs - in);
                uint64_t e = vhdx_entry_of(img, b);
                if ((e & VHDX_BAT_STATE_MASK) == VHDX_PAYLOAD_FULLY_PRESENT)
                        r = pwrite_full(img->fd, p, len, (e & VHDX_BAT_OFFSET_MASK) + in);
                else if (img->meta.has_parent)
                        r = vhdx_child_write(img, b, p, in, len);
                else
                        r = vhdx_allocate(img, b, p, len, in);
                p += len;
                offset += len;
                count -= len;
        }
        pthread_mutex_unlock(&img->write_lock);
        return r < 0 ? r : 0;
}

/* Real zeros at [at, at + len) of the file, where they are not already
 * (so that zeroing zeros is no change: no new DataWriteGuid). */
int vhdx_write_zeros(struct vhdx_image *img, uint64_t at, uint64_t len)
{
        _cleanup_free_ uint8_t *z = calloc(1, MIN(len, (uint64_t) VHDX_MiB)), *cur = malloc(MIN(len, (uint64_t) VHDX_MiB));
        if (!z || !cur)
                return -ENOMEM;
        for (uint64_t done = 0; done < len;) {
                size_t n = (size_t) MIN(len - done, (uint64_t) VHDX_MiB);
                int r = pread_full(img->fd, cur, n, at + done);
                if (r < 0)
                        return r;
                if (memcmp(cur, z, n)) {
                        r = vhdx_session_begin(img, true);
                        if (r >= 0)
                                r = pwrite_full(img->fd, z, n, at + done);
                        if (r < 0)
                                return r;
                }
                done += n;
        }
        return 0;
}

/* zero (state ZERO, real zeros in parts) or trim (UNMAPPED, parts left). */
static int discard(struct vhdx_image *img, size_t count, uint64_t offset, bool trim)
{
        const uint64_t bs = img->meta.block_size, vs = img->meta.virtual_size;
        const unsigned state = trim ? VHDX_PAYLOAD_UNMAPPED : VHDX_PAYLOAD_ZERO;
        _cleanup_free_ struct bat_change *c = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (range_outside(offset, count, vs))
                return -EINVAL;
        if (img->meta.has_parent) {
                pthread_mutex_lock(&img->write_lock);
                r = vhdx_child_discard(img, count, offset, trim);
                pthread_mutex_unlock(&img->write_lock);
                return r < 0 ? r : 0;
        }
        pthread_mutex_lock(&img->write_lock);
        for (uint64_t off = offset, left = count; left > 0 && r >= 0;) {
                uint64_t b = off / bs, in = off % bs, len = MIN(left, bs - in);
                uint64_t e = vhdx_entry_of(img, b), whole = MIN(bs, vs - b * bs);
                bool present = (e & VHDX_BAT_STATE_MASK) == VHDX_PAYLOAD_FULLY_PRESENT;
                if (in == 0 && len == whole && !img->meta.leave_allocated) {
                        /* A block that reads zeros already (no parent here) stays. */
                        if (present) {
                                if (n == cap) {
                                        cap = cap ? 2 * cap : 64;
                                        struct bat_change *nc = realloc(c, cap * sizeof *nc);
                                        if (!nc) {
                                                r = -ENOMEM;
                                                break;
                                        }
                                        c = nc;
                                }
                                c[n++] = (struct bat_change) { vhdx_bat_index(&img->bat, b), state };
                        }
                } else if (present && !trim)
                        r = vhdx_write_zeros(img, (e & VHDX_BAT_OFFSET_MASK) + in, len);
                off += len;
                left -= len;
        }
        if (r >= 0 && n > 0) {
                r = vhdx_session_begin(img, true);
                if (r >= 0)
                        r = bat_update(img, c, n);
        }
        pthread_mutex_unlock(&img->write_lock);
        return r < 0 ? r : 0;
}

int vhdx_image_zero(struct vhdx_image *img, size_t count, uint64_t offset)
{
        return discard(img, count, offset, false);
}

int vhdx_image_trim(struct vhdx_image *img, size_t count, uint64_t offset)
{
        return discard(img, count, offset, true);
}

int vhdx_image_flush(struct vhdx_image *img)
{
        if (!img->rw)
                return 0;
        return vc_sync(img->fd, false, "vhdx: flush");
}

int vhdx_session_replay(struct vhdx_image *img)
{
        static const uint8_t zero_guid[16];
        struct vhdx_headers *hs = &img->headers;
        uint8_t fg[16];
        int r;

        r = guid_new(fg);
        if (r < 0)
                return r;
        if (img->replayed) {
                r = vhdx_log_apply(img->fd, &img->log, img->disk_size);
                if (r < 0)
                        return r;
                r = vhdx_header_update(img->fd, hs, fg, NULL, zero_guid);
                if (r < 0)
                        return r;
                img->file_guid_new = true;
                img->replayed = false;
                img->disk_size = img->file_size;
                vhdx_log_replay_done(&img->log);
        }
        /* Recovery: a slot left invalid or naming a log (a crash between
         * the header writes of a batch) is rewritten from the current one,
         * so that both are valid and name no log (7-Zip refuses a file
         * with an invalid slot). */
        if (!hs->valid[!hs->current] || !vhdx_guid_is_zero(hs->h[!hs->current].log_guid)) {
                r = vhdx_header_update(img->fd, hs, img->file_guid_new ? NULL : fg, NULL, NULL);
                if (r < 0)
                        return r;
                img->file_guid_new = true;
        }
        return 0;
}

int vhdx_session_end(struct vhdx_image *img)
{
        const struct vhdx_headers *hs = &img->headers;
        const struct vhdx_header *a = &hs->h[hs->current], *o = &hs->h[!hs->current];

        if (!img->rw || !img->file_guid_new)
                return 0;
        /* The other slot as the current one (LogGuid 0 in both). */
        if (hs->valid[!hs->current] && !memcmp(a->log_guid, o->log_guid, 16) &&
            !memcmp(a->file_write_guid, o->file_write_guid, 16) &&
            !memcmp(a->data_write_guid, o->data_write_guid, 16))
                return 0;
        return vhdx_header_update(img->fd, &img->headers, NULL, NULL, NULL);
}

size_t vhdx_log_max_pages(const struct vhdx_image *img)
{
        return max_pages(img->headers.h[img->headers.current].log_length);
}

int vhdx_log_pages(struct vhdx_image *img, const uint64_t *target, uint8_t *const *page, size_t n)
{
        if (!img->rw)
                return -EROFS;
        if (n == 0 || n > vhdx_log_max_pages(img))
                return -EINVAL;
        return log_batch(img, target, page, n);
}
