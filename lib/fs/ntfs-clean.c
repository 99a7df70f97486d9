/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Was the volume shut down cleanly?  $Bitmap only tells the truth if so.
 *
 * Design note: three independent witnesses, any of which makes the volume
 * "not clean" (docs/formats/ntfs.md, "Clean shutdown"):
 *   1. $Volume's $VOLUME_INFORMATION flags: dirty, or chkdsk underway;
 *   2. $LogFile's restart area: clients still in use without the
 *      volume-is-clean flag means transactions may be pending replay (the
 *      test ntfs-3g applies).  A log never written (all 0xFF, as mkntfs and
 *      ntfs-3g leave it) is clean.  We probe for restart pages where
 *      ntfs-3g does (offsets 0, 512, 1 KiB, 2 KiB, ...), so the whole log
 *      is never read;
 *   3. hiberfil.sys in the root whose first four bytes are "hibr"/"HIBR":
 *      Windows hibernated or "fast startup" - memory holds allocations the
 *      bitmap on disk does not.
 * Doubt is never clean: a restart page we cannot validate, or a root index
 * we cannot search, marks the volume not clean with the reason, so that the
 * user may still override with force-dirty.  Only damage to the MFT records
 * themselves is an error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/utf16.h"
#include "ntfs-internal.h"

static void _printf_(4, 5) not_clean(struct ntfs_state *st, const char *field, uint64_t where,
                                      const char *fmt, ...)
{
        va_list ap;

        if (!st->clean)
                return;         /* the first reason wins */
        st->clean = false;
        st->reason_field = field;
        st->reason_where = where;
        va_start(ap, fmt);
        vsnprintf(st->reason, sizeof st->reason, fmt, ap);
        va_end(ap);
}

/* ---- $Volume ------------------------------------------------------------- */

static void read_label(const struct ntfs_attr *a, char label[static 128])
{
        size_t units = a->value.len / 2;

        label[0] = 0;
        /* Drop trailing units until the UTF-8 form fits (a label holds at
         * most 32 units on Windows; a longer one is only truncated). */
        while (units > 0 && utf16_to_utf8(a->value.p, units * 2, false, label, 128) < 0)
                units--;
        if (units == 0)
                label[0] = 0;
}

int ntfs_check_volume(struct ntfs_volume *v, struct ntfs_state *st)
{
        struct ntfs_record *base, *keep;
        const struct ntfs_record *rec;
        struct ntfs_attr a;
        uint64_t flags_where;
        int r;

        base = malloc(sizeof *base);
        keep = malloc(sizeof *keep);
        if (!base || !keep) {
                r = -ENOMEM;
                goto out;
        }
        r = ntfs_mft_read_system(v, NTFS_REC_VOLUME, "$Volume", "ntfs.volume.file_name", base);
        if (r < 0)
                goto out;
        rec = base;
        r = ntfs_file_find_attr(v, base, NTFS_AT_VOLUME_INFORMATION, "", keep, &rec, &a);
        if (r < 0)
                goto out;
        if (r == 0 || a.non_resident || a.value.len < NTFS_VI_SIZE) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                   "ntfs.volume.information",
                                   r ? ntfs_attr_where(rec, &a, 0)
                                     : ntfs_block_where(&base->blk, base->attrs_offset),
                                   "$Volume has no valid $VOLUME_INFORMATION");
                goto out;
        }
        st->major = a.value.p[NTFS_VI_OFF_MAJOR];
        st->minor = a.value.p[NTFS_VI_OFF_MINOR];
        st->volume_flags = get_le16(a.value.p + NTFS_VI_OFF_FLAGS);
        flags_where = ntfs_attr_where(rec, &a, a.value_offset + NTFS_VI_OFF_FLAGS);
        if (!((st->major == 1 && st->minor == 2) || (st->major == 3 && st->minor <= 1))) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                   "ntfs.volume.version",
                                   ntfs_attr_where(rec, &a, a.value_offset + NTFS_VI_OFF_MAJOR),
                                   "NTFS version %u.%u is not 1.2, 3.0 or 3.1", st->major,
                                   st->minor);
                goto out;
        }
        if (st->volume_flags & NTFS_VOLUME_IS_DIRTY)
                not_clean(st, "ntfs.volume.flags", flags_where,
                          "the volume is marked dirty ($Volume flags 0x%04x): run chkdsk in "
                          "Windows", st->volume_flags);
        if (st->volume_flags & NTFS_VOLUME_CHKDSK_UNDERWAY)
                not_clean(st, "ntfs.volume.flags", flags_where,
                          "chkdsk was interrupted on this volume ($Volume flags 0x%04x)",
                          st->volume_flags);

        r = ntfs_file_find_attr(v, base, NTFS_AT_VOLUME_NAME, "", keep, &rec, &a);
        if (r < 0)
                goto out;
        if (r > 0 && !a.non_resident)
                read_label(&a, st->label);
        r = 0;
out:
        free(base);
        free(keep);
        return r;
}

/* ---- $LogFile ------------------------------------------------------------ */

#define LOG_PAGE 4096u          /* the log page size ntfs-3g assumes for the size checks */
#define LOG_MIN_RECORD_PAGES 48u

struct restart {
        bool valid;
        uint64_t lsn;
        uint16_t in_use, flags;
        uint64_t flags_where;
};

/*
 * Checks the restart page whose first 512 bytes are @first, at byte @pos of
 * the log, and reads the rest of it.  Returns 0 with *ret filled (valid or
 * with a reason in @why), or < 0 on I/O or allocation failure.
 */
static int check_restart_page(struct ntfs_volume *v, const struct ntfs_stream *log,
                              const uint8_t *first, uint64_t pos, struct restart *ret,
                              char *why, size_t why_size)
{
        const struct span h = SPAN(first, NTFS_FIXUP_STRIDE);
        uint32_t magic = 0, sys_page = 0, log_page = 0;
        uint16_t usa_off = 0, usa_count = 0, ra_off = 0, ra_len = 0, ca_off = 0, clients = 0;
        uint16_t free_list = 0, in_use = 0, flags = 0;
        int16_t minor, major;
        uint64_t chkdsk_lsn = 0, cur_lsn = 0;
        bool chkd, have_usa;
        struct ntfs_block blk = {};
        struct vc_problems local = {};
        struct vc_problems *saved;
        struct span page, ra = {};
        int r;

        (void) span_get_le32(&h, NTFS_REC_OFF_MAGIC, &magic);
        (void) span_get_le16(&h, NTFS_REC_OFF_USA_OFFSET, &usa_off);
        (void) span_get_le16(&h, NTFS_REC_OFF_USA_COUNT, &usa_count);
        (void) span_get_le64(&h, NTFS_RP_OFF_CHKDSK_LSN, &chkdsk_lsn);
        (void) span_get_le32(&h, NTFS_RP_OFF_SYSTEM_PAGE_SIZE, &sys_page);
        (void) span_get_le32(&h, NTFS_RP_OFF_LOG_PAGE_SIZE, &log_page);
        (void) span_get_le16(&h, NTFS_RP_OFF_RA_OFFSET, &ra_off);
        minor = (int16_t) get_le16(first + NTFS_RP_OFF_MINOR);
        major = (int16_t) get_le16(first + NTFS_RP_OFF_MAJOR);
        chkd = magic == NTFS_MAGIC_CHKD;
        *ret = (struct restart) {};

#define INVALID(...) do { snprintf(why, why_size, __VA_ARGS__); return 0; } while (0)
        if (!IS_POWER_OF_2(sys_page) || sys_page < NTFS_FIXUP_STRIDE || sys_page > NTFS_MAX_LOG_PAGE_SIZE ||
            !IS_POWER_OF_2(log_page) || log_page < NTFS_FIXUP_STRIDE || log_page > NTFS_MAX_LOG_PAGE_SIZE)
                INVALID("restart page at %llu has page sizes %u/%u", (unsigned long long) pos,
                        sys_page, log_page);
        if (pos != 0 && pos != sys_page)
                INVALID("restart page at %llu is not at 0 or at the page size %u",
                        (unsigned long long) pos, sys_page);
        if (!((major == 1 && minor == 1) || (major == 2 && minor == 0)))
                INVALID("$LogFile version %d.%d is not 1.1 or 2.0", major, minor);
        if (pos + sys_page > log->initialized_size)
                INVALID("restart page at %llu runs past the initialized log",
                        (unsigned long long) pos);
        have_usa = !(chkd && usa_count == 0);
        if (!chkd && chkdsk_lsn != 0)
                INVALID("restart page at %llu has a chkdsk LSN but is not CHKD",
                        (unsigned long long) pos);
        if (ra_off % 8 != 0 || ra_off < (have_usa ? (uint32_t) usa_off + 2u * usa_count
                                                  : NTFS_RP_HEADER_SIZE) ||
            (uint32_t) ra_off + NTFS_RA_MIN_SIZE > NTFS_FIXUP_STRIDE - 2)
                INVALID("restart area offset %u is misplaced", ra_off);

        blk.p = malloc(sys_page);
        if (!blk.p)
                return -ENOMEM;
        blk.size = sys_page;
        /* Fixup and read failures are reasons, not errors: keep them out of
         * the caller's problem sink. */
        saved = v->problems;
        v->problems = &local;
        r = ntfs_read_block(v, &log->rl, pos, &blk, "ntfs.logfile.data", log->attr_where);
        if (r == 0 && have_usa)
                r = ntfs_fixup_apply(&blk, NTFS_FIXUP_RSTR, v->problems);
        v->problems = saved;
        if (r == -ENOMEM || (r < 0 && !vc_problems_any(&local))) {
                free(blk.p);
                return r;
        }
        if (r < 0) {
                snprintf(why, why_size, "restart page at %llu: %.96s", (unsigned long long) pos,
                         local.first.message);
                free(blk.p);
                return 0;
        }

        page = SPAN(blk.p, blk.size);
        (void) span_sub(&page, ra_off, sys_page - ra_off, &ra);
        (void) span_get_le64(&ra, NTFS_RA_OFF_CURRENT_LSN, &cur_lsn);
        (void) span_get_le16(&ra, NTFS_RA_OFF_LOG_CLIENTS, &clients);
        (void) span_get_le16(&ra, NTFS_RA_OFF_CLIENT_FREE_LIST, &free_list);
        (void) span_get_le16(&ra, NTFS_RA_OFF_CLIENT_IN_USE_LIST, &in_use);
        (void) span_get_le16(&ra, NTFS_RA_OFF_FLAGS, &flags);
        (void) span_get_le16(&ra, NTFS_RA_OFF_LENGTH, &ra_len);
        (void) span_get_le16(&ra, NTFS_RA_OFF_CLIENT_ARRAY, &ca_off);
        r = 0;
        if (ca_off % 8 != 0 || (uint64_t) ra_off + ra_len > sys_page ||
            (uint64_t) ra_off + ca_off + (uint64_t) clients * NTFS_LOG_CLIENT_RECORD_SIZE > sys_page ||
            (uint64_t) ca_off + (uint64_t) clients * NTFS_LOG_CLIENT_RECORD_SIZE > ra_len) {
                snprintf(why, why_size, "restart area at %llu+%u is out of bounds",
                         (unsigned long long) pos, ra_off);
                goto done;
        }
        if ((free_list != NTFS_LOGFILE_NO_CLIENT && free_list >= clients) ||
            (in_use != NTFS_LOGFILE_NO_CLIENT && in_use >= clients)) {
                snprintf(why, why_size, "restart area client lists overflow %u clients", clients);
                goto done;
        }
        /* Walk the in-use client list: it must end within @clients steps. */
        if (!chkd && in_use != NTFS_LOGFILE_NO_CLIENT) {
                uint16_t idx = in_use, prev = NTFS_LOGFILE_NO_CLIENT;
                unsigned steps = 0;

                while (idx != NTFS_LOGFILE_NO_CLIENT) {
                        uint64_t cr = (uint64_t) ca_off + (uint64_t) idx * NTFS_LOG_CLIENT_RECORD_SIZE;
                        uint16_t p = 0, nx = 0;

                        if (idx >= clients || steps++ >= clients ||
                            span_get_le16(&ra, cr + NTFS_LCR_OFF_PREV, &p) < 0 ||
                            span_get_le16(&ra, cr + NTFS_LCR_OFF_NEXT, &nx) < 0 ||
                            (idx == in_use && p != NTFS_LOGFILE_NO_CLIENT)) {
                                snprintf(why, why_size, "log client array is corrupt");
                                goto done;
                        }
                        prev = idx;
                        idx = nx;
                }
                (void) prev;
        }
        *ret = (struct restart) {
                .valid = true,
                .lsn = chkd ? chkdsk_lsn : cur_lsn,
                .in_use = in_use,
                .flags = flags,
                .flags_where = ntfs_block_where(&blk, (uint64_t) ra_off + NTFS_RA_OFF_FLAGS),
        };
done:
        free(blk.p);
        return r;
#undef INVALID
}

int ntfs_check_logfile(struct ntfs_volume *v, struct ntfs_state *st)
{
        struct ntfs_record *rec;
        struct ntfs_stream log = {};
        struct restart found[2] = {};
        unsigned nfound = 0;
        bool empty = true;
        uint8_t first[NTFS_FIXUP_STRIDE];
        uint64_t size, pos;
        int r;

        rec = malloc(sizeof *rec);
        if (!rec)
                return -ENOMEM;
        r = ntfs_mft_read_system(v, NTFS_REC_LOGFILE, "$LogFile", "ntfs.logfile.file_name", rec);
        if (r < 0)
                goto out;
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "", "$LogFile", NULL, &log);
        if (r == 0)
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.logfile.data",
                                   ntfs_block_where(&rec->blk, rec->attrs_offset),
                                   "$LogFile has no data");
        if (r < 0)
                goto out;
        if (log.resident || (log.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED |
                                          NTFS_ATTR_FLAG_SPARSE))) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.logfile.data",
                                   log.attr_where, "$LogFile is resident or has flags 0x%04x",
                                   log.flags);
                goto out;
        }
        r = ntfs_volume_note_used(v, &log.rl);
        if (r < 0)
                goto out;

        size = MIN(log.data_size, NTFS_MAX_LOGFILE_SCAN) & ~(uint64_t) (LOG_PAGE - 1);
        if (size < 2 * LOG_PAGE || (size - 2 * LOG_PAGE) / LOG_PAGE < LOG_MIN_RECORD_PAGES) {
                not_clean(st, "ntfs.logfile.data", log.data_size_where,
                          "$LogFile of %llu bytes is too small to judge",
                          (unsigned long long) log.data_size);
                r = 0;
                goto out;
        }

        /* Probe where a restart page can start: 0, then 512, 1 KiB, 2 KiB...
         * (the second page sits at the system page size). */
        for (pos = 0; pos < size; pos = pos ? pos * 2 : NTFS_FIXUP_STRIDE) {
                uint32_t magic;
                char why[128];
                struct restart rs;

                r = ntfs_stream_pread(v, &log, first, sizeof first, pos, "ntfs.logfile.data");
                if (r < 0)
                        goto out;
                magic = get_le32(first);
                if (magic != NTFS_MAGIC_EMPTY)
                        empty = false;
                else if (!empty)
                        break;          /* empty after non-empty: nothing further */
                if (magic == NTFS_MAGIC_RCRD)
                        break;          /* log records: no restart page beyond */
                if (magic != NTFS_MAGIC_RSTR && magic != NTFS_MAGIC_CHKD)
                        continue;
                why[0] = 0;
                r = check_restart_page(v, &log, first, pos, &rs, why, sizeof why);
                if (r < 0)
                        goto out;
                if (!rs.valid) {
                        const struct ntfs_run *run = ntfs_runlist_lookup(&log.rl, pos >> v->boot.cluster_shift);
                        not_clean(st, "ntfs.logfile.restart_page",
                                  run ? ntfs_lcn_offset(v, run->lcn) +
                                                (pos - (run->vcn << v->boot.cluster_shift))
                                      : log.attr_where,
                                  "cannot tell whether $LogFile is clean: %s", why);
                        r = 0;
                        goto out;
                }
                found[nfound++] = rs;
                if (nfound == 2)
                        break;
        }

        if (nfound == 0) {
                if (!empty)
                        not_clean(st, "ntfs.logfile.restart_page", log.attr_where,
                                  "$LogFile is not empty but has no restart page");
                r = 0;          /* never written: clean */
                goto out;
        }
        {
                const struct restart *cur = &found[0];

                if (nfound == 2 && found[1].lsn > found[0].lsn)
                        cur = &found[1];
                if (cur->in_use != NTFS_LOGFILE_NO_CLIENT && !(cur->flags & NTFS_RESTART_VOLUME_IS_CLEAN))
                        not_clean(st, "ntfs.logfile.restart_area.flags", cur->flags_where,
                                  "$LogFile was not closed cleanly (restart area flags 0x%04x, "
                                  "client in use): boot Windows and shut it down", cur->flags);
        }
        r = 0;
out:
        ntfs_stream_done(&log);
        free(rec);
        return r;
}

/* ---- hiberfil.sys -------------------------------------------------------- */

/*
 * Looks hiberfil.sys up in the root directory @root and reads its first
 * bytes.  Every failure is returned with a problem in v->problems (which the
 * caller points at a private sink): it means "cannot tell".
 */
static int hiberfil_signature(struct ntfs_volume *v, struct ntfs_record *root,
                              struct ntfs_state *st)
{
        const struct ntfs_run *run;
        struct ntfs_stream data = {};
        struct ntfs_record *rec = root;         /* reused for hiberfil.sys's record */
        uint64_t mref = 0, recno;
        uint8_t sig[4];
        int r;

        r = ntfs_index_lookup(v, root, "hiberfil.sys", &mref);
        if (r <= 0)
                return r;               /* 0: no hiberfil.sys */
        recno = NTFS_MREF_RECORD(mref);
        r = ntfs_mft_read(v, recno, rec);
        if (r < 0)
                return r;
        if (!(rec->flags & NTFS_MFT_FLAG_IN_USE) || rec->base_ref != 0 ||
            rec->seq != NTFS_MREF_SEQ(mref) || recno < NTFS_REC_FIRST_USER)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                      "ntfs.mft.sequence", ntfs_block_where(&rec->blk, 0),
                                      "the root index names record %llu/%u for hiberfil.sys, "
                                      "which does not match it", (unsigned long long) recno,
                                      NTFS_MREF_SEQ(mref));
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "", "hiberfil.sys", NULL, &data);
        if (r <= 0)
                return r;               /* 0: no data, not hibernated */
        if (data.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED)) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                   "ntfs.hiberfil.data", data.attr_where,
                                   "hiberfil.sys is compressed or encrypted (flags 0x%04x)",
                                   data.flags);
                goto out;
        }
        r = 0;
        if (data.data_size < sizeof sig)
                goto out;
        r = ntfs_stream_pread(v, &data, sig, sizeof sig, 0, "ntfs.hiberfil.data");
        if (r < 0)
                goto out;
        if (memcmp(sig, "hibr", 4) == 0 || memcmp(sig, "HIBR", 4) == 0) {
                run = data.resident ? NULL : ntfs_runlist_lookup(&data.rl, 0);
                not_clean(st, "ntfs.hiberfil.signature",
                          run && run->lcn != NTFS_LCN_HOLE ? ntfs_lcn_offset(v, run->lcn)
                                                           : data.attr_where,
                          "Windows is hibernated or used fast startup (hiberfil.sys starts "
                          "with '%.4s'): boot it and shut down fully", (const char *) sig);
        }
out:
        ntfs_stream_done(&data);
        return r;
}

int ntfs_check_hiberfil(struct ntfs_volume *v, struct ntfs_state *st)
{
        struct ntfs_record *rec;
        struct vc_problems local = {};
        struct vc_problems *saved;
        uint64_t where;
        int r;

        rec = malloc(sizeof *rec);
        if (!rec)
                return -ENOMEM;
        r = ntfs_mft_read_system(v, NTFS_REC_ROOT, ".", "ntfs.root.file_name", rec);
        if (r < 0)
                goto out;
        where = ntfs_block_where(&rec->blk, rec->attrs_offset);
        if (!(rec->flags & NTFS_MFT_FLAG_DIRECTORY)) {
                r = vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.mft.flags",
                                   ntfs_block_where(&rec->blk, NTFS_MFT_OFF_FLAGS),
                                   "root directory record 5 is not a directory");
                goto out;
        }

        /* From here on a failure means "cannot tell": a reason, not an error. */
        saved = v->problems;
        v->problems = &local;
        r = hiberfil_signature(v, rec, st);
        v->problems = saved;
        if (r < 0 && r != -ENOMEM) {
                not_clean(st, local.n ? local.first.field : "ntfs.root.index",
                          local.n ? local.first.offset : where,
                          "cannot tell whether Windows is hibernated: %s",
                          local.n ? local.first.message : "hiberfil.sys cannot be read");
                r = 0;
        }
out:
        free(rec);
        return r;
}
