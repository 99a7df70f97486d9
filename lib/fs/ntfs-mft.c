/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * MFT records and the multi-sector transfer protection they share with INDX
 * records and $LogFile restart pages.
 *
 * Design note: NTFS writes the last two bytes of every 512-byte stride of a
 * protected block as the "update sequence number" and keeps the real bytes
 * in the update sequence array (USA) near the start of the block.  A stride
 * whose tail does not hold the number was not written together with the
 * others (a torn write), and the block must not be trusted.  The stride is
 * 512 bytes whatever the sector size.
 *
 * Records are located through $MFT's own runlist, one 512-byte stride at a
 * time, so a record that straddles two runs (512-byte clusters, fragmented
 * $MFT) is read correctly, and every stride remembers its disk offset for
 * problem reports.  While $MFT's runlist is being built (record 0 and its
 * extension records), only the part decoded so far is mapped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "ntfs-internal.h"

static const char *const fixup_fields[_NTFS_FIXUP_KIND_MAX][3] = {
        [NTFS_FIXUP_MFT] = { "ntfs.mft.usa_offset", "ntfs.mft.usa_count", "ntfs.mft.fixup" },
        [NTFS_FIXUP_INDX] = { "ntfs.indx.usa_offset", "ntfs.indx.usa_count", "ntfs.indx.fixup" },
        [NTFS_FIXUP_RSTR] = { "ntfs.logfile.usa_offset", "ntfs.logfile.usa_count",
                              "ntfs.logfile.fixup" },
};

int ntfs_fixup_apply(struct ntfs_block *b, enum ntfs_fixup_kind kind, struct vc_problems *problems)
{
        const char *const *fields = fixup_fields[kind];
        const struct span s = SPAN(b->p, b->size);
        uint16_t usa_off = 0, usa_count = 0, usn = 0;
        uint32_t strides;

        if (b->size == 0 || b->size % NTFS_FIXUP_STRIDE != 0 || b->size > NTFS_MAX_BLOCK)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, fields[1],
                                      ntfs_block_where(b, NTFS_REC_OFF_USA_COUNT),
                                      "protected block of %u bytes is not a multiple of 512",
                                      b->size);
        strides = b->size / NTFS_FIXUP_STRIDE;

        (void) span_get_le16(&s, NTFS_REC_OFF_USA_OFFSET, &usa_off);
        (void) span_get_le16(&s, NTFS_REC_OFF_USA_COUNT, &usa_count);
        if (usa_count != strides + 1)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, fields[1],
                                      ntfs_block_where(b, NTFS_REC_OFF_USA_COUNT),
                                      "update sequence array count is %u, expected %u for a "
                                      "%u-byte block", usa_count, strides + 1, b->size);
        /* Even, after the header, and ending before the first protected
         * word (byte 510), so that the array itself is never fixed up. */
        if (usa_off % 2 != 0 || usa_off < NTFS_REC_HEADER_MIN ||
            (uint32_t) usa_off + 2u * usa_count > NTFS_FIXUP_STRIDE - 2)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, fields[0],
                                      ntfs_block_where(b, NTFS_REC_OFF_USA_OFFSET),
                                      "update sequence array at offset %u (%u entries) is not "
                                      "inside the first 510 bytes", usa_off, usa_count);

        (void) span_get_le16(&s, usa_off, &usn);
        for (uint32_t k = 1; k <= strides; k++) {
                uint64_t tail = (uint64_t) k * NTFS_FIXUP_STRIDE - 2;
                uint16_t have = 0;

                (void) span_get_le16(&s, tail, &have);
                if (have != usn)
                        return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, fields[2],
                                              ntfs_block_where(b, tail),
                                              "stride %u ends with 0x%04x, not the update "
                                              "sequence number 0x%04x (torn write)", k, have, usn);
        }
        /* All strides verified before any is changed. */
        for (uint32_t k = 1; k <= strides; k++)
                memcpy(b->p + (size_t) k * NTFS_FIXUP_STRIDE - 2, b->p + usa_off + 2u * k, 2);
        return 0;
}

int ntfs_read(struct ntfs_volume *v, void *buf, size_t count, uint64_t offset, const char *field)
{
        int r = vc_source_pread(v->src, buf, count, offset);

        if (r < 0)
                return vc_problem_add(v->problems, VC_PROBLEM_IO, r, field, offset,
                                      "cannot read %zu bytes at offset %llu", count,
                                      (unsigned long long) offset);
        return 0;
}

int ntfs_read_block(struct ntfs_volume *v, const struct ntfs_runlist *rl, uint64_t pos,
                    struct ntfs_block *b, const char *field, uint64_t field_off)
{
        const uint32_t shift = v->boot.cluster_shift;
        uint32_t done = 0;

        if (pos % NTFS_FIXUP_STRIDE != 0 || b->size % NTFS_FIXUP_STRIDE != 0)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field,
                                      field_off, "block at byte %llu is not 512-byte aligned",
                                      (unsigned long long) pos);
        while (done < b->size) {
                uint64_t at, vcn, in_run;
                const struct ntfs_run *run;
                size_t piece;
                int r;

                if (ADD_OVERFLOW(pos, (uint64_t) done, &at))
                        return -EOVERFLOW;
                vcn = at >> shift;
                run = ntfs_runlist_lookup(rl, vcn);
                if (!run || run->lcn == NTFS_LCN_HOLE)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field,
                                              field_off, "byte %llu (VCN %llu) is %s",
                                              (unsigned long long) at, (unsigned long long) vcn,
                                              run ? "in a sparse run" : "not mapped by the runlist");
                /* Bytes left in this run from @at (the run lies in the volume). */
                in_run = ((run->vcn + run->len) << shift) - at;
                piece = (size_t) MIN(in_run, (uint64_t) (b->size - done));
                r = ntfs_read(v, b->p + done, piece,
                              ntfs_lcn_offset(v, run->lcn) + (at - (run->vcn << shift)), field);
                if (r < 0)
                        return r;
                for (uint32_t o = 0; o < piece; o += NTFS_FIXUP_STRIDE)
                        b->where[(done + o) / NTFS_FIXUP_STRIDE] =
                                ntfs_lcn_offset(v, run->lcn) + (at - (run->vcn << shift)) + o;
                done += (uint32_t) piece;
        }
        return 0;
}

#define MFT_CORRUPT(field, off, ...) \
        vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.mft." field, \
                       ntfs_block_where(&rec->blk, (off)), __VA_ARGS__)

int ntfs_mft_read(struct ntfs_volume *v, uint64_t recno, struct ntfs_record *rec)
{
        const uint32_t size = v->boot.mft_record_size;
        const struct span s = SPAN(rec->buf, size);
        uint64_t pos, end, base_ref = 0;
        uint32_t magic = 0, bytes_used = 0, bytes_alloc = 0;
        uint16_t usa_off = 0, usa_count = 0, attrs_off = 0, flags = 0, seq = 0;
        int r;

        rec->blk.p = rec->buf;
        rec->blk.size = size;
        if (MUL_OVERFLOW(recno, (uint64_t) size, &pos) || ADD_OVERFLOW(pos, (uint64_t) size, &end) ||
            end > v->mft_valid) {
                const struct ntfs_run *first = v->mft_rl.n ? &v->mft_rl.v[0] : NULL;
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                      "ntfs.mft.record_number",
                                      first ? ntfs_lcn_offset(v, first->lcn) : v->part_start,
                                      "MFT record %llu is beyond the %llu initialized bytes of $MFT",
                                      (unsigned long long) recno,
                                      (unsigned long long) v->mft_valid);
        }
        r = ntfs_read_block(v, &v->mft_rl, pos, &rec->blk, "ntfs.mft.runlist",
                            v->mft_rl.n ? ntfs_lcn_offset(v, v->mft_rl.v[0].lcn) : v->part_start);
        if (r < 0)
                return r;

        (void) span_get_le32(&s, NTFS_REC_OFF_MAGIC, &magic);
        if (magic == NTFS_MAGIC_BAAD)
                return MFT_CORRUPT("magic", 0, "MFT record %llu is marked BAAD (failed multi-sector "
                                   "transfer)", (unsigned long long) recno);
        if (magic != NTFS_MAGIC_FILE)
                return MFT_CORRUPT("magic", 0, "MFT record %llu has magic 0x%08x, not FILE",
                                   (unsigned long long) recno, magic);
        r = ntfs_fixup_apply(&rec->blk, NTFS_FIXUP_MFT, v->problems);
        if (r < 0)
                return r;

        (void) span_get_le16(&s, NTFS_REC_OFF_USA_OFFSET, &usa_off);
        (void) span_get_le16(&s, NTFS_REC_OFF_USA_COUNT, &usa_count);
        (void) span_get_le16(&s, NTFS_MFT_OFF_SEQUENCE, &seq);
        (void) span_get_le16(&s, NTFS_MFT_OFF_ATTRS_OFFSET, &attrs_off);
        (void) span_get_le16(&s, NTFS_MFT_OFF_FLAGS, &flags);
        (void) span_get_le32(&s, NTFS_MFT_OFF_BYTES_USED, &bytes_used);
        (void) span_get_le32(&s, NTFS_MFT_OFF_BYTES_ALLOCATED, &bytes_alloc);
        (void) span_get_le64(&s, NTFS_MFT_OFF_BASE_REF, &base_ref);

        if (bytes_alloc != size)
                return MFT_CORRUPT("bytes_allocated", NTFS_MFT_OFF_BYTES_ALLOCATED,
                                   "MFT record %llu says it is %u bytes, the boot sector %u",
                                   (unsigned long long) recno, bytes_alloc, size);
        if (bytes_used > size || bytes_used % 8 != 0)
                return MFT_CORRUPT("bytes_used", NTFS_MFT_OFF_BYTES_USED,
                                   "MFT record %llu uses %u bytes of %u (or is not 8-aligned)",
                                   (unsigned long long) recno, bytes_used, size);
        /* The attributes start after the USA, 8-aligned, and the end marker
         * (4 bytes) must fit in the bytes used. */
        if (attrs_off % 8 != 0 || attrs_off < (uint32_t) usa_off + 2u * usa_count ||
            (uint32_t) attrs_off + 4 > bytes_used)
                return MFT_CORRUPT("attrs_offset", NTFS_MFT_OFF_ATTRS_OFFSET,
                                   "MFT record %llu: first attribute at %u is not 8-aligned after "
                                   "the USA and inside the %u bytes used",
                                   (unsigned long long) recno, attrs_off, bytes_used);
        if (usa_off >= NTFS_MFT_OFF_RECORD_NUMBER + 4) {
                uint32_t stored = 0;

                (void) span_get_le32(&s, NTFS_MFT_OFF_RECORD_NUMBER, &stored);
                if (stored != (uint32_t) recno)
                        return MFT_CORRUPT("record_number", NTFS_MFT_OFF_RECORD_NUMBER,
                                           "MFT record %llu stores record number %u",
                                           (unsigned long long) recno, stored);
        }

        rec->recno = recno;
        rec->seq = seq;
        rec->flags = flags;
        rec->base_ref = base_ref;
        rec->attrs_offset = attrs_off;
        rec->bytes_used = bytes_used;
        return 0;
}

int ntfs_mft_read_system(struct ntfs_volume *v, uint64_t recno, const char *name,
                         const char *field, struct ntfs_record *rec)
{
        int r = ntfs_mft_read(v, recno, rec);

        if (r < 0)
                return r;
        if (!(rec->flags & NTFS_MFT_FLAG_IN_USE))
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.mft.flags",
                                      ntfs_block_where(&rec->blk, NTFS_MFT_OFF_FLAGS),
                                      "system record %llu (%s) is not in use",
                                      (unsigned long long) recno, name);
        if (rec->base_ref != 0)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                      "ntfs.mft.base_record",
                                      ntfs_block_where(&rec->blk, NTFS_MFT_OFF_BASE_REF),
                                      "system record %llu (%s) is an extension record",
                                      (unsigned long long) recno, name);
        return ntfs_record_check_name(v, rec, name, NTFS_REC_ROOT, field);
}

void ntfs_volume_done(struct ntfs_volume *v)
{
        ntfs_runlist_done(&v->mft_rl);
        ntfs_runlist_done(&v->used);
        free(v->upcase);
        v->upcase = NULL;
}

int ntfs_volume_note_used_range(struct ntfs_volume *v, uint64_t lcn, uint64_t len)
{
        /* The "used" list reuses the runlist type with vcn = lcn; it is
         * sorted and merged only when the bitmap walk needs it. */
        struct ntfs_runlist *u = &v->used;

        if (len == 0)
                return 0;
        if (u->n == u->cap) {
                size_t cap = u->cap ? u->cap * 2 : 64;
                struct ntfs_run *nv;

                if (cap > NTFS_MAX_RUNS)
                        return 0;       /* a cross-check only: stop noting, never fail */
                nv = realloc(u->v, cap * sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                u->v = nv;
                u->cap = cap;
        }
        u->v[u->n++] = (struct ntfs_run) { .vcn = lcn, .lcn = lcn, .len = len };
        return 0;
}

int ntfs_volume_note_used(struct ntfs_volume *v, const struct ntfs_runlist *rl)
{
        for (size_t i = 0; i < rl->n; i++) {
                if (rl->v[i].lcn == NTFS_LCN_HOLE)
                        continue;
                int r = ntfs_volume_note_used_range(v, rl->v[i].lcn, rl->v[i].len);
                if (r < 0)
                        return r;
        }
        return 0;
}
