/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The MBR partition table and the EBR chain of its extended partition.
 *
 * Partitions are numbered as Linux does: primaries by slot (1-4, the
 * extended container keeps its number but is not listed), logicals 5, 6, ...
 * in chain order, one per EBR that holds a data entry.  In an EBR the data
 * entry's start is relative to that EBR, the link's start to the start of
 * the outermost extended partition.
 *
 * Validation is strict because a listed partition is a region whose file
 * system may declare space free: every entry must have a valid boot
 * indicator, start after LBA 0 and end inside the disk; primaries and the
 * extended container must not overlap; every EBR and logical must lie
 * inside the extended container, logicals must not overlap each other or
 * any EBR; the chain is followed at most MBR_MAX_LOGICALS links and never
 * visits an EBR twice.  Anything else is refused rather than guessed.
 * Missing partitions are harmless (the caller keeps whatever lies outside
 * the listed ones), which is why an extended partition whose first EBR has
 * no 0x55AA is simply empty, as for Linux.
 */
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "../util/span.h"
#include "partition-internal.h"

struct mbr_entry {
        uint8_t status, type;
        uint32_t start, sectors;
        uint64_t off;           /* byte offset of the entry on the disk */
};

/* Entry i of the 512-byte table sector @s read from disk byte offset @at. */
static int entry_get(const struct span *s, uint64_t at, unsigned i, struct mbr_entry *ret)
{
        struct span e;
        struct mbr_entry d = {};

        if (span_sub(s, MBR_OFF_ENTRIES + (uint64_t) i * MBR_ENTRY_SIZE, MBR_ENTRY_SIZE, &e) < 0 ||
            span_get_u8(&e, MBR_ENTRY_OFF_STATUS, &d.status) < 0 ||
            span_get_u8(&e, MBR_ENTRY_OFF_TYPE, &d.type) < 0 ||
            span_get_le32(&e, MBR_ENTRY_OFF_START, &d.start) < 0 ||
            span_get_le32(&e, MBR_ENTRY_OFF_SECTORS, &d.sectors) < 0)
                return -EBADMSG;
        d.off = at + MBR_OFF_ENTRIES + (uint64_t) i * MBR_ENTRY_SIZE;
        *ret = d;
        return 0;
}

static bool entry_empty(const struct mbr_entry *e)
{
        /* Linux skips entries of size 0 whatever their type; the type byte 0
         * marks a deleted entry whatever its other fields say. */
        return e->type == MBR_TYPE_EMPTY || e->sectors == 0;
}

static bool has_signature(const struct span *s)
{
        uint16_t sig;
        return span_get_le16(s, MBR_OFF_SIGNATURE, &sig) >= 0 && sig == 0xAA55u;
}

static int check_status(const struct mbr_entry *e, const char *field, const char *where,
                        unsigned i, struct vc_problems *problems)
{
        if (e->status == 0x00 || e->status == 0x80)
                return 0;
        return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, field,
                              e->off + MBR_ENTRY_OFF_STATUS,
                              "%s entry %u has boot indicator 0x%02x, not 0x00 or 0x80: "
                              "not a partition table", where, i + 1, e->status);
}

static void fill(struct vc_partition *p, unsigned number, uint64_t start_lba, uint32_t sectors,
                 uint8_t type, uint32_t sector_size)
{
        *p = (struct vc_partition) {
                .number = number,
                /* start_lba < 2^33 and sector_size <= 2^16: no overflow. */
                .start = start_lba * sector_size,
                .size = (uint64_t) sectors * sector_size,
                .mbr_type = type,
        };
        mbr_type_name(type, p->type_name);
}

struct ext_ctx {
        struct vc_source *src;
        uint32_t sector_size;
        uint64_t start, end;            /* the extended container, in sectors */
        uint64_t ebrs[MBR_MAX_LOGICALS];
        size_t n_ebrs;
        struct part_list logicals;
};

static int ebr_read(struct ext_ctx *x, uint64_t ebr, const struct mbr_entry *link,
                    uint8_t buf[MBR_SIZE], bool *ret_signed, struct vc_problems *problems)
{
        uint64_t at;

        /* The link (or, for the first EBR, the MBR's extended entry) is what
         * put us here: problems with the target are blamed on its start. */
        for (size_t i = 0; i < x->n_ebrs; i++)
                if (x->ebrs[i] == ebr)
                        return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, "ebr.link",
                                              link->off + MBR_ENTRY_OFF_START,
                                              "EBR chain loops back to the EBR at LBA %llu",
                                              (unsigned long long) ebr);
        if (x->n_ebrs == MBR_MAX_LOGICALS)
                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, "ebr.link",
                                      link->off + MBR_ENTRY_OFF_START,
                                      "EBR chain longer than %u links", MBR_MAX_LOGICALS);
        if (ebr < x->start || ebr >= x->end)
                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, "ebr.link",
                                      link->off + MBR_ENTRY_OFF_START,
                                      "EBR at LBA %llu is outside the extended partition "
                                      "(LBA %llu to %llu)", (unsigned long long) ebr,
                                      (unsigned long long) x->start,
                                      (unsigned long long) x->end - 1);
        x->ebrs[x->n_ebrs++] = ebr;

        at = ebr * x->sector_size;
        int r = part_pread(x->src, buf, MBR_SIZE, at, "ebr", problems);
        if (r < 0)
                return r;
        *ret_signed = has_signature(&SPAN(buf, MBR_SIZE));
        return 0;
}

static int parse_extended(struct ext_ctx *x, const struct mbr_entry *ext, struct vc_problems *problems)
{
        uint8_t buf[MBR_SIZE];
        struct mbr_entry link = *ext;
        uint64_t ebr = x->start;
        unsigned number = 5;
        int r;

        for (;;) {
                struct mbr_entry data = {}, next = {};
                bool have_data = false, have_next = false, is_signed = false;
                uint64_t at = ebr * x->sector_size;

                r = ebr_read(x, ebr, &link, buf, &is_signed, problems);
                if (r < 0)
                        return r;
                if (!is_signed) {
                        if (x->n_ebrs == 1)
                                return 0;       /* an empty extended partition */
                        return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                              "ebr.boot_signature", at + MBR_OFF_SIGNATURE,
                                              "EBR at LBA %llu has no 0x55AA signature",
                                              (unsigned long long) ebr);
                }

                for (unsigned i = 0; i < MBR_NUM_ENTRIES; i++) {
                        struct mbr_entry e;

                        r = entry_get(&SPAN(buf, MBR_SIZE), at, i, &e);
                        if (r < 0)
                                return r;
                        r = check_status(&e, "ebr.entry.status", "EBR", i, problems);
                        if (r < 0)
                                return r;
                        if (entry_empty(&e))
                                continue;
                        if (MBR_TYPE_IS_EXTENDED(e.type) ? have_next : have_data)
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "ebr.entry.type", e.off + MBR_ENTRY_OFF_TYPE,
                                                      "EBR at LBA %llu has more than one %s entry",
                                                      (unsigned long long) ebr,
                                                      MBR_TYPE_IS_EXTENDED(e.type) ? "link" : "data");
                        if (MBR_TYPE_IS_EXTENDED(e.type)) {
                                next = e;
                                have_next = true;
                        } else {
                                data = e;
                                have_data = true;
                        }
                }

                if (have_data) {
                        /* ebr < 2^33, start and sectors < 2^32: no overflow. */
                        uint64_t start = ebr + data.start, end = start + data.sectors;
                        struct vc_partition p;

                        if (data.start == 0)
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "ebr.entry.start_lba", data.off + MBR_ENTRY_OFF_START,
                                                      "logical partition %u starts on its own EBR "
                                                      "(LBA %llu)", number, (unsigned long long) ebr);
                        if (end > x->end)
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "ebr.entry.sectors", data.off + MBR_ENTRY_OFF_SECTORS,
                                                      "logical partition %u (LBA %llu to %llu) is "
                                                      "outside the extended partition (LBA %llu to %llu)",
                                                      number, (unsigned long long) start,
                                                      (unsigned long long) end - 1,
                                                      (unsigned long long) x->start,
                                                      (unsigned long long) x->end - 1);
                        fill(&p, number++, start, data.sectors, data.type, x->sector_size);
                        r = part_list_add(&x->logicals, &p);
                        if (r < 0)
                                return r;
                }

                if (!have_next)
                        return 0;
                link = next;
                ebr = x->start + next.start;
        }
}

/* Logicals must not overlap one another nor any EBR of the chain. */
static int check_logicals(struct ext_ctx *x, struct vc_problems *problems)
{
        size_t i = part_list_sort_find_overlap(&x->logicals);

        if (i != 0)
                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, "ebr.entry.start_lba",
                                      x->start * x->sector_size,
                                      "logical partition %u overlaps logical partition %u",
                                      x->logicals.v[i].number, x->logicals.v[i - 1].number);
        for (size_t e = 0; e < x->n_ebrs; e++) {
                uint64_t at = x->ebrs[e] * x->sector_size;
                for (size_t k = 0; k < x->logicals.n; k++)
                        if (ranges_overlap(at, x->sector_size, x->logicals.v[k].start,
                                           x->logicals.v[k].size))
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "ebr.link", at,
                                                      "the EBR at LBA %llu lies inside logical "
                                                      "partition %u",
                                                      (unsigned long long) x->ebrs[e],
                                                      x->logicals.v[k].number);
        }
        return 0;
}

int mbr_read(struct vc_source *src, uint32_t sector_size, const uint8_t mbr[MBR_SIZE],
             struct part_list *out, struct vc_problems *problems)
{
        const struct span s = SPAN(mbr, MBR_SIZE);
        uint64_t disk_sectors = src->size / sector_size;
        struct mbr_entry e[MBR_NUM_ENTRIES];
        _cleanup_(part_list_done) struct part_list prim = {};
        _cleanup_free_ struct ext_ctx *x = NULL;
        const struct mbr_entry *ext = NULL;
        int r;

        for (unsigned i = 0; i < MBR_NUM_ENTRIES; i++) {
                r = entry_get(&s, 0, i, &e[i]);
                if (r < 0)
                        return r;
                r = check_status(&e[i], "mbr.entry.status", "MBR", i, problems);
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < MBR_NUM_ENTRIES; i++) {
                uint64_t end = (uint64_t) e[i].start + e[i].sectors;

                if (entry_empty(&e[i]))
                        continue;
                if (e[i].start == 0)
                        return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                              "mbr.entry.start_lba", e[i].off + MBR_ENTRY_OFF_START,
                                              "partition %u starts at LBA 0, on the MBR itself", i + 1);
                if (end > disk_sectors)
                        return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                              "mbr.entry.sectors", e[i].off + MBR_ENTRY_OFF_SECTORS,
                                              "partition %u (LBA %u to %llu) ends past the end of "
                                              "the disk (%llu sectors)", i + 1, e[i].start,
                                              (unsigned long long) end - 1,
                                              (unsigned long long) disk_sectors);
                for (unsigned j = 0; j < i; j++)
                        if (!entry_empty(&e[j]) &&
                            ranges_overlap(e[i].start, e[i].sectors, e[j].start, e[j].sectors))
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "mbr.entry.start_lba", e[i].off + MBR_ENTRY_OFF_START,
                                                      "partition %u overlaps partition %u", i + 1, j + 1);

                if (MBR_TYPE_IS_EXTENDED(e[i].type)) {
                        if (ext)
                                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                                      "mbr.entry.type", e[i].off + MBR_ENTRY_OFF_TYPE,
                                                      "partitions %u and %u are both extended "
                                                      "partitions", (unsigned) (ext - e) + 1, i + 1);
                        ext = &e[i];
                        continue;
                }

                struct vc_partition p;
                fill(&p, i + 1, e[i].start, e[i].sectors, e[i].type, sector_size);
                r = part_list_add(&prim, &p);
                if (r < 0)
                        return r;
        }

        if (ext) {
                x = calloc(1, sizeof *x);
                if (!x)
                        return -ENOMEM;
                x->src = src;
                x->sector_size = sector_size;
                x->start = ext->start;
                x->end = (uint64_t) ext->start + ext->sectors;
                r = parse_extended(x, ext, problems);
                if (r >= 0)
                        r = check_logicals(x, problems);
                if (r < 0) {
                        part_list_done(&x->logicals);
                        return r;
                }
        }

        /* On failure *out may hold some of the entries: the caller drops it. */
        r = 0;
        for (size_t i = 0; r >= 0 && i < prim.n; i++)
                r = part_list_add(out, &prim.v[i]);
        for (size_t i = 0; r >= 0 && x && i < x->logicals.n; i++)
                r = part_list_add(out, &x->logicals.v[i]);
        if (x)
                part_list_done(&x->logicals);
        return r;
}
