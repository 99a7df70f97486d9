/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The GUID partition table: header at LBA 1, backup header at the last LBA.
 *
 * A header is used only when everything about it holds: signature,
 * revision 1.0, a header size between 92 and one sector, its CRC32 (over
 * header-size bytes with the CRC field zeroed), MyLBA equal to where it was
 * read, FirstUsable <= LastUsable < disk sectors with neither the header,
 * LBA 0 nor the entry array inside the usable range, an entry size that is
 * a multiple of 128, an array of at most GPT_MAX_ENTRY_BYTES inside the
 * disk, and the array's CRC32.  Then every used entry (non-zero type GUID)
 * must lie inside the usable range with start <= end (inclusive), and no
 * two may overlap.  The metadata checks matter as much as the CRCs: a
 * partition that covered the entry array would let a file system declare
 * the table itself free.
 *
 * If the primary fails, the backup at the last LBA is tried on its own
 * terms and, when good, used (Linux and libfdisk do the same).  The
 * primary's problem is reported only when the backup fails too, so that
 * the caller's error names the structure a repair tool would start from.
 * Entries larger than 128 bytes are allowed; only their first 128 bytes
 * mean anything to us.
 */
#include <stdlib.h>
#include <string.h>

#include "../util/crc32.h"
#include "../util/macro.h"
#include "../util/overflow.h"
#include "../util/span.h"
#include "../util/utf16.h"
#include "partition-internal.h"

struct gpt_header {
        uint64_t lba;                   /* where it was read = MyLBA */
        uint64_t first_usable, last_usable, entry_lba;
        uint32_t num_entries, entry_size, entries_crc;
        uint64_t array_bytes, array_sectors;
};

#define BAD(field, off, ...) \
        vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, field, off, __VA_ARGS__)

static int header_read(struct vc_source *src, uint32_t ss, uint64_t lba, struct gpt_header *ret,
                       struct vc_problems *problems)
{
        const uint64_t disk_sectors = src->size / ss;
        const uint64_t at = lba * ss;   /* lba < disk_sectors: no overflow */
        const char *which = lba == 1 ? "primary" : "backup";
        _cleanup_free_ uint8_t *buf = NULL;
        struct gpt_header h = { .lba = lba };
        uint32_t revision, header_size, crc, want;
        uint64_t my_lba, alternate;
        struct span s;
        int r;

        buf = malloc(ss);
        if (!buf)
                return -ENOMEM;
        r = part_pread(src, buf, ss, at, "gpt", problems);
        if (r < 0)
                return r;
        s = SPAN(buf, ss);

        if (span_check(&s, GPT_HDR_OFF_SIGNATURE, 8) < 0 ||
            memcmp(buf + GPT_HDR_OFF_SIGNATURE, GPT_SIGNATURE, 8) != 0)
                return BAD("gpt.signature", at + GPT_HDR_OFF_SIGNATURE,
                           "no %s GPT header at LBA %llu: signature is not 'EFI PART'",
                           which, (unsigned long long) lba);
        if (span_get_le32(&s, GPT_HDR_OFF_REVISION, &revision) < 0 ||
            span_get_le32(&s, GPT_HDR_OFF_HEADER_SIZE, &header_size) < 0 ||
            span_get_le32(&s, GPT_HDR_OFF_HEADER_CRC, &crc) < 0)
                return -EBADMSG;
        if (revision != GPT_REVISION_1_0)
                return BAD("gpt.revision", at + GPT_HDR_OFF_REVISION,
                           "%s GPT header revision is 0x%08x, not 0x%08x",
                           which, revision, GPT_REVISION_1_0);
        if (header_size < GPT_HEADER_MIN_SIZE || header_size > ss)
                return BAD("gpt.header_size", at + GPT_HDR_OFF_HEADER_SIZE,
                           "%s GPT header size is %u, not between %u and the sector size %u",
                           which, header_size, GPT_HEADER_MIN_SIZE, ss);

        /* The CRC covers header_size bytes with its own field zeroed; the
         * buffer is ours, so zero it in place (the field was read above). */
        put_le32(buf + GPT_HDR_OFF_HEADER_CRC, 0);
        want = crc32_ieee(0, buf, header_size);
        if (crc != want)
                return BAD("gpt.header_crc32", at + GPT_HDR_OFF_HEADER_CRC,
                           "%s GPT header CRC32 is 0x%08x, the header's is 0x%08x",
                           which, crc, want);

        if (span_get_le64(&s, GPT_HDR_OFF_MY_LBA, &my_lba) < 0 ||
            span_get_le64(&s, GPT_HDR_OFF_ALTERNATE_LBA, &alternate) < 0 ||
            span_get_le64(&s, GPT_HDR_OFF_FIRST_USABLE, &h.first_usable) < 0 ||
            span_get_le64(&s, GPT_HDR_OFF_LAST_USABLE, &h.last_usable) < 0 ||
            span_get_le64(&s, GPT_HDR_OFF_ENTRY_LBA, &h.entry_lba) < 0 ||
            span_get_le32(&s, GPT_HDR_OFF_NUM_ENTRIES, &h.num_entries) < 0 ||
            span_get_le32(&s, GPT_HDR_OFF_ENTRY_SIZE, &h.entry_size) < 0 ||
            span_get_le32(&s, GPT_HDR_OFF_ENTRIES_CRC, &h.entries_crc) < 0)
                return -EBADMSG;

        if (my_lba != lba)
                return BAD("gpt.my_lba", at + GPT_HDR_OFF_MY_LBA,
                           "%s GPT header at LBA %llu says it is at LBA %llu",
                           which, (unsigned long long) lba, (unsigned long long) my_lba);
        if (h.first_usable == 0 || h.first_usable > h.last_usable)
                return BAD("gpt.first_usable_lba", at + GPT_HDR_OFF_FIRST_USABLE,
                           "%s GPT usable LBAs %llu to %llu are not a range after LBA 0",
                           which, (unsigned long long) h.first_usable,
                           (unsigned long long) h.last_usable);
        if (h.last_usable >= disk_sectors)
                return BAD("gpt.last_usable_lba", at + GPT_HDR_OFF_LAST_USABLE,
                           "%s GPT last usable LBA %llu is past the end of the disk (%llu sectors)",
                           which, (unsigned long long) h.last_usable,
                           (unsigned long long) disk_sectors);
        if (lba >= h.first_usable && lba <= h.last_usable)
                return BAD("gpt.first_usable_lba", at + GPT_HDR_OFF_FIRST_USABLE,
                           "%s GPT header at LBA %llu is inside its usable LBAs %llu to %llu",
                           which, (unsigned long long) lba, (unsigned long long) h.first_usable,
                           (unsigned long long) h.last_usable);
        if (alternate == lba || (alternate >= h.first_usable && alternate <= h.last_usable))
                return BAD("gpt.alternate_lba", at + GPT_HDR_OFF_ALTERNATE_LBA,
                           "%s GPT alternate header LBA %llu is this header or inside the "
                           "usable LBAs", which, (unsigned long long) alternate);

        if (h.entry_size < GPT_ENTRY_MIN_SIZE || h.entry_size % GPT_ENTRY_MIN_SIZE != 0)
                return BAD("gpt.entry_size", at + GPT_HDR_OFF_ENTRY_SIZE,
                           "%s GPT entry size %u is not a multiple of %u",
                           which, h.entry_size, GPT_ENTRY_MIN_SIZE);
        if (MUL_OVERFLOW((uint64_t) h.num_entries, (uint64_t) h.entry_size, &h.array_bytes) ||
            h.array_bytes > GPT_MAX_ENTRY_BYTES)
                return BAD("gpt.num_entries", at + GPT_HDR_OFF_NUM_ENTRIES,
                           "%s GPT entry array of %u entries of %u bytes exceeds %u bytes",
                           which, h.num_entries, h.entry_size, GPT_MAX_ENTRY_BYTES);
        h.array_sectors = DIV_ROUND_UP(h.array_bytes, ss);
        if (h.array_sectors > 0 &&
            (h.entry_lba == 0 || range_outside(h.entry_lba, h.array_sectors, disk_sectors) ||
             ranges_overlap(h.entry_lba, h.array_sectors, lba, 1) ||
             ranges_overlap(h.entry_lba, h.array_sectors, h.first_usable,
                            h.last_usable - h.first_usable + 1)))
                return BAD("gpt.partition_entry_lba", at + GPT_HDR_OFF_ENTRY_LBA,
                           "%s GPT entry array at LBA %llu (%llu sectors) is outside the disk "
                           "or overlaps LBA 0, the header or the usable LBAs",
                           which, (unsigned long long) h.entry_lba,
                           (unsigned long long) h.array_sectors);

        *ret = h;
        return 0;
}

/* The name of an entry in UTF-8, cut at a character boundary to fit. */
static void entry_name(const struct span *e, char out[80])
{
        char buf[GPT_ENTRY_NAME_SIZE / 2 * 3 + 1];   /* 3 UTF-8 bytes per unit at most */
        size_t len;

        out[0] = '\0';
        if (span_check(e, GPT_ENTRY_OFF_NAME, GPT_ENTRY_NAME_SIZE) < 0 ||
            utf16_to_utf8(e->p + GPT_ENTRY_OFF_NAME, GPT_ENTRY_NAME_SIZE, false, buf, sizeof buf) < 0)
                return;
        len = strlen(buf);
        if (len > 79) {
                len = 79;
                while (len > 0 && ((uint8_t) buf[len] & 0xC0) == 0x80)
                        len--;
        }
        memcpy(out, buf, len);
        out[len] = '\0';
}

static bool guid_is_zero(const uint8_t g[16])
{
        static const uint8_t zero[16];
        return memcmp(g, zero, 16) == 0;
}

static int entries_read(struct vc_source *src, uint32_t ss, const struct gpt_header *h,
                        struct part_list *out, struct vc_problems *problems)
{
        const uint64_t hdr_at = h->lba * ss;
        const uint64_t array_at = h->entry_lba * ss;    /* inside the disk: no overflow */
        const char *which = h->lba == 1 ? "primary" : "backup";
        _cleanup_(part_list_done) struct part_list list = {};
        _cleanup_free_ uint8_t *buf = NULL;
        struct span array;
        uint32_t crc;
        size_t i;
        int r;

        /* array_bytes <= GPT_MAX_ENTRY_BYTES, checked by header_read(). */
        buf = malloc(MAX(h->array_bytes, (uint64_t) 1));
        if (!buf)
                return -ENOMEM;
        r = part_pread(src, buf, h->array_bytes, array_at, "gpt.entries", problems);
        if (r < 0)
                return r;
        array = SPAN(buf, h->array_bytes);

        crc = crc32_ieee(0, buf, h->array_bytes);
        if (crc != h->entries_crc)
                return BAD("gpt.entries_crc32", hdr_at + GPT_HDR_OFF_ENTRIES_CRC,
                           "%s GPT entry array CRC32 is 0x%08x, the array's is 0x%08x",
                           which, h->entries_crc, crc);

        for (uint32_t k = 0; k < h->num_entries; k++) {
                const uint64_t e_at = array_at + (uint64_t) k * h->entry_size;
                struct vc_partition p = { .number = k + 1 };
                uint64_t start, end;
                struct span e;

                if (span_sub(&array, (uint64_t) k * h->entry_size, GPT_ENTRY_MIN_SIZE, &e) < 0 ||
                    span_check(&e, GPT_ENTRY_OFF_TYPE, 16) < 0 ||
                    span_get_le64(&e, GPT_ENTRY_OFF_START, &start) < 0 ||
                    span_get_le64(&e, GPT_ENTRY_OFF_END, &end) < 0)
                        return -EBADMSG;
                if (guid_is_zero(e.p + GPT_ENTRY_OFF_TYPE))
                        continue;
                if (start > end)
                        return BAD("gpt.entry.ending_lba", e_at + GPT_ENTRY_OFF_END,
                                   "%s GPT entry %u ends at LBA %llu, before its start %llu",
                                   which, k + 1, (unsigned long long) end,
                                   (unsigned long long) start);
                if (start < h->first_usable || end > h->last_usable)
                        return BAD(start < h->first_usable ? "gpt.entry.starting_lba" : "gpt.entry.ending_lba",
                                   e_at + (start < h->first_usable ? GPT_ENTRY_OFF_START : GPT_ENTRY_OFF_END),
                                   "%s GPT entry %u (LBA %llu to %llu) is outside the usable LBAs "
                                   "%llu to %llu", which, k + 1, (unsigned long long) start,
                                   (unsigned long long) end, (unsigned long long) h->first_usable,
                                   (unsigned long long) h->last_usable);

                /* end <= last_usable < disk sectors: the byte values fit. */
                p.start = start * ss;
                p.size = (end - start + 1) * ss;
                memcpy(p.gpt_type, e.p + GPT_ENTRY_OFF_TYPE, 16);
                gpt_type_name(p.gpt_type, p.type_name);
                entry_name(&e, p.name);
                r = part_list_add(&list, &p);
                if (r < 0)
                        return r;
        }

        i = part_list_sort_find_overlap(&list);
        if (i != 0)
                return BAD("gpt.entry.starting_lba",
                           array_at + (uint64_t) (list.v[i].number - 1) * h->entry_size + GPT_ENTRY_OFF_START,
                           "%s GPT entry %u (LBA %llu) overlaps entry %u", which, list.v[i].number,
                           (unsigned long long) (list.v[i].start / ss), list.v[i - 1].number);

        for (i = 0; i < list.n; i++) {
                r = part_list_add(out, &list.v[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int try_header(struct vc_source *src, uint32_t ss, uint64_t lba, struct part_list *out,
                      struct vc_problems *problems)
{
        struct gpt_header h;
        int r;

        r = header_read(src, ss, lba, &h, problems);
        if (r < 0)
                return r;
        return entries_read(src, ss, &h, out, problems);
}

static void forward(struct vc_problems *problems, const struct vc_problems *from)
{
        if (from->n > 0)
                vc_problem_add(problems, from->first.id, from->first.error, from->first.field,
                               from->first.offset, "%s", from->first.message);
}

int gpt_read(struct vc_source *src, uint32_t sector_size, struct part_list *out,
             bool *ret_used_backup, struct vc_problem *ret_primary_problem,
             struct vc_problems *problems)
{
        const uint64_t disk_sectors = src->size / sector_size;
        _cleanup_(part_list_done) struct part_list list = {};
        struct vc_problems primary = {}, backup = {};
        bool used_backup = false;
        int r, rb;

        if (disk_sectors < 3)
                return BAD("gpt.signature", sector_size,
                           "protective MBR on a disk of %llu sectors, too small for a GPT",
                           (unsigned long long) disk_sectors);

        r = try_header(src, sector_size, 1, &list, &primary);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                part_list_done(&list);
                rb = try_header(src, sector_size, disk_sectors - 1, &list, &backup);
                if (rb == -ENOMEM)
                        return rb;
                if (rb < 0) {
                        forward(problems, &primary);
                        if (problems && problems->collect)
                                forward(problems, &backup);
                        return r;
                }
                used_backup = true;
        }

        for (size_t i = 0; i < list.n; i++) {
                r = part_list_add(out, &list.v[i]);
                if (r < 0)
                        return r;
        }
        *ret_used_backup = used_backup;
        if (used_backup && ret_primary_problem)
                *ret_primary_problem = primary.first;
        return 0;
}
