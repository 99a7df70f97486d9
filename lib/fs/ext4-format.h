/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ext2/3/4 on-disk constants: superblock and group-descriptor offsets,
 * feature bits, flags (kernel Documentation/filesystems/ext4, e2fsprogs
 * ext2_fs.h; paraphrased in FS-AWARE.md §1).  Everything little-endian
 * except the jbd2 journal superblock.
 */
#pragma once

#define EXT4_SB_OFF                     1024u   /* in the volume */
#define EXT4_SB_SIZE                    1024u

#define EXT4_SB_INODES_COUNT            0x00u
#define EXT4_SB_BLOCKS_COUNT_LO         0x04u
#define EXT4_SB_FIRST_DATA_BLOCK        0x14u
#define EXT4_SB_LOG_BLOCK_SIZE          0x18u
#define EXT4_SB_LOG_CLUSTER_SIZE        0x1Cu
#define EXT4_SB_BLOCKS_PER_GROUP        0x20u
#define EXT4_SB_CLUSTERS_PER_GROUP      0x24u
#define EXT4_SB_INODES_PER_GROUP        0x28u
#define EXT4_SB_MAGIC                   0x38u
#define EXT4_SB_STATE                   0x3Au
#define EXT4_SB_REV_LEVEL               0x4Cu
#define EXT4_SB_INODE_SIZE              0x58u
#define EXT4_SB_FEATURE_COMPAT          0x5Cu
#define EXT4_SB_FEATURE_INCOMPAT        0x60u
#define EXT4_SB_FEATURE_RO_COMPAT       0x64u
#define EXT4_SB_UUID                    0x68u
#define EXT4_SB_VOLUME_NAME             0x78u
#define EXT4_SB_RESERVED_GDT_BLOCKS     0xCEu
#define EXT4_SB_JOURNAL_INUM            0xE0u
#define EXT4_SB_LAST_ORPHAN             0xE8u
#define EXT4_SB_DESC_SIZE               0xFEu
#define EXT4_SB_FIRST_META_BG           0x104u
#define EXT4_SB_BLOCKS_COUNT_HI         0x150u
#define EXT4_SB_MMP_BLOCK               0x168u
#define EXT4_SB_CHECKSUM_TYPE           0x175u
#define EXT4_SB_ERROR_COUNT             0x194u
#define EXT4_SB_BACKUP_BGS              0x24Cu
#define EXT4_SB_CHECKSUM_SEED           0x270u
#define EXT4_SB_CHECKSUM                0x3FCu

#define EXT4_MAGIC                      0xEF53u

#define EXT4_STATE_VALID                0x0001u
#define EXT4_STATE_ERROR                0x0002u
#define EXT4_STATE_ORPHAN               0x0004u

#define EXT4_COMPAT_DIR_PREALLOC        0x0001u
#define EXT4_COMPAT_IMAGIC_INODES       0x0002u
#define EXT4_COMPAT_HAS_JOURNAL         0x0004u
#define EXT4_COMPAT_EXT_ATTR            0x0008u
#define EXT4_COMPAT_RESIZE_INODE        0x0010u
#define EXT4_COMPAT_DIR_INDEX           0x0020u
#define EXT4_COMPAT_SPARSE_SUPER2       0x0200u
#define EXT4_COMPAT_FAST_COMMIT         0x0400u
#define EXT4_COMPAT_STABLE_INODES       0x0800u
#define EXT4_COMPAT_ORPHAN_FILE         0x1000u
#define EXT4_COMPAT_KNOWN               0x1E3Fu

#define EXT4_INCOMPAT_FILETYPE          0x0002u
#define EXT4_INCOMPAT_RECOVER           0x0004u
#define EXT4_INCOMPAT_JOURNAL_DEV       0x0008u
#define EXT4_INCOMPAT_META_BG           0x0010u
#define EXT4_INCOMPAT_EXTENTS           0x0040u
#define EXT4_INCOMPAT_64BIT             0x0080u
#define EXT4_INCOMPAT_MMP               0x0100u
#define EXT4_INCOMPAT_FLEX_BG           0x0200u
#define EXT4_INCOMPAT_EA_INODE          0x0400u
#define EXT4_INCOMPAT_CSUM_SEED         0x2000u
#define EXT4_INCOMPAT_LARGEDIR          0x4000u
#define EXT4_INCOMPAT_INLINE_DATA       0x8000u
#define EXT4_INCOMPAT_ENCRYPT           0x10000u
#define EXT4_INCOMPAT_CASEFOLD          0x20000u
#define EXT4_INCOMPAT_KNOWN             0x3E7DEu

#define EXT4_RO_COMPAT_SPARSE_SUPER     0x0001u
#define EXT4_RO_COMPAT_LARGE_FILE       0x0002u
#define EXT4_RO_COMPAT_HUGE_FILE        0x0008u
#define EXT4_RO_COMPAT_GDT_CSUM         0x0010u
#define EXT4_RO_COMPAT_DIR_NLINK        0x0020u
#define EXT4_RO_COMPAT_EXTRA_ISIZE      0x0040u
#define EXT4_RO_COMPAT_QUOTA            0x0100u
#define EXT4_RO_COMPAT_BIGALLOC         0x0200u
#define EXT4_RO_COMPAT_METADATA_CSUM    0x0400u
#define EXT4_RO_COMPAT_READONLY         0x1000u
#define EXT4_RO_COMPAT_PROJECT          0x2000u
#define EXT4_RO_COMPAT_SHARED_BLOCKS    0x4000u
#define EXT4_RO_COMPAT_VERITY           0x8000u
#define EXT4_RO_COMPAT_ORPHAN_PRESENT   0x10000u
#define EXT4_RO_COMPAT_KNOWN            0x1F77Bu

/* Group descriptor. */
#define EXT4_BG_BLOCK_BITMAP_LO         0x00u
#define EXT4_BG_INODE_BITMAP_LO         0x04u
#define EXT4_BG_INODE_TABLE_LO          0x08u
#define EXT4_BG_FREE_BLOCKS_LO          0x0Cu
#define EXT4_BG_FLAGS                   0x12u
#define EXT4_BG_BLOCK_BITMAP_CSUM_LO    0x18u
#define EXT4_BG_CHECKSUM                0x1Eu
#define EXT4_BG_BLOCK_BITMAP_HI         0x20u
#define EXT4_BG_INODE_BITMAP_HI         0x24u
#define EXT4_BG_INODE_TABLE_HI          0x28u
#define EXT4_BG_FREE_BLOCKS_HI          0x2Cu
#define EXT4_BG_BLOCK_BITMAP_CSUM_HI    0x38u
#define EXT4_BG_BLOCK_BITMAP_CSUM_HI_END 0x3Au

#define EXT4_BG_BLOCK_UNINIT            0x0002u

#define EXT4_DESC_SIZE                  32u
#define EXT4_DESC_SIZE_64BIT_MIN        64u
#define EXT4_DESC_SIZE_MAX              1024u

/* Inode. */
#define EXT4_INODE_FLAGS                0x20u
#define EXT4_INODE_BLOCK                0x28u
#define EXT4_INODE_BLOCK_SIZE           60u
#define EXT4_INODE_FLAG_EXTENTS         0x80000u
#define EXT4_EXTENT_MAGIC               0xF30Au
#define EXT4_EXTENT_INIT_MAX_LEN        32768u

/* jbd2 superblock (big-endian). */
#define JBD2_MAGIC                      0xC03B3998u
#define JBD2_OFF_MAGIC                  0x00u
#define JBD2_OFF_BLOCKTYPE              0x04u
#define JBD2_OFF_START                  0x1Cu
#define JBD2_OFF_ERRNO                  0x20u
#define JBD2_SB_V1                      3u
#define JBD2_SB_V2                      4u

/* MMP block. */
#define EXT4_MMP_MAGIC                  0x004D4D50u
#define EXT4_MMP_SEQ_CLEAN              0xFF4D4D50u
