/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VHDX on-disk layout as named offsets ([MS-VHDX]; docs/formats/vhdx.md has
 * the tables in prose).  VHDX is little-endian throughout; signatures are
 * compared as bytes; GUIDs are stored in Microsoft's mixed-endian form
 * (Data1..3 little-endian, Data4 as bytes) and kept here as those 16 bytes.
 * Every object lies on a 1 MiB boundary.
 */
#pragma once

#include <stdint.h>

#define VHDX_MiB (1024u * 1024u)
#define VHDX_KiB 1024u

/* The header section: the first 1 MiB. */
#define VHDX_HEADER_SECTION_SIZE VHDX_MiB
#define VHDX_IDENT_OFFSET 0u                    /* "vhdxfile" + creator (UTF-16LE, 512 bytes) */
#define VHDX_IDENT_SIGNATURE "vhdxfile"
#define VHDX_IDENT_OFF_CREATOR 8u
#define VHDX_IDENT_CREATOR_SIZE 512u
#define VHDX_HEADER1_OFFSET (64u * VHDX_KiB)
#define VHDX_HEADER2_OFFSET (128u * VHDX_KiB)
#define VHDX_REGION1_OFFSET (192u * VHDX_KiB)
#define VHDX_REGION2_OFFSET (256u * VHDX_KiB)
#define VHDX_HEADER_USED (320u * VHDX_KiB)         /* the end of region table 2 */

/* Header: 4 KiB, CRC-32C over all of it with the checksum zeroed. */
#define VHDX_HEADER_SIZE 4096u
#define VHDX_HEADER_SIGNATURE "head"
#define VHDX_HEADER_OFF_SIGNATURE 0u
#define VHDX_HEADER_OFF_CHECKSUM 4u
#define VHDX_HEADER_OFF_SEQUENCE 8u
#define VHDX_HEADER_OFF_FILE_WRITE_GUID 16u
#define VHDX_HEADER_OFF_DATA_WRITE_GUID 32u
#define VHDX_HEADER_OFF_LOG_GUID 48u
#define VHDX_HEADER_OFF_LOG_VERSION 64u         /* u16, 0 */
#define VHDX_HEADER_OFF_VERSION 66u             /* u16, 1 */
#define VHDX_HEADER_OFF_LOG_LENGTH 68u          /* u32 */
#define VHDX_HEADER_OFF_LOG_OFFSET 72u          /* u64 */
#define VHDX_HEADER_OFF_RESERVED 80u            /* 4016 bytes, 0 */
#define VHDX_HEADER_VERSION 1u
#define VHDX_LOG_MAX (1024u * VHDX_MiB)         /* openvmm's cap */

/* Region table: 64 KiB, CRC-32C over all of it with the checksum zeroed. */
#define VHDX_REGION_SIZE (64u * VHDX_KiB)
#define VHDX_REGION_SIGNATURE "regi"
#define VHDX_REGION_OFF_SIGNATURE 0u
#define VHDX_REGION_OFF_CHECKSUM 4u
#define VHDX_REGION_OFF_COUNT 8u
#define VHDX_REGION_OFF_RESERVED 12u
#define VHDX_REGION_HEADER_SIZE 16u
#define VHDX_REGION_ENTRY_SIZE 32u
#define VHDX_REGION_ENTRY_OFF_GUID 0u
#define VHDX_REGION_ENTRY_OFF_OFFSET 16u        /* u64 */
#define VHDX_REGION_ENTRY_OFF_LENGTH 24u        /* u32 */
#define VHDX_REGION_ENTRY_OFF_REQUIRED 28u      /* u32, bit 0 */
#define VHDX_REGION_MAX_ENTRIES 2047u

/* Metadata region: a 64 KiB table (no checksum), then the items. */
#define VHDX_META_TABLE_SIZE (64u * VHDX_KiB)
#define VHDX_META_SIGNATURE "metadata"
#define VHDX_META_OFF_RESERVED 8u               /* u16 */
#define VHDX_META_OFF_COUNT 10u                 /* u16 */
#define VHDX_META_OFF_RESERVED2 12u             /* 20 bytes */
#define VHDX_META_HEADER_SIZE 32u
#define VHDX_META_ENTRY_SIZE 32u
#define VHDX_META_ENTRY_OFF_GUID 0u
#define VHDX_META_ENTRY_OFF_OFFSET 16u          /* u32, from the region start */
#define VHDX_META_ENTRY_OFF_LENGTH 20u          /* u32 */
#define VHDX_META_ENTRY_OFF_FLAGS 24u           /* u32 */
#define VHDX_META_ENTRY_OFF_RESERVED 28u
#define VHDX_META_FLAG_USER 1u
#define VHDX_META_FLAG_VIRTUAL_DISK 2u
#define VHDX_META_FLAG_REQUIRED 4u
#define VHDX_META_MAX_ENTRIES 2047u
#define VHDX_META_MAX_ITEM (1u * VHDX_MiB)
#define VHDX_META_MAX_REGION (128u * VHDX_MiB)

/* File parameters item: block size, then flags. */
#define VHDX_PARAM_LEAVE_ALLOCATED 1u
#define VHDX_PARAM_HAS_PARENT 2u
#define VHDX_BLOCK_MIN VHDX_MiB
#define VHDX_BLOCK_MAX (256u * VHDX_MiB)
#define VHDX_MAX_VIRTUAL_SIZE (64ull << 40)     /* 64 TiB */

/* BAT entries: u64, state in bits 0-2, bits 3-19 reserved, offset in MiB above. */
#define VHDX_BAT_STATE_MASK 7ull
#define VHDX_BAT_RESERVED_MASK 0xFFFF8ull
#define VHDX_BAT_OFFSET_MASK 0xFFFFFFFFFFF00000ull
#define VHDX_BAT_MAX_ENTRIES (1ull << 30)
#define VHDX_SECTORS_PER_CHUNK (1ull << 23)
enum {
        VHDX_PAYLOAD_NOT_PRESENT = 0,
        VHDX_PAYLOAD_UNDEFINED = 1,
        VHDX_PAYLOAD_ZERO = 2,
        VHDX_PAYLOAD_UNMAPPED = 3,
        VHDX_PAYLOAD_FULLY_PRESENT = 6,
        VHDX_PAYLOAD_PARTIALLY_PRESENT = 7,
        VHDX_SB_NOT_PRESENT = 0,
        VHDX_SB_PRESENT = 6,
};

/* The GUIDs we know, as stored (mixed-endian bytes). */
#define VHDX_GUID_BAT \
        { 0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08 }
#define VHDX_GUID_METADATA \
        { 0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e }
#define VHDX_GUID_FILE_PARAMETERS \
        { 0x37, 0x67, 0xa1, 0xca, 0x36, 0xfa, 0x43, 0x4d, 0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b }
#define VHDX_GUID_VIRTUAL_DISK_SIZE \
        { 0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8 }
#define VHDX_GUID_PAGE83 \
        { 0xab, 0x12, 0xca, 0xbe, 0xe6, 0xb2, 0x23, 0x45, 0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46 }
#define VHDX_GUID_LOGICAL_SECTOR \
        { 0x1d, 0xbf, 0x41, 0x81, 0x6f, 0xa9, 0x09, 0x47, 0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f }
#define VHDX_GUID_PHYSICAL_SECTOR \
        { 0xc7, 0x48, 0xa3, 0xcd, 0x5d, 0x44, 0x71, 0x44, 0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56 }
#define VHDX_GUID_PARENT_LOCATOR \
        { 0x2d, 0x5f, 0xd3, 0xa8, 0x0b, 0xb3, 0x4d, 0x45, 0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c }
/* Known only from openvmm: "creation did not finish". */
#define VHDX_GUID_INCOMPLETE \
        { 0xf0, 0x85, 0xcc, 0x71, 0x69, 0x1b, 0x28, 0x4e, 0x95, 0x58, 0xc3, 0xbf, 0x83, 0xae, 0x75, 0xd3 }
