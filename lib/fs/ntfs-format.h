/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NTFS on-disk layout: named byte offsets, magic numbers and the caps we put
 * on every count read from a volume.  ALL NTFS INTEGERS ARE LITTLE-ENDIAN.
 * Fields are read through lib/util/span.h with these offsets; nothing is
 * ever cast to a struct.  Tables in docs/formats/ntfs.md (our words; the
 * facts from Linux fs/ntfs3 and ntfs-3g's layout.h / logfile.h).
 */
#pragma once

#include <stdint.h>

/* ---- Boot sector (partition sector 0) ------------------------------------ */
#define NTFS_BOOT_SIZE                  512
#define NTFS_BOOT_OFF_OEM_ID            0x03    /* 8 bytes "NTFS    " */
#define NTFS_BOOT_OFF_BYTES_PER_SECTOR  0x0B    /* u16 */
#define NTFS_BOOT_OFF_SECTORS_PER_CLUS  0x0D    /* u8, >0x80: 1 << (256 - v) */
#define NTFS_BOOT_OFF_RESERVED_SECTORS  0x0E    /* u16, 0 */
#define NTFS_BOOT_OFF_FATS              0x10    /* u8, 0 */
#define NTFS_BOOT_OFF_ROOT_ENTRIES      0x11    /* u16, 0 */
#define NTFS_BOOT_OFF_SECTORS16         0x13    /* u16, 0 */
#define NTFS_BOOT_OFF_MEDIA             0x15    /* u8, not checked (Windows does not) */
#define NTFS_BOOT_OFF_SECTORS_PER_FAT   0x16    /* u16, 0 */
#define NTFS_BOOT_OFF_SECTORS32         0x20    /* u32, 0 */
#define NTFS_BOOT_OFF_TOTAL_SECTORS     0x28    /* u64, excludes the backup boot sector */
#define NTFS_BOOT_OFF_MFT_LCN           0x30    /* u64 */
#define NTFS_BOOT_OFF_MFTMIRR_LCN       0x38    /* u64 */
#define NTFS_BOOT_OFF_CLUSTERS_PER_MFT  0x40    /* s8: >0 clusters, <0 2^-v bytes */
#define NTFS_BOOT_OFF_CLUSTERS_PER_INDX 0x44    /* s8, same encoding */
#define NTFS_BOOT_OFF_SERIAL            0x48    /* u64 */
#define NTFS_OEM_ID                     "NTFS    "

/* ---- Multi-sector protected records (FILE, INDX, RSTR) ------------------- */
#define NTFS_REC_OFF_MAGIC              0x00    /* u32 */
#define NTFS_REC_OFF_USA_OFFSET         0x04    /* u16 */
#define NTFS_REC_OFF_USA_COUNT          0x06    /* u16, 1 + size/512 */
#define NTFS_REC_HEADER_MIN             0x08    /* the USA may not overlap these */
#define NTFS_FIXUP_STRIDE               512     /* regardless of the sector size */

#define NTFS_MAGIC_FILE                 0x454C4946u     /* "FILE" */
#define NTFS_MAGIC_BAAD                 0x44414142u     /* "BAAD" */
#define NTFS_MAGIC_INDX                 0x58444E49u     /* "INDX" */
#define NTFS_MAGIC_RSTR                 0x52545352u     /* "RSTR" */
#define NTFS_MAGIC_CHKD                 0x444B4843u     /* "CHKD" */
#define NTFS_MAGIC_RCRD                 0x44524352u     /* "RCRD" */
#define NTFS_MAGIC_EMPTY                0xFFFFFFFFu     /* never written */

/* ---- MFT record ("FILE") ------------------------------------------------- */
#define NTFS_MFT_OFF_LSN                0x08    /* u64 */
#define NTFS_MFT_OFF_SEQUENCE           0x10    /* u16 */
#define NTFS_MFT_OFF_LINK_COUNT         0x12    /* u16 */
#define NTFS_MFT_OFF_ATTRS_OFFSET       0x14    /* u16 */
#define NTFS_MFT_OFF_FLAGS              0x16    /* u16 */
#define NTFS_MFT_OFF_BYTES_USED         0x18    /* u32 */
#define NTFS_MFT_OFF_BYTES_ALLOCATED    0x1C    /* u32, == record size */
#define NTFS_MFT_OFF_BASE_REF           0x20    /* u64 MFT reference, 0 in a base record */
#define NTFS_MFT_OFF_NEXT_ATTR_ID       0x28    /* u16 */
#define NTFS_MFT_OFF_RECORD_NUMBER      0x2C    /* u32, NTFS 3.1 only (USA at >= 0x30) */
#define NTFS_MFT_FLAG_IN_USE            0x0001
#define NTFS_MFT_FLAG_DIRECTORY         0x0002

/* An MFT reference: 48-bit record number, 16-bit sequence number. */
#define NTFS_MREF_RECORD(r)             ((r) & 0x0000FFFFFFFFFFFFull)
#define NTFS_MREF_SEQ(r)                ((uint16_t) ((r) >> 48))

/* System records. */
#define NTFS_REC_MFT                    0
#define NTFS_REC_MFTMIRR                1
#define NTFS_REC_LOGFILE                2
#define NTFS_REC_VOLUME                 3
#define NTFS_REC_ROOT                   5
#define NTFS_REC_BITMAP                 6
#define NTFS_REC_BOOT                   7
#define NTFS_REC_BADCLUS                8
#define NTFS_REC_UPCASE                 10
#define NTFS_REC_FIRST_USER             16      /* records 0..15 are reserved */

/* ---- Attribute record ---------------------------------------------------- */
#define NTFS_ATTR_OFF_TYPE              0x00    /* u32 */
#define NTFS_ATTR_OFF_LENGTH            0x04    /* u32 */
#define NTFS_ATTR_OFF_NON_RESIDENT      0x08    /* u8 */
#define NTFS_ATTR_OFF_NAME_LENGTH       0x09    /* u8, UTF-16 units */
#define NTFS_ATTR_OFF_NAME_OFFSET       0x0A    /* u16 */
#define NTFS_ATTR_OFF_FLAGS             0x0C    /* u16 */
#define NTFS_ATTR_OFF_ID                0x0E    /* u16 */
/* resident */
#define NTFS_ATTR_OFF_VALUE_LENGTH      0x10    /* u32 */
#define NTFS_ATTR_OFF_VALUE_OFFSET      0x14    /* u16 */
#define NTFS_ATTR_RESIDENT_HEADER       0x18
/* non-resident */
#define NTFS_ATTR_OFF_LOWEST_VCN        0x10    /* u64 */
#define NTFS_ATTR_OFF_HIGHEST_VCN       0x18    /* u64, -1 for an empty attribute */
#define NTFS_ATTR_OFF_MAPPING_PAIRS     0x20    /* u16 */
#define NTFS_ATTR_OFF_COMPRESSION_UNIT  0x22    /* u8 */
#define NTFS_ATTR_OFF_ALLOCATED_SIZE    0x28    /* u64 */
#define NTFS_ATTR_OFF_DATA_SIZE         0x30    /* u64 */
#define NTFS_ATTR_OFF_INITIALIZED_SIZE  0x38    /* u64 */
#define NTFS_ATTR_NONRESIDENT_HEADER    0x40

#define NTFS_ATTR_FLAG_COMPRESSED       0x00FF  /* any compression method */
#define NTFS_ATTR_FLAG_ENCRYPTED        0x4000
#define NTFS_ATTR_FLAG_SPARSE           0x8000

#define NTFS_AT_STANDARD_INFORMATION    0x10
#define NTFS_AT_ATTRIBUTE_LIST          0x20
#define NTFS_AT_FILE_NAME               0x30
#define NTFS_AT_VOLUME_NAME             0x60
#define NTFS_AT_VOLUME_INFORMATION      0x70
#define NTFS_AT_DATA                    0x80
#define NTFS_AT_INDEX_ROOT              0x90
#define NTFS_AT_INDEX_ALLOCATION        0xA0
#define NTFS_AT_BITMAP                  0xB0
#define NTFS_AT_END                     0xFFFFFFFFu

/* ---- $ATTRIBUTE_LIST entry ---------------------------------------------- */
#define NTFS_AL_OFF_TYPE                0x00    /* u32 */
#define NTFS_AL_OFF_LENGTH              0x04    /* u16 */
#define NTFS_AL_OFF_NAME_LENGTH         0x06    /* u8 */
#define NTFS_AL_OFF_NAME_OFFSET         0x07    /* u8 */
#define NTFS_AL_OFF_START_VCN           0x08    /* u64 */
#define NTFS_AL_OFF_MREF                0x10    /* u64 */
#define NTFS_AL_OFF_ATTR_ID             0x18    /* u16 */
#define NTFS_AL_ENTRY_MIN               0x1A

/* ---- $FILE_NAME value ---------------------------------------------------- */
#define NTFS_FN_OFF_PARENT              0x00    /* u64 MFT reference */
#define NTFS_FN_OFF_NAME_LENGTH         0x40    /* u8, UTF-16 units */
#define NTFS_FN_OFF_NAMESPACE           0x41    /* u8 */
#define NTFS_FN_OFF_NAME                0x42

/* ---- $VOLUME_INFORMATION value ------------------------------------------- */
#define NTFS_VI_OFF_MAJOR               0x08    /* u8 */
#define NTFS_VI_OFF_MINOR               0x09    /* u8 */
#define NTFS_VI_OFF_FLAGS               0x0A    /* u16 */
#define NTFS_VI_SIZE                    0x0C
#define NTFS_VOLUME_IS_DIRTY            0x0001
#define NTFS_VOLUME_CHKDSK_UNDERWAY     0x4000

/* ---- $INDEX_ROOT value, INDX record, index header and entries ------------ */
#define NTFS_IR_OFF_TYPE                0x00    /* u32, indexed attribute (0x30) */
#define NTFS_IR_OFF_COLLATION           0x04    /* u32 */
#define NTFS_IR_OFF_BLOCK_SIZE          0x08    /* u32, bytes per INDX record */
#define NTFS_IR_OFF_HEADER              0x10
#define NTFS_COLLATION_FILE_NAME        0x01

#define NTFS_INDX_OFF_VCN               0x10    /* u64 */
#define NTFS_INDX_OFF_HEADER            0x18

#define NTFS_IH_OFF_ENTRIES_OFFSET      0x00    /* u32, from the index header */
#define NTFS_IH_OFF_INDEX_LENGTH        0x04    /* u32, bytes used from the header */
#define NTFS_IH_OFF_ALLOCATED_SIZE      0x08    /* u32 */
#define NTFS_IH_OFF_FLAGS               0x0C    /* u8, 0x01 has sub-nodes */
#define NTFS_IH_SIZE                    0x10

#define NTFS_IE_OFF_MREF                0x00    /* u64 */
#define NTFS_IE_OFF_LENGTH              0x08    /* u16 */
#define NTFS_IE_OFF_KEY_LENGTH          0x0A    /* u16 */
#define NTFS_IE_OFF_FLAGS               0x0C    /* u16 */
#define NTFS_IE_OFF_KEY                 0x10
#define NTFS_IE_FLAG_NODE               0x0001  /* sub-node VCN in the last 8 bytes */
#define NTFS_IE_FLAG_END                0x0002

/* ---- $LogFile restart page and restart area ------------------------------ */
#define NTFS_RP_OFF_CHKDSK_LSN          0x08    /* u64 */
#define NTFS_RP_OFF_SYSTEM_PAGE_SIZE    0x10    /* u32 */
#define NTFS_RP_OFF_LOG_PAGE_SIZE       0x14    /* u32 */
#define NTFS_RP_OFF_RA_OFFSET           0x18    /* u16 */
#define NTFS_RP_OFF_MINOR               0x1A    /* s16 */
#define NTFS_RP_OFF_MAJOR               0x1C    /* s16 */
#define NTFS_RP_HEADER_SIZE             0x1E

#define NTFS_RA_OFF_CURRENT_LSN         0x00    /* u64 */
#define NTFS_RA_OFF_LOG_CLIENTS         0x08    /* u16 */
#define NTFS_RA_OFF_CLIENT_FREE_LIST    0x0A    /* u16 */
#define NTFS_RA_OFF_CLIENT_IN_USE_LIST  0x0C    /* u16 */
#define NTFS_RA_OFF_FLAGS               0x0E    /* u16 */
#define NTFS_RA_OFF_LENGTH              0x14    /* u16 */
#define NTFS_RA_OFF_CLIENT_ARRAY        0x16    /* u16 */
#define NTFS_RA_MIN_SIZE                0x18    /* everything we read lies below */
#define NTFS_LOG_CLIENT_RECORD_SIZE     0xA0
#define NTFS_LCR_OFF_PREV               0x10    /* u16 */
#define NTFS_LCR_OFF_NEXT               0x12    /* u16 */
#define NTFS_LOGFILE_NO_CLIENT          0xFFFF
#define NTFS_RESTART_VOLUME_IS_CLEAN    0x0002

/* ---- Caps: every count from disk is compared with these before use ------- */
#define NTFS_MIN_CLUSTER_SIZE           512u
#define NTFS_MAX_CLUSTER_SIZE           (2u << 20)      /* 2 MiB */
#define NTFS_MIN_RECORD_SIZE            512u
#define NTFS_MAX_RECORD_SIZE            4096u           /* as Linux ntfs3 */
#define NTFS_MIN_INDEX_BLOCK            512u
#define NTFS_MAX_INDEX_BLOCK            65536u
#define NTFS_MAX_ATTR_LIST_SIZE         (256u << 10)    /* largest list Windows makes */
#define NTFS_MAX_EXTENTS                4096u           /* extension records per attribute */
#define NTFS_MAX_RUNS                   (1u << 22)      /* runs per attribute */
#define NTFS_MAX_INDEX_DEPTH            32u
#define NTFS_MAX_LOGFILE_SCAN           (1ull << 32)    /* restart pages lie in the first 4 GiB */
#define NTFS_MAX_LOG_PAGE_SIZE          65536u
#define NTFS_UPCASE_SIZE                131072u         /* 65536 UTF-16 units */
#define NTFS_BITMAP_CHUNK               (1u << 20)      /* bytes of $Bitmap read at once */
#define NTFS_MAX_FREE_RUNS              (1u << 24)      /* 256 MiB of ranges in the caller's map */
#define NTFS_BOOT_FILE_SIZE             8192u           /* $Boot: never free */
