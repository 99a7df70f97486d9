/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared between partition.c (the dispatcher), mbr.c and gpt.c: on-disk
 * layouts and the readers' internal entry points.  MBR and GPT integers
 * are LITTLE-endian.  Offsets are relative to the start of the structure.
 *
 *   MBR / EBR (first 512 bytes of an LBA):
 *     0    440  boot code            440  4  disk signature
 *     446  4x16 partition entries    510  2  0x55 0xAA
 *   MBR entry (16 bytes):
 *     0 status (0x00 / 0x80)  1 CHS first  4 type  5 CHS last
 *     8 start LBA u32         12 number of sectors u32
 *   GPT header (LBA 1, backup at the last LBA):
 *     0 "EFI PART"  8 revision  12 header size  16 header CRC32  20 reserved
 *     24 MyLBA  32 AlternateLBA  40 FirstUsableLBA  48 LastUsableLBA
 *     56 disk GUID  72 PartitionEntryLBA  80 entry count  84 entry size
 *     88 entry array CRC32
 *   GPT entry (first 128 bytes of each entry_size bytes):
 *     0 type GUID  16 unique GUID  32 StartingLBA  40 EndingLBA (inclusive)
 *     48 attributes  56 name (72 bytes UTF-16LE)
 */
#pragma once

#include "partition.h"

#define MBR_SIZE 512u
#define MBR_OFF_ENTRIES 446u
#define MBR_ENTRY_SIZE 16u
#define MBR_NUM_ENTRIES 4u
#define MBR_OFF_SIGNATURE 510u
#define MBR_ENTRY_OFF_STATUS 0u
#define MBR_ENTRY_OFF_TYPE 4u
#define MBR_ENTRY_OFF_START 8u
#define MBR_ENTRY_OFF_SECTORS 12u

#define MBR_TYPE_EMPTY 0x00u
#define MBR_TYPE_GPT_PROTECTIVE 0xEEu
#define MBR_TYPE_IS_EXTENDED(t) ((t) == 0x05u || (t) == 0x0Fu || (t) == 0x85u)

/* Logical partitions followed in one extended partition before we call the
 * chain a loop.  Linux stops at 100 links; 128 is above any real disk. */
#define MBR_MAX_LOGICALS 128u

#define GPT_SIGNATURE "EFI PART"
#define GPT_REVISION_1_0 0x00010000u
#define GPT_HEADER_MIN_SIZE 92u
#define GPT_HDR_OFF_SIGNATURE 0u
#define GPT_HDR_OFF_REVISION 8u
#define GPT_HDR_OFF_HEADER_SIZE 12u
#define GPT_HDR_OFF_HEADER_CRC 16u
#define GPT_HDR_OFF_MY_LBA 24u
#define GPT_HDR_OFF_ALTERNATE_LBA 32u
#define GPT_HDR_OFF_FIRST_USABLE 40u
#define GPT_HDR_OFF_LAST_USABLE 48u
#define GPT_HDR_OFF_ENTRY_LBA 72u
#define GPT_HDR_OFF_NUM_ENTRIES 80u
#define GPT_HDR_OFF_ENTRY_SIZE 84u
#define GPT_HDR_OFF_ENTRIES_CRC 88u

#define GPT_ENTRY_MIN_SIZE 128u
#define GPT_ENTRY_OFF_TYPE 0u
#define GPT_ENTRY_OFF_START 32u
#define GPT_ENTRY_OFF_END 40u
#define GPT_ENTRY_OFF_NAME 56u
#define GPT_ENTRY_NAME_SIZE 72u

/* The whole entry array is read into memory: cap it.  The usual array is
 * 128 x 128 = 16 KiB; 4 MiB is far above any real disk. */
#define GPT_MAX_ENTRY_BYTES (4u << 20)

/* A growing, capped list of partitions. */
struct part_list {
        struct vc_partition *v;
        size_t n, cap;
};

/* Appends a copy of *p; -ENOMEM. */
int part_list_add(struct part_list *l, const struct vc_partition *p);
void part_list_done(struct part_list *l);
/* Sorts by start; returns the index i >= 1 of the first entry overlapping
 * its predecessor i-1, or 0 when none overlap. */
size_t part_list_sort_find_overlap(struct part_list *l);

/* Reads len bytes at off; a read error becomes a VC_PROBLEM_IO problem. */
int part_pread(struct vc_source *src, void *buf, size_t len, uint64_t off,
               const char *field, struct vc_problems *problems);

/* Type names for the two schemes ("unknown ..." when not in our table). */
void mbr_type_name(uint8_t type, char out[32]);
void gpt_type_name(const uint8_t guid[16], char out[32]);

/*
 * mbr_read - the partitions of an MBR (primaries and the logicals of its
 * extended partition) into *out (appended, unsorted).  @mbr is the first
 * 512 bytes of LBA 0, already known to end in 0x55AA and to hold no GPT
 * protective entry.  Returns 0 or -EBADMSG/-ENOMEM/-EIO with a problem.
 */
int mbr_read(struct vc_source *src, uint32_t sector_size, const uint8_t mbr[MBR_SIZE],
             struct part_list *out, struct vc_problems *problems);

/* True when the MBR in @mbr has at least one non-empty entry. */
bool mbr_has_entries(const uint8_t mbr[MBR_SIZE]);
/* True when one of its entries is a GPT protective entry (type 0xEE). */
bool mbr_has_protective(const uint8_t mbr[MBR_SIZE]);

/*
 * gpt_read - the partitions of the GPT into *out (appended, sorted by
 * start), primary header first, then the backup at the last LBA;
 * *ret_used_backup says which was used and, when it was the backup,
 * *ret_primary_problem (optional) what was wrong with the primary.  When
 * both fail, the primary's problem is reported.  Returns 0 or
 * -EBADMSG/-ENOMEM/-EIO.
 */
int gpt_read(struct vc_source *src, uint32_t sector_size, struct part_list *out,
             bool *ret_used_backup, struct vc_problem *ret_primary_problem,
             struct vc_problems *problems);
