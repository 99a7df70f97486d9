/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two VHDX headers (at 64 and 128 KiB) and the choice of the current
 * one: a header is valid when its signature, CRC-32C and version are
 * right; the current one is the only valid one, or the valid one with the
 * higher sequence number.  A header whose CRC is wrong is never chosen,
 * whatever its sequence number says.  Two valid headers under one
 * sequence number are accepted only when their fields are identical
 * (Disk2VHD writes such pairs); otherwise nobody can say which is current.
 * The log fields are checked here for what they are (MiB multiples, past
 * the header section, at most 1 GiB); whether the log is empty is
 * image.c's business.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/fault.h"
#include "../util/fd-util.h"
#include "vhdx.h"

int vhdx_report(struct vhdx_report *rep, enum vc_problem_id id, int error, const char *field, uint64_t offset,
                const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        vc_problem_add(rep->ps, id, error, field, offset, "%s", msg);
        if (!rep->err)
                rep->err = error;
        if (!vhdx_collecting(rep) || rep->ps->oom)
                return error;
        return 0;
}

uint64_t vhdx_header_offset(int slot) { return slot ? VHDX_HEADER2_OFFSET : VHDX_HEADER1_OFFSET; }

bool vhdx_guid_is_zero(const uint8_t g[16])
{
        for (int i = 0; i < 16; i++)
                if (g[i])
                        return false;
        return true;
}

/* Microsoft's text form: Data1..3 read little-endian, Data4 as bytes. */
void vhdx_guid_format(const uint8_t g[16], char out[37])
{
        snprintf(out, 37, "%08" PRIx32 "-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", get_le32(g),
                 get_le16(g + 4), get_le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static const char *const field_names[2][6] = {
        { "header1.signature", "header1.checksum", "header1.version", "header1.log_offset", "header1.log_length",
          "header1.reserved" },
        { "header2.signature", "header2.checksum", "header2.version", "header2.log_offset", "header2.log_length",
          "header2.reserved" },
};

/* One slot: 0 and *ret when valid, else a negative errno with *why. */
static int header_decode(const uint8_t *p, int slot, struct vhdx_header *ret, struct vc_problem *why)
{
        const uint64_t at = vhdx_header_offset(slot);
        struct vc_problems q = { .collect = false };
        struct vhdx_header h = {};
        uint32_t crc;
        int r = 0;

        if (memcmp(p + VHDX_HEADER_OFF_SIGNATURE, VHDX_HEADER_SIGNATURE, 4))
                r = vc_problem_add(&q, VC_PROBLEM_BAD_COOKIE, -EBADMSG, field_names[slot][0], at,
                                   "header %d has no signature \"head\"", slot + 1);
        if (!r) {
                h.checksum = get_le32(p + VHDX_HEADER_OFF_CHECKSUM);
                static const uint8_t zero[4];
                crc = crc32c(0, p, VHDX_HEADER_OFF_CHECKSUM);
                crc = crc32c(crc, zero, 4);
                crc = crc32c(crc, p + VHDX_HEADER_OFF_CHECKSUM + 4, VHDX_HEADER_SIZE - VHDX_HEADER_OFF_CHECKSUM - 4);
                if (crc != h.checksum)
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_CHECKSUM, -EBADMSG, field_names[slot][1],
                                           at + VHDX_HEADER_OFF_CHECKSUM,
                                           "header %d checksum is 0x%08" PRIx32 ", its CRC-32C is 0x%08" PRIx32,
                                           slot + 1, h.checksum, crc);
        }
        if (!r) {
                h.sequence = get_le64(p + VHDX_HEADER_OFF_SEQUENCE);
                memcpy(h.file_write_guid, p + VHDX_HEADER_OFF_FILE_WRITE_GUID, 16);
                memcpy(h.data_write_guid, p + VHDX_HEADER_OFF_DATA_WRITE_GUID, 16);
                memcpy(h.log_guid, p + VHDX_HEADER_OFF_LOG_GUID, 16);
                h.log_version = get_le16(p + VHDX_HEADER_OFF_LOG_VERSION);
                h.version = get_le16(p + VHDX_HEADER_OFF_VERSION);
                h.log_length = get_le32(p + VHDX_HEADER_OFF_LOG_LENGTH);
                h.log_offset = get_le64(p + VHDX_HEADER_OFF_LOG_OFFSET);
                if (h.version != VHDX_HEADER_VERSION)
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_VERSION, -EOPNOTSUPP, field_names[slot][2],
                                           at + VHDX_HEADER_OFF_VERSION, "header %d has version %u, not 1",
                                           slot + 1, h.version);
        }
        /* The 4016 reserved bytes after LogOffset must be zero ([MS-VHDX]
         * 2.2.2.1): a header that uses them is of a version we do not
         * know, whatever its Version says (7-Zip and qemu ignore them). */
        for (size_t i = VHDX_HEADER_OFF_RESERVED; !r && i < VHDX_HEADER_SIZE; i++)
                if (p[i])
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_HEADER, -EBADMSG, field_names[slot][5], at + i,
                                           "header %d has reserved byte %zu set to 0x%02x", slot + 1, i, p[i]);
        if (!r && h.log_length % VHDX_MiB)
                r = vc_problem_add(&q, VC_PROBLEM_BAD_LOG, -EBADMSG, field_names[slot][4],
                                   at + VHDX_HEADER_OFF_LOG_LENGTH,
                                   "header %d: log length %" PRIu32 " is not a multiple of 1 MiB", slot + 1,
                                   h.log_length);
        if (!r && h.log_length > VHDX_LOG_MAX)
                r = vc_problem_add(&q, VC_PROBLEM_BAD_LOG, -EBADMSG, field_names[slot][4],
                                   at + VHDX_HEADER_OFF_LOG_LENGTH,
                                   "header %d: log length %" PRIu32 " is over 1 GiB", slot + 1, h.log_length);
        if (!r && h.log_length && (h.log_offset < VHDX_HEADER_SECTION_SIZE || h.log_offset % VHDX_MiB))
                r = vc_problem_add(&q, VC_PROBLEM_BAD_LOG, -EBADMSG, field_names[slot][3],
                                   at + VHDX_HEADER_OFF_LOG_OFFSET,
                                   "header %d: log offset %" PRIu64 " is not a multiple of 1 MiB past the "
                                   "header section", slot + 1, h.log_offset);
        if (r < 0) {
                *why = q.first;
                return r;
        }
        *ret = h;
        return 0;
}

int vhdx_headers_parse(const uint8_t *sec, struct vhdx_report *rep, struct vhdx_headers *ret)
{
        struct vhdx_headers hs = {};
        int r;

        for (int s = 0; s < 2; s++)
                hs.valid[s] = header_decode(sec + vhdx_header_offset(s), s, &hs.h[s], &hs.why[s]) == 0;
        if (!hs.valid[0] && !hs.valid[1]) {
                /* Both: the first slot's reason is the problem, the second's
                 * a second one when collecting. */
                for (int s = 0; s < 2; s++) {
                        const struct vc_problem *w = &hs.why[s];
                        r = vhdx_report(rep, w->id, w->error, w->field, w->offset, "%s; %s", w->message,
                                        s ? "header 1 is invalid too" : "and header 2 is invalid too");
                        if (r < 0)
                                return r;
                }
                return rep->err;
        }
        /* One invalid slot: the other serves; `check` lists it (7-Zip
         * refuses such a file, and a writer must rewrite it). */
        for (int s = 0; s < 2; s++)
                if (!hs.valid[s] && vhdx_collecting(rep)) {
                        const struct vc_problem *w = &hs.why[s];
                        vc_problem_add(rep->ps, w->id, w->error, w->field, w->offset,
                                       "%s (header %d is used)", w->message, 2 - s);
                }
        if (hs.valid[0] && hs.valid[1]) {
                if (hs.h[0].sequence == hs.h[1].sequence) {
                        /* Equal: only as twins (the checksum aside). */
                        const struct vhdx_header *a = &hs.h[0], *b = &hs.h[1];
                        if (memcmp(a->file_write_guid, b->file_write_guid, 16) ||
                            memcmp(a->data_write_guid, b->data_write_guid, 16) ||
                            memcmp(a->log_guid, b->log_guid, 16) || a->log_version != b->log_version ||
                            a->log_length != b->log_length || a->log_offset != b->log_offset) {
                                vhdx_report(rep, VC_PROBLEM_HEADER_MISMATCH, -EBADMSG, "header2.sequence_number",
                                            VHDX_HEADER2_OFFSET + VHDX_HEADER_OFF_SEQUENCE,
                                            "both headers have sequence number %" PRIu64
                                            " but differ, so neither is current", a->sequence);
                                return -EBADMSG;
                        }
                        hs.current = 0;
                } else
                        hs.current = hs.h[1].sequence > hs.h[0].sequence;
        } else
                hs.current = hs.valid[1];
        *ret = hs;
        return 0;
}

/* --- writing ----------------------------------------------------------------- */

int vhdx_header_update(int fd, struct vhdx_headers *hs, const uint8_t *file_write_guid,
                       const uint8_t *data_write_guid, const uint8_t *log_guid)
{
        _cleanup_free_ uint8_t *p = malloc(VHDX_HEADER_SIZE);
        const int cur = hs->current, other = !cur;
        struct vc_problem why;
        struct vhdx_header h;
        int r;

        if (!p)
                return -ENOMEM;
        if (hs->h[cur].sequence == UINT64_MAX)
                return -EOVERFLOW;      /* never wrap (VHDX.md 5, item 5) */
        /* Every field, reserved bytes too, from the current slot. */
        r = pread_full(fd, p, VHDX_HEADER_SIZE, vhdx_header_offset(cur));
        if (r < 0)
                return r;
        put_le64(p + VHDX_HEADER_OFF_SEQUENCE, hs->h[cur].sequence + 1);
        if (file_write_guid)
                memcpy(p + VHDX_HEADER_OFF_FILE_WRITE_GUID, file_write_guid, 16);
        if (data_write_guid)
                memcpy(p + VHDX_HEADER_OFF_DATA_WRITE_GUID, data_write_guid, 16);
        if (log_guid)
                memcpy(p + VHDX_HEADER_OFF_LOG_GUID, log_guid, 16);
        put_le32(p + VHDX_HEADER_OFF_CHECKSUM, 0);
        put_le32(p + VHDX_HEADER_OFF_CHECKSUM, crc32c(0, p, VHDX_HEADER_SIZE));
        r = header_decode(p, other, &h, &why);
        if (r < 0)
                return -EIO;            /* the current slot changed under us */
        r = pwrite_full(fd, p, VHDX_HEADER_SIZE, vhdx_header_offset(other));
        if (r < 0)
                return r;
        vc_fault_point("vhdx: header written");
        r = vc_sync(fd, false, "vhdx: header written");
        if (r < 0)
                return r;
        vc_fault_point("vhdx: header synced");
        hs->h[other] = h;
        hs->valid[other] = true;
        hs->current = other;
        return 0;
}
