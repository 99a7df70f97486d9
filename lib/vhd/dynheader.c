/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dynamic disk header: checksum, block geometry of the BAT and the eight
 * parent locator entries.  Only self-contained checks happen here; checks
 * against the rest of the file (BAT placement, locator payloads) are done
 * by image.c, which knows the file's size and layout.
 */
#include <string.h>

#include "../util/endian.h"
#include "../util/utf16.h"
#include "vhd.h"

void vhd_dyn_header_set_checksum(uint8_t raw[VHD_DYN_SIZE])
{
        put_be32(raw + VHD_DYN_OFF_CHECKSUM, 0);
        put_be32(raw + VHD_DYN_OFF_CHECKSUM, vhd_checksum(raw, VHD_DYN_SIZE, VHD_DYN_OFF_CHECKSUM));
}

const char *vhd_locator_code_to_string(uint32_t code)
{
        switch (code) {
        case VHD_LOC_NONE: return "none";
        case VHD_LOC_WI2R: return "Wi2r";
        case VHD_LOC_WI2K: return "Wi2k";
        case VHD_LOC_W2RU: return "W2ru";
        case VHD_LOC_W2KU: return "W2ku";
        case VHD_LOC_MAC: return "Mac ";
        case VHD_LOC_MACX: return "MacX";
        default: return "unknown";
        }
}

static bool locator_code_known(uint32_t c)
{
        return c == VHD_LOC_NONE || c == VHD_LOC_WI2R || c == VHD_LOC_WI2K || c == VHD_LOC_W2RU ||
               c == VHD_LOC_W2KU || c == VHD_LOC_MAC || c == VHD_LOC_MACX;
}

int vhd_dyn_header_parse(const uint8_t raw[VHD_DYN_SIZE], uint64_t at, uint32_t disk_type,
                         struct vc_problems *problems, struct vhd_dyn_header *ret)
{
        struct vhd_dyn_header h = {};
        bool collect = problems && problems->collect;
        uint32_t want;
        int r = 0;

#define FAIL(id, field, off, ...)                                                   \
        do {                                                                        \
                r = vc_problem_add(problems, id, -EBADMSG, field, at + (off), __VA_ARGS__); \
                if (!collect)                                                       \
                        return r;                                                   \
        } while (0)

        memcpy(h.raw, raw, VHD_DYN_SIZE);
        if (memcmp(raw + VHD_DYN_OFF_COOKIE, VHD_DYN_COOKIE, 8) != 0)
                return vc_problem_add(problems, VC_PROBLEM_BAD_COOKIE, -EBADMSG,
                                      "header.cookie", at + VHD_DYN_OFF_COOKIE,
                                      "no dynamic disk header: cookie is not 'cxsparse'");
        h.checksum = get_be32(raw + VHD_DYN_OFF_CHECKSUM);
        want = vhd_checksum(raw, VHD_DYN_SIZE, VHD_DYN_OFF_CHECKSUM);
        if (h.checksum != want)
                FAIL(VC_PROBLEM_BAD_CHECKSUM, "header.checksum", VHD_DYN_OFF_CHECKSUM,
                     "dynamic header checksum is 0x%08x, contents sum to 0x%08x", h.checksum, want);

        h.data_offset = get_be64(raw + VHD_DYN_OFF_DATA_OFFSET);
        h.table_offset = get_be64(raw + VHD_DYN_OFF_TABLE_OFFSET);
        h.version = get_be32(raw + VHD_DYN_OFF_VERSION);
        h.max_entries = get_be32(raw + VHD_DYN_OFF_MAX_ENTRIES);
        h.block_size = get_be32(raw + VHD_DYN_OFF_BLOCK_SIZE);
        memcpy(h.parent_uuid, raw + VHD_DYN_OFF_PARENT_UUID, 16);
        h.parent_timestamp = get_be32(raw + VHD_DYN_OFF_PARENT_TIMESTAMP);
        if (utf16_to_utf8(raw + VHD_DYN_OFF_PARENT_NAME, VHD_DYN_PARENT_NAME_SIZE, true,
                          h.parent_name, sizeof h.parent_name) < 0)
                h.parent_name[0] = 0; /* cannot happen: the buffer is sized for the worst case */

        if (h.data_offset != UINT64_MAX && h.data_offset != 0xFFFFFFFFull)
                FAIL(VC_PROBLEM_BAD_DATA_OFFSET, "header.data_offset", VHD_DYN_OFF_DATA_OFFSET,
                     "unused data offset is %llu instead of all ones",
                     (unsigned long long) h.data_offset);
        if (h.version != VHD_VERSION_1_0)
                FAIL(VC_PROBLEM_BAD_VERSION, "header.version", VHD_DYN_OFF_VERSION,
                     "header version 0x%08x is not 0x00010000", h.version);
        if (!IS_POWER_OF_2(h.block_size) || h.block_size < VHD_MIN_BLOCK_SIZE ||
            h.block_size > VHD_MAX_BLOCK_SIZE)
                FAIL(VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", VHD_DYN_OFF_BLOCK_SIZE,
                     "block size %u is not a power of two from 512 B to 256 MiB", h.block_size);
        if (h.table_offset % VHD_SECTOR_SIZE != 0)
                FAIL(VC_PROBLEM_BAD_TABLE_OFFSET, "header.table_offset", VHD_DYN_OFF_TABLE_OFFSET,
                     "BAT offset %llu is not a multiple of 512",
                     (unsigned long long) h.table_offset);

        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                const uint8_t *e = raw + VHD_DYN_OFF_LOCATORS + i * VHD_DYN_LOCATOR_SIZE;
                uint64_t eoff = VHD_DYN_OFF_LOCATORS + i * VHD_DYN_LOCATOR_SIZE;
                struct vhd_locator *l = &h.locators[i];

                l->code = get_be32(e + VHD_LOC_OFF_CODE);
                l->data_space = get_be32(e + VHD_LOC_OFF_DATA_SPACE);
                l->data_length = get_be32(e + VHD_LOC_OFF_DATA_LENGTH);
                l->data_offset = get_be64(e + VHD_LOC_OFF_DATA_OFFSET);
                if (l->code == VHD_LOC_NONE)
                        continue;
                if (!locator_code_known(l->code))
                        FAIL(VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.code", eoff,
                             "parent locator %u has unknown platform code 0x%08x", i, l->code);
                else if (disk_type != VHD_TYPE_DIFFERENCING)
                        FAIL(VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.code", eoff,
                             "dynamic disk has parent locator %u ('%s')", i,
                             vhd_locator_code_to_string(l->code));
                else if (l->data_length > VHD_MAX_LOCATOR_LENGTH)
                        FAIL(VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_length",
                             eoff + VHD_LOC_OFF_DATA_LENGTH,
                             "parent locator %u is %u bytes long", i, l->data_length);
                else if (l->data_offset % VHD_SECTOR_SIZE != 0)
                        FAIL(VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_offset",
                             eoff + VHD_LOC_OFF_DATA_OFFSET,
                             "parent locator %u payload offset %llu is not 512-aligned", i,
                             (unsigned long long) l->data_offset);
        }
#undef FAIL
        if (r < 0)
                return r;
        *ret = h;
        return 0;
}
