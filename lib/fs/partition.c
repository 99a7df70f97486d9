/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which partition table a disk has, and the helpers mbr.c and gpt.c share.
 *
 * Deciding between "MBR", "GPT" and "no table" is the delicate part: sector
 * 0 of a whole-disk NTFS, FAT or exFAT volume also ends in 0x55AA, and a
 * disk that was partitioned after holding a whole-disk file system (or the
 * other way round) can carry both a stale file-system signature and a live
 * table.  Listing the wrong one could hand a stale allocation bitmap the
 * space of live data, so the decision is:
 *
 *   no 0x55AA at 510                      -> no table (Linux and libfdisk
 *                                            also ignore a GPT without its
 *                                            protective MBR)
 *   a protective entry (0xEE)             -> GPT (hybrid MBRs included)
 *   otherwise                             -> MBR, validated strictly
 *
 * and when sector 0 also carries a file-system signature (the registry's,
 * fs.c: "NTFS    ", "EXFAT   ", "-FVE-FS-", "ReFS" at 3, a FAT type string
 * with the x86 jump, or the ext magic at 1080):
 *
 *   MBR entries that do not validate, or none  -> no table (the boot code
 *                                                 of the file system is not
 *                                                 a table)
 *   MBR entries that validate                  -> refused as ambiguous
 *   GPT                                        -> only a valid *primary*
 *                                                 GPT counts: its CRC covers
 *                                                 LBA 1.. so it was written
 *                                                 after the file system
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "../util/overflow.h"
#include "../util/span.h"
#include "fs.h"
#include "partition-internal.h"

static const char *const scheme_names[_VC_PART_SCHEME_MAX] = {
        [VC_PART_NONE] = "none",
        [VC_PART_MBR] = "mbr",
        [VC_PART_GPT] = "gpt",
};

const char *vc_part_scheme_to_string(enum vc_part_scheme s)
{
        if ((int) s < 0 || s >= _VC_PART_SCHEME_MAX)
                return NULL;
        return scheme_names[s];
}

enum vc_part_scheme vc_part_scheme_from_string(const char *s)
{
        for (size_t i = 0; s && i < ELEMENTSOF(scheme_names); i++)
                if (strcmp(s, scheme_names[i]) == 0)
                        return (enum vc_part_scheme) i;
        return _VC_PART_SCHEME_INVALID;
}

char *vc_guid_to_string(const uint8_t g[16], char out[37])
{
        static const char hex[] = "0123456789ABCDEF";
        /* Data1..Data3 are little-endian, Data4 is a byte string. */
        static const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
        size_t k = 0;

        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[k++] = '-';
                out[k++] = hex[g[order[i]] >> 4];
                out[k++] = hex[g[order[i]] & 0xF];
        }
        out[k] = '\0';
        return out;
}

int part_list_add(struct part_list *l, const struct vc_partition *p)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                size_t bytes;
                struct vc_partition *v;

                if (MUL_OVERFLOW(cap, sizeof *v, &bytes))
                        return -ENOMEM;
                v = realloc(l->v, bytes);
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n++] = *p;
        return 0;
}

void part_list_done(struct part_list *l)
{
        free(l->v);
        *l = (struct part_list) {};
}

static int cmp_start(const void *a, const void *b)
{
        const struct vc_partition *x = a, *y = b;

        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return x->number < y->number ? -1 : x->number > y->number;
}

size_t part_list_sort_find_overlap(struct part_list *l)
{
        uint64_t furthest = 0;

        if (l->n > 1)
                qsort(l->v, l->n, sizeof *l->v, cmp_start);
        /* Sorted by start: entry i overlaps an earlier one exactly when it
         * starts before the furthest end seen so far.  Ends cannot overflow:
         * the readers only add partitions inside the disk. */
        for (size_t i = 0; i < l->n; i++) {
                if (i > 0 && l->v[i].start < furthest)
                        return i;
                furthest = MAX(furthest, l->v[i].start + l->v[i].size);
        }
        return 0;
}

int part_pread(struct vc_source *src, void *buf, size_t len, uint64_t off,
               const char *field, struct vc_problems *problems)
{
        int r = vc_source_pread(src, buf, len, off);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, field, off,
                                      "cannot read %zu bytes of the partition table: %s",
                                      len, strerror(-r));
        return 0;
}

/* ---- type names ---------------------------------------------------------- */

struct mbr_type { uint8_t type; const char *name; };

static const struct mbr_type mbr_types[] = {
        { 0x01, "fat12" },
        { 0x04, "fat16 <32M" },
        { 0x06, "fat16" },
        { 0x07, "ntfs/exfat" },
        { 0x0b, "fat32" },
        { 0x0c, "fat32 lba" },
        { 0x0e, "fat16 lba" },
        { 0x11, "hidden fat12" },
        { 0x14, "hidden fat16 <32M" },
        { 0x16, "hidden fat16" },
        { 0x17, "hidden ntfs" },
        { 0x1b, "hidden fat32" },
        { 0x1c, "hidden fat32 lba" },
        { 0x1e, "hidden fat16 lba" },
        { 0x27, "hidden ntfs winre" },
        { 0x42, "ldm (dynamic disk)" },
        { 0x82, "linux swap" },
        { 0x83, "linux" },
        { 0x8e, "linux lvm" },
        { 0xa5, "freebsd" },
        { 0xee, "gpt protective" },
        { 0xef, "efi system" },
        { 0xfd, "linux raid" },
};

void mbr_type_name(uint8_t type, char out[32])
{
        const char *name = "unknown";

        for (size_t i = 0; i < ELEMENTSOF(mbr_types); i++)
                if (mbr_types[i].type == type) {
                        name = mbr_types[i].name;
                        break;
                }
        snprintf(out, 32, "%s (0x%02x)", name, type);
}

/* The 16 on-disk bytes of the GUID written AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE. */
#define GUID_BYTES(a, b, c, d, e)                                                       \
        { (a) & 0xFF, ((a) >> 8) & 0xFF, ((a) >> 16) & 0xFF, ((a) >> 24) & 0xFF,        \
          (b) & 0xFF, ((b) >> 8) & 0xFF, (c) & 0xFF, ((c) >> 8) & 0xFF,                 \
          ((d) >> 8) & 0xFF, (d) & 0xFF,                                                \
          ((e) >> 40) & 0xFF, ((e) >> 32) & 0xFF, ((e) >> 24) & 0xFF,                   \
          ((e) >> 16) & 0xFF, ((e) >> 8) & 0xFF, (e) & 0xFF }

struct gpt_type { uint8_t guid[16]; const char *name; };

static const struct gpt_type gpt_types[] = {
        { GUID_BYTES(0xEBD0A0A2u, 0xB9E5u, 0x4433u, 0x87C0u, 0x68B6B72699C7ull), "Microsoft basic data" },
        { GUID_BYTES(0xE3C9E316u, 0x0B5Cu, 0x4DB8u, 0x817Du, 0xF92DF00215AEull), "Microsoft reserved" },
        { GUID_BYTES(0xDE94BBA4u, 0x06D1u, 0x4D40u, 0xA16Au, 0xBFD50179D6ACull), "Windows recovery" },
        { GUID_BYTES(0xC12A7328u, 0xF81Fu, 0x11D2u, 0xBA4Bu, 0x00A0C93EC93Bull), "EFI system" },
        { GUID_BYTES(0x5808C8AAu, 0x7E8Fu, 0x42E0u, 0x85D2u, 0xE1E90434CFB3ull), "LDM metadata" },
        { GUID_BYTES(0xAF9B60A0u, 0x1431u, 0x4F62u, 0xBC68u, 0x3311714A69ADull), "LDM data" },
        { GUID_BYTES(0xE75CAF8Fu, 0xF680u, 0x4CEEu, 0xAFA3u, 0xB001E56EFC2Dull), "Storage Spaces" },
        { GUID_BYTES(0x21686148u, 0x6449u, 0x6E6Fu, 0x744Eu, 0x656564454649ull), "BIOS boot" },
        { GUID_BYTES(0x0FC63DAFu, 0x8483u, 0x4772u, 0x8E79u, 0x3D69D8477DE4ull), "Linux filesystem" },
        { GUID_BYTES(0x0657FD6Du, 0xA4ABu, 0x43C4u, 0x84E5u, 0x0933C84B4F4Full), "Linux swap" },
        { GUID_BYTES(0xE6D6D379u, 0xF507u, 0x44C2u, 0xA23Cu, 0x238F2A3DF928ull), "Linux LVM" },
        { GUID_BYTES(0xA19D880Fu, 0x05FCu, 0x4D3Bu, 0xA006u, 0x743F0F84911Eull), "Linux RAID" },
        { GUID_BYTES(0x4F68BCE3u, 0xE8CDu, 0x4DB1u, 0x96E7u, 0xFBCAF984B709ull), "Linux root (x86-64)" },
        { GUID_BYTES(0x933AC7E1u, 0x2EB4u, 0x4F13u, 0xB844u, 0x0E14E2AEF915ull), "Linux home" },
};

void gpt_type_name(const uint8_t guid[16], char out[32])
{
        const char *name = "unknown";

        for (size_t i = 0; i < ELEMENTSOF(gpt_types); i++)
                if (memcmp(gpt_types[i].guid, guid, 16) == 0) {
                        name = gpt_types[i].name;
                        break;
                }
        snprintf(out, 32, "%s", name);
}

/* ---- the dispatcher ------------------------------------------------------ */

/* Bytes read from the start of the disk: sector 0 and the ext superblock. */
#define HEAD_SIZE VC_FS_PROBE_SIZE

bool mbr_has_entries(const uint8_t mbr[MBR_SIZE])
{
        for (unsigned i = 0; i < MBR_NUM_ENTRIES; i++) {
                const uint8_t *e = mbr + MBR_OFF_ENTRIES + i * MBR_ENTRY_SIZE;
                if (e[MBR_ENTRY_OFF_TYPE] != MBR_TYPE_EMPTY && get_le32(e + MBR_ENTRY_OFF_SECTORS) != 0)
                        return true;
        }
        return false;
}

bool mbr_has_protective(const uint8_t mbr[MBR_SIZE])
{
        for (unsigned i = 0; i < MBR_NUM_ENTRIES; i++)
                if (mbr[MBR_OFF_ENTRIES + i * MBR_ENTRY_SIZE + MBR_ENTRY_OFF_TYPE] == MBR_TYPE_GPT_PROTECTIVE)
                        return true;
        return false;
}

int vc_partition_table_read(struct vc_source *src, uint32_t sector_size,
                            struct vc_partition_table *ret, struct vc_problems *problems)
{
        _cleanup_(part_list_done) struct part_list list = {};
        enum vc_part_scheme scheme = VC_PART_NONE;
        bool used_backup = false;
        uint8_t head_buf[HEAD_SIZE] = {};
        struct span head;
        const struct vc_fs_type *fs;
        struct vc_fs_evidence evidence = {};
        const char *signature_fs, *signature_field;
        uint16_t boot_signature;
        size_t len;
        int r;

        if (!src || !ret || !IS_POWER_OF_2(sector_size) || sector_size < MBR_SIZE ||
            sector_size > 65536)
                return -EINVAL;

        /* Not even one sector: nothing can hold a table. */
        if (src->size / sector_size == 0)
                goto done;

        len = (size_t) MIN(src->size, (uint64_t) HEAD_SIZE);
        r = part_pread(src, head_buf, len, 0, "mbr", problems);
        if (r < 0)
                return r;
        head = SPAN(head_buf, len);

        /* The registry's signatures (fs.c), hints left out: a FAT string
         * without its jump is boot code as often as not. */
        fs = vc_fs_probe(&head, src->size, VC_FS_PROBE_SIGNATURE, &evidence);
        signature_fs = fs ? fs->name : NULL;
        /* A signature inside the MBR's boot code is that code's problem. */
        signature_field = evidence.offset < MBR_OFF_ENTRIES ? "mbr.boot_code" : evidence.field;

        if (span_get_le16(&head, MBR_OFF_SIGNATURE, &boot_signature) < 0 ||
            boot_signature != 0xAA55u)
                goto done;

        if (mbr_has_protective(head_buf)) {
                struct vc_problem primary = {};

                /* Hybrid MBRs included: with a valid GPT the GPT is the truth. */
                r = gpt_read(src, sector_size, &list, &used_backup, &primary, problems);
                if (r < 0)
                        return r;
                if (signature_fs && used_backup)
                        /* The primary is gone and sector 0 looks like a file
                         * system: which one is stale cannot be told. */
                        return vc_problem_add(problems, primary.id, primary.error, primary.field,
                                              primary.offset,
                                              "%s; the backup GPT is not trusted because the disk "
                                              "also carries a %s signature", primary.message,
                                              signature_fs);
                scheme = VC_PART_GPT;
                goto done;
        }

        if (signature_fs) {
                struct vc_problems quiet = {};

                /* The bytes at 446 are the file system's boot code unless they
                 * form a consistent table; if they do, both are plausible. */
                r = mbr_read(src, sector_size, head_buf, &list, &quiet);
                if (r < 0 && r != -EBADMSG) {
                        if (quiet.n > 0)
                                vc_problem_add(problems, quiet.first.id, r, quiet.first.field,
                                               quiet.first.offset, "%s", quiet.first.message);
                        return r;
                }
                if (r < 0 || list.n == 0) {
                        part_list_done(&list);
                        goto done;
                }
                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG,
                                      signature_field, evidence.offset,
                                      "sector 0 holds both a valid MBR and a %s signature: "
                                      "refusing to guess which is current", signature_fs);
        }

        r = mbr_read(src, sector_size, head_buf, &list, problems);
        if (r < 0)
                return r;
        if (part_list_sort_find_overlap(&list) != 0)
                /* mbr_read() checks every pair it creates; this is a guard. */
                return vc_problem_add(problems, VC_PROBLEM_PART_TABLE, -EBADMSG, "mbr.entry.start_lba",
                                      MBR_OFF_ENTRIES, "MBR partitions overlap");
        scheme = VC_PART_MBR;

done:
        *ret = (struct vc_partition_table) {
                .scheme = scheme,
                .n = list.n,
                .v = TAKE_PTR(list.v),
                .used_backup_gpt = used_backup,
        };
        return 0;
}

void vc_partition_table_done(struct vc_partition_table *t)
{
        if (!t)
                return;
        free(t->v);
        *t = (struct vc_partition_table) {};
}
