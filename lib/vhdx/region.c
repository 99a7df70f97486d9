/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The region table, at 192 KiB and its copy at 256 KiB: each is valid
 * when its signature "regi" and CRC-32C over 64 KiB are right and its
 * counts are in range.  Copy 1 is read when valid, else copy 2; two valid
 * copies that differ are noted (`check` lists it; 7-Zip refuses such a
 * file).  Of the entries: exactly one BAT and one metadata region, each
 * GUID once, every region on MiB boundaries past the header section and
 * inside the file; an unknown region marked required is refused (we
 * cannot know what it means), an unknown optional one is kept as occupied
 * space.  The Required bit is never demanded of the known regions: qemu
 * writes 0 there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/overflow.h"
#include "vhdx.h"

static const uint8_t guid_bat[16] = VHDX_GUID_BAT;
static const uint8_t guid_meta[16] = VHDX_GUID_METADATA;

const char *vhdx_region_name(const uint8_t guid[16])
{
        if (!memcmp(guid, guid_bat, 16))
                return "BAT";
        if (!memcmp(guid, guid_meta, 16))
                return "metadata";
        return NULL;
}

void vhdx_regions_done(struct vhdx_regions *r)
{
        free(r->v);
        r->v = NULL;
}

static uint64_t table_offset(int copy) { return copy ? VHDX_REGION2_OFFSET : VHDX_REGION1_OFFSET; }

/* One copy's header: 0, or a negative errno with *why. */
static int table_check(const uint8_t *t, int copy, struct vc_problem *why)
{
        static const char *const fields[2][4] = {
                { "region_table1.signature", "region_table1.checksum", "region_table1.entry_count",
                  "region_table1.reserved" },
                { "region_table2.signature", "region_table2.checksum", "region_table2.entry_count",
                  "region_table2.reserved" },
        };
        struct vc_problems q = { .collect = false };
        const uint64_t at = table_offset(copy);
        uint32_t sum, crc, count;
        int r = 0;

        if (memcmp(t, VHDX_REGION_SIGNATURE, 4))
                r = vc_problem_add(&q, VC_PROBLEM_BAD_COOKIE, -EBADMSG, fields[copy][0], at,
                                   "region table %d has no signature \"regi\"", copy + 1);
        if (!r) {
                /* The CRC with the checksum field taken as zeros, in three pieces. */
                static const uint8_t zero[4];
                crc = crc32c(0, t, VHDX_REGION_OFF_CHECKSUM);
                crc = crc32c(crc, zero, 4);
                crc = crc32c(crc, t + VHDX_REGION_OFF_CHECKSUM + 4, VHDX_REGION_SIZE - VHDX_REGION_OFF_CHECKSUM - 4);
                sum = get_le32(t + VHDX_REGION_OFF_CHECKSUM);
                if (sum != crc)
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_CHECKSUM, -EBADMSG, fields[copy][1],
                                           at + VHDX_REGION_OFF_CHECKSUM,
                                           "region table %d checksum is 0x%08" PRIx32 ", its CRC-32C is 0x%08" PRIx32,
                                           copy + 1, sum, crc);
        }
        if (!r) {
                count = get_le32(t + VHDX_REGION_OFF_COUNT);
                if (count > VHDX_REGION_MAX_ENTRIES)
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_REGION_TABLE, -EBADMSG, fields[copy][2],
                                           at + VHDX_REGION_OFF_COUNT,
                                           "region table %d has %" PRIu32 " entries (at most %u)", copy + 1,
                                           count, VHDX_REGION_MAX_ENTRIES);
                else if (get_le32(t + VHDX_REGION_OFF_RESERVED))
                        r = vc_problem_add(&q, VC_PROBLEM_BAD_REGION_TABLE, -EBADMSG, fields[copy][3],
                                           at + VHDX_REGION_OFF_RESERVED,
                                           "region table %d has reserved field 0x%08" PRIx32 " set", copy + 1,
                                           get_le32(t + VHDX_REGION_OFF_RESERVED));
        }
        if (r < 0)
                *why = q.first;
        return r;
}

int vhdx_regions_parse(const uint8_t *sec, uint64_t file_size, struct vhdx_report *rep, struct vhdx_regions *ret)
{
        struct vhdx_regions rs = { .bat = -1, .meta = -1 };
        int r;

        for (int c = 0; c < 2; c++) {
                r = table_check(sec + table_offset(c), c, &rs.why[c]);
                if (r == -ENOMEM)
                        return r;
                rs.valid[c] = r == 0;
        }
        if (!rs.valid[0] && !rs.valid[1]) {
                for (int c = 0; c < 2; c++) {
                        const struct vc_problem *w = &rs.why[c];
                        r = vhdx_report(rep, w->id, w->error, w->field, w->offset, "%s; %s", w->message,
                                        c ? "region table 1 is invalid too" : "and region table 2 is invalid too");
                        if (r < 0)
                                return r;
                }
                return rep->err;
        }
        for (int c = 0; c < 2; c++)
                if (!rs.valid[c] && vhdx_collecting(rep))
                        vc_problem_add(rep->ps, rs.why[c].id, rs.why[c].error, rs.why[c].field, rs.why[c].offset,
                                       "%s (region table %d is used)", rs.why[c].message, 2 - c);
        rs.used = rs.valid[0] ? 0 : 1;
        rs.copies_differ = rs.valid[0] && rs.valid[1] &&
                           memcmp(sec + VHDX_REGION1_OFFSET, sec + VHDX_REGION2_OFFSET, VHDX_REGION_SIZE);
        if (rs.copies_differ && vhdx_collecting(rep))
                vc_problem_add(rep->ps, VC_PROBLEM_BAD_REGION_TABLE, -EBADMSG, "region_table2", VHDX_REGION2_OFFSET,
                               "the two region tables are both valid but differ (table 1 is used)");

        const uint8_t *t = sec + table_offset(rs.used);
        const uint64_t at = table_offset(rs.used);
        rs.n = get_le32(t + VHDX_REGION_OFF_COUNT);
        rs.v = calloc(rs.n ? rs.n : 1, sizeof *rs.v);
        if (!rs.v)
                return -ENOMEM;
        int err = 0;
        for (uint32_t i = 0; i < rs.n; i++) {
                const uint8_t *e = t + VHDX_REGION_HEADER_SIZE + (size_t) i * VHDX_REGION_ENTRY_SIZE;
                struct vhdx_region *g = &rs.v[i];
                uint64_t eo = at + VHDX_REGION_HEADER_SIZE + (uint64_t) i * VHDX_REGION_ENTRY_SIZE, end;
                uint32_t req;

                memcpy(g->guid, e + VHDX_REGION_ENTRY_OFF_GUID, 16);
                g->offset = get_le64(e + VHDX_REGION_ENTRY_OFF_OFFSET);
                g->length = get_le32(e + VHDX_REGION_ENTRY_OFF_LENGTH);
                req = get_le32(e + VHDX_REGION_ENTRY_OFF_REQUIRED);
                g->required = req & 1;
                g->entry_offset = eo;
                const char *name = vhdx_region_name(g->guid);
                char guid[37];
                vhdx_guid_format(g->guid, guid);

#define BAD(id, field, off, ...)                                                              \
        do {                                                                                  \
                r = vhdx_report(rep, id, -EBADMSG, field, off, __VA_ARGS__);                  \
                if (r < 0)                                                                    \
                        goto fail;                                                            \
                err = -EBADMSG;                                                               \
        } while (0)

                if (req & ~1u)
                        BAD(VC_PROBLEM_BAD_REGION_TABLE, "region.required", eo + VHDX_REGION_ENTRY_OFF_REQUIRED,
                            "region %s has reserved flag bits 0x%08" PRIx32 " set", guid, req & ~1u);
                if (g->offset < VHDX_HEADER_SECTION_SIZE || g->offset % VHDX_MiB)
                        BAD(VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", eo + VHDX_REGION_ENTRY_OFF_OFFSET,
                            "region %s is at offset %" PRIu64 ", not a multiple of 1 MiB past the header section",
                            name ? name : guid, g->offset);
                else if (g->length == 0 || g->length % VHDX_MiB)
                        BAD(VC_PROBLEM_BAD_REGION_TABLE, "region.length", eo + VHDX_REGION_ENTRY_OFF_LENGTH,
                            "region %s has length %" PRIu32 ", not a non-zero multiple of 1 MiB",
                            name ? name : guid, g->length);
                else if (ADD_OVERFLOW(g->offset, (uint64_t) g->length, &end) || end > file_size)
                        BAD(VC_PROBLEM_BAT_OUT_OF_FILE, "region.file_offset", eo + VHDX_REGION_ENTRY_OFF_OFFSET,
                            "region %s (%" PRIu32 " bytes at %" PRIu64 ") ends past the end of the file (%" PRIu64
                            " bytes)", name ? name : guid, g->length, g->offset, file_size);
                for (uint32_t j = 0; j < i; j++)
                        if (!memcmp(rs.v[j].guid, g->guid, 16)) {
                                BAD(VC_PROBLEM_BAD_REGION_TABLE, "region.guid", eo,
                                    "region %s is listed twice", name ? name : guid);
                                break;
                        }
                if (name && !strcmp(name, "BAT") && rs.bat < 0)
                        rs.bat = (int) i;
                else if (name && !strcmp(name, "metadata") && rs.meta < 0)
                        rs.meta = (int) i;
                else if (!name && g->required)
                        BAD(VC_PROBLEM_UNKNOWN_REQUIRED, "region.required", eo + VHDX_REGION_ENTRY_OFF_REQUIRED,
                            "region %s is unknown to us and marked required, so the file cannot be read safely",
                            guid);
        }
        if (rs.bat < 0)
                BAD(VC_PROBLEM_BAD_REGION_TABLE, "region_table.entry_count", at + VHDX_REGION_OFF_COUNT,
                    "the region table has no BAT region");
        if (rs.meta < 0)
                BAD(VC_PROBLEM_BAD_REGION_TABLE, "region_table.entry_count", at + VHDX_REGION_OFF_COUNT,
                    "the region table has no metadata region");
#undef BAD
        if (err < 0) {
                r = err;
                goto fail;
        }
        *ret = rs;
        return 0;
fail:
        vhdx_regions_done(&rs);
        return r;
}
