/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Partition tables of the virtual disk: MBR (with extended/logical
 * partitions) and GPT (with fallback to the backup header).  The scanners
 * only ever *grant* free space inside the partitions listed here, and the
 * caller treats everything outside them (MBR gap, EBRs, GPT arrays, backup
 * GPT, unpartitioned tails) as in use.  So a partition we fail to list only
 * costs free space, but a partition we list wrongly could cost data: the
 * readers below refuse any table that is not fully consistent.
 *
 * All input is untrusted.  Offsets in problems are byte offsets of the
 * virtual disk.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../source.h"
#include "../util/problem.h"

enum vc_part_scheme {
        VC_PART_NONE,           /* no partition table (maybe a whole-disk file system) */
        VC_PART_MBR,
        VC_PART_GPT,
        _VC_PART_SCHEME_MAX,
        _VC_PART_SCHEME_INVALID = -EINVAL,
};

/* "none", "mbr", "gpt"; NULL for values out of range. */
const char *vc_part_scheme_to_string(enum vc_part_scheme s) _pure_;
/* The reverse; _VC_PART_SCHEME_INVALID for anything else (or NULL). */
enum vc_part_scheme vc_part_scheme_from_string(const char *s) _pure_;

struct vc_partition {
        unsigned number;        /* 1-based: MBR 1-4 primary (slot+1), 5+ logical in
                                 * chain order (Linux numbering); GPT entry index+1 */
        uint64_t start, size;   /* bytes on the virtual disk; size > 0 */
        uint8_t mbr_type;       /* 0 for GPT */
        uint8_t gpt_type[16];   /* type GUID as on disk; all zero for MBR */
        char type_name[32];     /* "ntfs/exfat (0x07)", "Microsoft basic data", "unknown", ... */
        char name[80];          /* GPT name in UTF-8 (cut at a character boundary if
                                 * longer), empty for MBR */
};

struct vc_partition_table {
        enum vc_part_scheme scheme;
        size_t n;
        struct vc_partition *v; /* n entries sorted by start, never overlapping */
        bool used_backup_gpt;   /* primary GPT header or array bad, backup used */
};

/**
 * vc_partition_table_read - read and validate the partition table of a disk
 * @src: the virtual disk (untrusted content)
 * @sector_size: logical sector size in bytes, a power of two in 512..65536
 *      (512 for VHD); LBAs in the tables are in these units
 * @ret: filled only on success; free with vc_partition_table_done()
 * @problems: optional sink; every refusal adds one problem naming the field
 *      and its byte offset on the virtual disk
 *
 * A disk without any table (including a disk whose sector 0 is the boot
 * sector of a file system: NTFS, exFAT, FAT, BitLocker, ReFS, or an ext
 * superblock at 1080 with no MBR) gives scheme NONE and n = 0: whether the
 * whole disk holds a file system is the caller's business.  An MBR with no
 * entries gives scheme MBR and n = 0.
 *
 * Returns 0; -EBADMSG for a damaged or inconsistent table (problem
 * VC_PROBLEM_PART_TABLE); -EINVAL for a bad @sector_size; -ENOMEM; or the
 * source's read error (problem VC_PROBLEM_IO).  @ret is untouched on failure.
 */
int vc_partition_table_read(struct vc_source *src, uint32_t sector_size,
                            struct vc_partition_table *ret, struct vc_problems *problems);

/* Frees the entries and resets *t to an empty NONE table; t may be NULL. */
void vc_partition_table_done(struct vc_partition_table *t);

/* Formats a GUID given as its 16 on-disk bytes in the usual mixed-endian
 * form, upper case: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7".  Returns out. */
char *vc_guid_to_string(const uint8_t guid[16], char out[37]);
