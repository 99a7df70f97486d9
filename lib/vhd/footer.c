/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hard disk footer: checksum, decoding and validation.  The footer is
 * trusted only after its cookie, checksum, version, feature bits, disk type
 * and sizes have all been checked; every refusal names the field.
 */
#include <string.h>

#include "../util/endian.h"
#include "../util/overflow.h"
#include "vhd.h"

uint32_t vhd_checksum(const uint8_t *p, size_t n, size_t checksum_off)
{
        uint32_t sum = 0;

        for (size_t i = 0; i < n; i++)
                if (i < checksum_off || i >= checksum_off + 4)
                        sum += p[i];
        return ~sum;
}

void vhd_footer_set_checksum(uint8_t raw[VHD_FOOTER_SIZE])
{
        put_be32(raw + VHD_FOOTER_OFF_CHECKSUM, 0);
        put_be32(raw + VHD_FOOTER_OFF_CHECKSUM,
                 vhd_checksum(raw, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM));
}

const char *vhd_disk_type_to_string(uint32_t type)
{
        switch (type) {
        case VHD_TYPE_FIXED: return "fixed";
        case VHD_TYPE_DYNAMIC: return "dynamic";
        case VHD_TYPE_DIFFERENCING: return "differencing";
        default: return "unknown";
        }
}

static bool all_ones_offset(uint64_t v)
{
        /* The spec says 0xFFFFFFFF; real writers use all 64 bits.  Accept both. */
        return v == UINT64_MAX || v == 0xFFFFFFFFull;
}

int vhd_footer_parse(const uint8_t raw[VHD_FOOTER_SIZE], uint64_t at, uint64_t file_size,
                     struct vc_problems *problems, struct vhd_footer *ret)
{
        struct vhd_footer f = {};
        uint32_t want;
        int r = 0;

        memcpy(f.raw, raw, VHD_FOOTER_SIZE);
        if (memcmp(raw + VHD_FOOTER_OFF_COOKIE, VHD_FOOTER_COOKIE, 8) != 0)
                return vc_problem_add(problems, VC_PROBLEM_BAD_COOKIE, -EBADMSG, "footer.cookie",
                                      at + VHD_FOOTER_OFF_COOKIE,
                                      "no VHD footer: cookie is not 'conectix'");

        f.checksum = get_be32(raw + VHD_FOOTER_OFF_CHECKSUM);
        want = vhd_checksum(raw, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM);
        if (f.checksum != want)
                r = vc_problem_add(problems, VC_PROBLEM_BAD_CHECKSUM, -EBADMSG, "footer.checksum",
                                   at + VHD_FOOTER_OFF_CHECKSUM,
                                   "footer checksum is 0x%08x, contents sum to 0x%08x",
                                   f.checksum, want);
        if (r < 0 && !(problems && problems->collect))
                return r;

        f.features = get_be32(raw + VHD_FOOTER_OFF_FEATURES);
        f.version = get_be32(raw + VHD_FOOTER_OFF_VERSION);
        f.data_offset = get_be64(raw + VHD_FOOTER_OFF_DATA_OFFSET);
        f.timestamp = get_be32(raw + VHD_FOOTER_OFF_TIMESTAMP);
        memcpy(f.creator_app, raw + VHD_FOOTER_OFF_CREATOR_APP, 4);
        f.creator_version = get_be32(raw + VHD_FOOTER_OFF_CREATOR_VERSION);
        f.creator_os = get_be32(raw + VHD_FOOTER_OFF_CREATOR_OS);
        f.original_size = get_be64(raw + VHD_FOOTER_OFF_ORIGINAL_SIZE);
        f.current_size = get_be64(raw + VHD_FOOTER_OFF_CURRENT_SIZE);
        f.cylinders = get_be16(raw + VHD_FOOTER_OFF_CYLINDERS);
        f.heads = raw[VHD_FOOTER_OFF_HEADS];
        f.sectors = raw[VHD_FOOTER_OFF_SECTORS];
        f.disk_type = get_be32(raw + VHD_FOOTER_OFF_DISK_TYPE);
        memcpy(f.unique_id, raw + VHD_FOOTER_OFF_UNIQUE_ID, 16);
        f.saved_state = raw[VHD_FOOTER_OFF_SAVED_STATE];

#define FAIL(id, field, off, ...)                                                   \
        do {                                                                        \
                r = vc_problem_add(problems, id, -EBADMSG, field, at + (off), __VA_ARGS__); \
                if (!problems || !problems->collect)                                \
                        return r;                                                   \
        } while (0)

        if (f.version >> 16 != 1)
                FAIL(VC_PROBLEM_BAD_VERSION, "footer.version", VHD_FOOTER_OFF_VERSION,
                     "file format version 0x%08x is not 1.x", f.version);
        if (f.features & ~(VHD_FEATURE_TEMPORARY | VHD_FEATURE_RESERVED))
                FAIL(VC_PROBLEM_BAD_FEATURES, "footer.features", VHD_FOOTER_OFF_FEATURES,
                     "unknown feature bits 0x%08x", f.features);
        if (f.disk_type != VHD_TYPE_FIXED && f.disk_type != VHD_TYPE_DYNAMIC &&
            f.disk_type != VHD_TYPE_DIFFERENCING)
                FAIL(VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", VHD_FOOTER_OFF_DISK_TYPE,
                     "disk type %u is not fixed (2), dynamic (3) or differencing (4)",
                     f.disk_type);
        if (f.current_size % VHD_SECTOR_SIZE != 0 || f.current_size > VHD_MAX_SIZE)
                FAIL(VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE,
                     "current size %llu is not a multiple of 512 up to 2040 GiB",
                     (unsigned long long) f.current_size);
        if (f.saved_state > 1)
                FAIL(VC_PROBLEM_BAD_FEATURES, "footer.saved_state", VHD_FOOTER_OFF_SAVED_STATE,
                     "saved state byte is %u, not 0 or 1", f.saved_state);

        if (f.disk_type == VHD_TYPE_FIXED) {
                if (!all_ones_offset(f.data_offset))
                        FAIL(VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset",
                             VHD_FOOTER_OFF_DATA_OFFSET,
                             "fixed disk has data offset %llu instead of all ones",
                             (unsigned long long) f.data_offset);
                /* The data precedes the footer; a longer file would hide data. */
                if (f.current_size != file_size - VHD_FOOTER_SIZE)
                        FAIL(VC_PROBLEM_BAD_SIZE, "footer.current_size",
                             VHD_FOOTER_OFF_CURRENT_SIZE,
                             "fixed disk of %llu bytes in a file with %llu bytes of data",
                             (unsigned long long) f.current_size,
                             (unsigned long long) (file_size - VHD_FOOTER_SIZE));
        } else if (f.disk_type == VHD_TYPE_DYNAMIC || f.disk_type == VHD_TYPE_DIFFERENCING) {
                uint64_t end;
                if (f.data_offset % VHD_SECTOR_SIZE != 0 || f.data_offset < VHD_FOOTER_SIZE ||
                    ADD_OVERFLOW(f.data_offset, (uint64_t) VHD_DYN_SIZE, &end) ||
                    end > file_size - VHD_FOOTER_SIZE)
                        FAIL(VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset",
                             VHD_FOOTER_OFF_DATA_OFFSET,
                             "dynamic header offset %llu is not a 512-aligned place inside the file",
                             (unsigned long long) f.data_offset);
        }
#undef FAIL
        if (r < 0)
                return r;
        f.creator_app[4] = 0;
        *ret = f;
        return 0;
}
