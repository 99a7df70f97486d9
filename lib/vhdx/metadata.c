/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The metadata region: a 64 KiB table (signature "metadata", no
 * checksum) of up to 2047 entries, each naming an item by GUID with its
 * offset in the region, its length and flags; then the items.  Every
 * entry is checked (items past the table and inside the region, at most
 * 1 MiB, no two overlapping, no GUID twice, reserved bits clear), every
 * known item for its exact size, its flags and its value; an unknown item
 * marked required is refused, as is openvmm's "incomplete file" item.
 * Only the small known items are read, so nothing here allocates by a
 * size read from the disk.  The parent locator is only located: reading
 * differencing disks comes later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "vhdx.h"

enum item { PARAMS, SIZE, PAGE83, LOGICAL, PHYSICAL, LOCATOR, N_KNOWN };

static const struct {
        uint8_t guid[16];
        const char *name;
        uint32_t size;          /* 0: variable */
        bool vdisk;             /* IsVirtualDisk expected */
        bool needed;            /* must be present */
} known[N_KNOWN] = {
        [PARAMS] = { VHDX_GUID_FILE_PARAMETERS, "file parameters", 8, false, true },
        [SIZE] = { VHDX_GUID_VIRTUAL_DISK_SIZE, "virtual disk size", 8, true, true },
        [PAGE83] = { VHDX_GUID_PAGE83, "virtual disk id", 16, true, true },
        [LOGICAL] = { VHDX_GUID_LOGICAL_SECTOR, "logical sector size", 4, true, true },
        [PHYSICAL] = { VHDX_GUID_PHYSICAL_SECTOR, "physical sector size", 4, true, true },
        [LOCATOR] = { VHDX_GUID_PARENT_LOCATOR, "parent locator", 0, false, false },
};
static const uint8_t guid_incomplete[16] = VHDX_GUID_INCOMPLETE;

struct entry {
        uint8_t guid[16];
        uint32_t offset, length, flags;
};

int vhdx_metadata_parse(int fd, uint64_t offset, uint32_t length, struct vhdx_report *rep,
                        struct vhdx_metadata *ret)
{
        _cleanup_free_ uint8_t *t = malloc(VHDX_META_TABLE_SIZE);
        _cleanup_free_ struct entry *v = NULL;
        struct vhdx_metadata m = {};
        int at[N_KNOWN], err = 0, r;
        uint16_t count;

#define BAD(id, field, off, ...)                                                      \
        do {                                                                          \
                r = vhdx_report(rep, id, -EBADMSG, field, off, __VA_ARGS__);          \
                if (r < 0)                                                            \
                        return r;                                                     \
                err = -EBADMSG;                                                       \
        } while (0)

        if (!t)
                return -ENOMEM;
        if (length > VHDX_META_MAX_REGION)
                return vhdx_report(rep, VC_PROBLEM_BAD_METADATA, -EBADMSG, "region.length", offset,
                                   "the metadata region is %" PRIu32 " bytes, over the 128 MiB limit", length),
                       -EBADMSG;
        r = pread_full(fd, t, VHDX_META_TABLE_SIZE, offset);
        if (r < 0)
                return vhdx_report(rep, VC_PROBLEM_IO, r, "metadata", offset, "cannot read the metadata table"), r;
        if (memcmp(t, VHDX_META_SIGNATURE, 8))
                return vhdx_report(rep, VC_PROBLEM_BAD_COOKIE, -EBADMSG, "metadata.signature", offset,
                                   "the metadata table has no signature \"metadata\""), -EBADMSG;
        count = get_le16(t + VHDX_META_OFF_COUNT);
        if (count > VHDX_META_MAX_ENTRIES)
                return vhdx_report(rep, VC_PROBLEM_BAD_METADATA, -EBADMSG, "metadata.entry_count",
                                   offset + VHDX_META_OFF_COUNT, "the metadata table has %u entries, at most %u",
                                   count, VHDX_META_MAX_ENTRIES), -EBADMSG;
        if (get_le16(t + VHDX_META_OFF_RESERVED))
                BAD(VC_PROBLEM_BAD_METADATA, "metadata.reserved", offset + VHDX_META_OFF_RESERVED,
                    "the metadata table's reserved field is not zero");
        v = calloc(count ? count : 1, sizeof *v);
        if (!v)
                return -ENOMEM;
        for (int k = 0; k < N_KNOWN; k++)
                at[k] = -1;
        m.n_items = count;

        unsigned n_user = 0;
        for (unsigned i = 0; i < count; i++) {
                const uint8_t *e = t + VHDX_META_HEADER_SIZE + (size_t) i * VHDX_META_ENTRY_SIZE;
                const uint64_t eo = offset + VHDX_META_HEADER_SIZE + (uint64_t) i * VHDX_META_ENTRY_SIZE;
                struct entry *x = &v[i];
                char guid[37];

                memcpy(x->guid, e + VHDX_META_ENTRY_OFF_GUID, 16);
                x->offset = get_le32(e + VHDX_META_ENTRY_OFF_OFFSET);
                x->length = get_le32(e + VHDX_META_ENTRY_OFF_LENGTH);
                x->flags = get_le32(e + VHDX_META_ENTRY_OFF_FLAGS);
                vhdx_guid_format(x->guid, guid);
                bool user = x->flags & VHDX_META_FLAG_USER, req = x->flags & VHDX_META_FLAG_REQUIRED;

                n_user += user;
                if (vhdx_guid_is_zero(x->guid))
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.item_id", eo, "metadata entry %u has a zero GUID", i);
                if (x->flags & ~7u)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.flags", eo + VHDX_META_ENTRY_OFF_FLAGS,
                            "metadata item %s has reserved flag bits 0x%08" PRIx32 " set", guid, x->flags & ~7u);
                if (user && req)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.flags", eo + VHDX_META_ENTRY_OFF_FLAGS,
                            "user metadata item %s is marked required", guid);
                if (x->length > VHDX_META_MAX_ITEM)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.length", eo + VHDX_META_ENTRY_OFF_LENGTH,
                            "metadata item %s is %" PRIu32 " bytes, over 1 MiB", guid, x->length);
                else if ((x->offset == 0) != (x->length == 0))
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.offset", eo + VHDX_META_ENTRY_OFF_OFFSET,
                            "metadata item %s has offset %" PRIu32 " and length %" PRIu32
                            " (zero only together)", guid, x->offset, x->length);
                else if (x->length && (x->offset < VHDX_META_TABLE_SIZE ||
                                       range_outside(x->offset, x->length, length)))
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.offset", eo + VHDX_META_ENTRY_OFF_OFFSET,
                            "metadata item %s (%" PRIu32 " bytes at %" PRIu32 ") is not inside the region "
                            "past its table", guid, x->length, x->offset);
                else
                        for (unsigned j = 0; j < i; j++)
                                if (v[j].length &&
                                    ranges_overlap(x->offset, x->length, v[j].offset, v[j].length)) {
                                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.offset", eo + VHDX_META_ENTRY_OFF_OFFSET,
                                            "metadata item %s overlaps metadata entry %u", guid, j);
                                        break;
                                }
                for (unsigned j = 0; j < i; j++)
                        if (!memcmp(v[j].guid, x->guid, 16) &&
                            (v[j].flags & VHDX_META_FLAG_USER) == (x->flags & VHDX_META_FLAG_USER)) {
                                BAD(VC_PROBLEM_BAD_METADATA, "metadata.item_id", eo,
                                    "metadata item %s is listed twice", guid);
                                break;
                        }
                if (user)
                        continue;
                if (!memcmp(x->guid, guid_incomplete, 16))
                        BAD(VC_PROBLEM_INCOMPLETE_FILE, "metadata.item_id", eo,
                            "the file carries the \"incomplete file\" item: its creation never finished");
                int k;
                for (k = 0; k < N_KNOWN; k++)
                        if (!memcmp(x->guid, known[k].guid, 16))
                                break;
                if (k == N_KNOWN) {
                        if (req)
                                BAD(VC_PROBLEM_UNKNOWN_REQUIRED, "metadata.flags", eo + VHDX_META_ENTRY_OFF_FLAGS,
                                    "metadata item %s is unknown to us and marked required, so the file cannot "
                                    "be read safely", guid);
                        continue;
                }
                if (at[k] < 0)
                        at[k] = (int) i;
                if (known[k].size && x->length != known[k].size)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.length", eo + VHDX_META_ENTRY_OFF_LENGTH,
                            "the %s item is %" PRIu32 " bytes, not %" PRIu32, known[k].name, x->length,
                            known[k].size);
                if (k != LOCATOR && !!(x->flags & VHDX_META_FLAG_VIRTUAL_DISK) != known[k].vdisk)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.flags", eo + VHDX_META_ENTRY_OFF_FLAGS,
                            "the %s item %s the virtual-disk flag", known[k].name,
                            known[k].vdisk ? "lacks" : "has");
        }
        if (n_user > 1024)
                BAD(VC_PROBLEM_BAD_METADATA, "metadata.entry_count", offset + VHDX_META_OFF_COUNT,
                    "%u user metadata items, at most 1024", n_user);
        for (int k = 0; k < N_KNOWN; k++)
                if (known[k].needed && at[k] < 0)
                        BAD(VC_PROBLEM_BAD_METADATA, "metadata.entry_count", offset + VHDX_META_OFF_COUNT,
                            "the metadata has no %s item", known[k].name);
        if (err < 0)
                return err;

        /* The values.  The items are small: read each. */
        uint8_t b[16];
        uint64_t io[N_KNOWN];
        for (int k = 0; k < LOCATOR; k++) {
                io[k] = offset + v[at[k]].offset;
                r = pread_full(fd, b, known[k].size, io[k]);
                if (r < 0)
                        return vhdx_report(rep, VC_PROBLEM_IO, r, "metadata", io[k], "cannot read the %s item",
                                           known[k].name), r;
                switch (k) {
                case PARAMS: {
                        uint32_t fl = get_le32(b + 4);
                        m.block_size = get_le32(b);
                        m.leave_allocated = fl & VHDX_PARAM_LEAVE_ALLOCATED;
                        m.has_parent = fl & VHDX_PARAM_HAS_PARENT;
                        m.params_offset = io[k];
                        if (!IS_POWER_OF_2(m.block_size) || m.block_size < VHDX_BLOCK_MIN ||
                            m.block_size > VHDX_BLOCK_MAX)
                                BAD(VC_PROBLEM_BAD_BLOCK_SIZE, "metadata.block_size", io[k],
                                    "block size %" PRIu32 " is not a power of 2 from 1 MiB to 256 MiB",
                                    m.block_size);
                        if (fl & ~3u)
                                BAD(VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", io[k] + 4,
                                    "file parameters have reserved flag bits 0x%08" PRIx32 " set", fl & ~3u);
                        break;
                }
                case SIZE:
                        m.virtual_size = get_le64(b);
                        m.size_offset = io[k];
                        break;
                case PAGE83:
                        memcpy(m.page83, b, 16);
                        break;
                case LOGICAL:
                        m.logical_sector_size = get_le32(b);
                        if (m.logical_sector_size != 512 && m.logical_sector_size != 4096)
                                BAD(VC_PROBLEM_BAD_METADATA, "metadata.logical_sector_size", io[k],
                                    "logical sector size %" PRIu32 " is neither 512 nor 4096",
                                    m.logical_sector_size);
                        break;
                case PHYSICAL:
                        m.physical_sector_size = get_le32(b);
                        if (m.physical_sector_size != 512 && m.physical_sector_size != 4096)
                                BAD(VC_PROBLEM_BAD_METADATA, "metadata.physical_sector_size", io[k],
                                    "physical sector size %" PRIu32 " is neither 512 nor 4096",
                                    m.physical_sector_size);
                        break;
                }
        }
        if (m.virtual_size == 0 || m.virtual_size > VHDX_MAX_VIRTUAL_SIZE ||
            (m.logical_sector_size && m.virtual_size % m.logical_sector_size))
                BAD(VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", m.size_offset,
                    "virtual disk size %" PRIu64 " is not a non-zero multiple of the sector size up to 64 TiB",
                    m.virtual_size);
        if (at[LOCATOR] >= 0) {
                m.has_locator = true;
                m.locator_offset = offset + v[at[LOCATOR]].offset;
                m.locator_length = v[at[LOCATOR]].length;
        }
        if (m.has_parent && !m.has_locator)
                BAD(VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", m.params_offset + 4,
                    "the disk says it has a parent but has no parent locator item");
#undef BAD
        if (err < 0)
                return err;
        *ret = m;
        return 0;
}
