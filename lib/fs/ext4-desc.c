/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ext2/3/4 group descriptors: where each block of them lives (the old
 * layout right after the superblock, or meta_bg's one block at the start of
 * each meta-group), reading them all, and checking each one before it is
 * believed: its checksum (crc32c with the seed under metadata_csum, CRC-16
 * under uninit_bg), its bitmap and inode-table locations inside the file
 * system, and no BLOCK_UNINIT on group 0 (the kernel refuses it too).
 * Any failure refuses the volume: a descriptor we cannot trust could send
 * the bitmap walk anywhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "ext4-format.h"
#include "ext4-internal.h"

/* Block of descriptor block @i (primary copy). */
static uint64_t gdt_block(const struct ext4_sb *sb, uint32_t i)
{
        uint64_t first = sb->first_data_block;
        uint32_t bg;

        /* 1 KiB blocks with bigalloc: block 0 is the boot block, the
         * superblock is in block 1 and everything shifts by one. */
        if (first == 0 && sb->block_size == 1024)
                first = 1;
        if (!sb->meta_bg || i < sb->first_meta_bg)
                return first + 1 + i;
        bg = i * sb->desc_per_block;
        return MAX(ext4_group_first_block(sb, bg), first) + (ext4_group_has_super(sb, bg) ? 1 : 0);
}

static uint16_t desc_checksum(const struct ext4_sb *sb, uint32_t g, const uint8_t *d)
{
        uint8_t le_group[4];
        static const uint8_t zero[2];

        put_le32(le_group, g);
        if (sb->csum) {
                uint32_t c = ext4_crc32c_raw(sb->seed, le_group, 4);
                c = ext4_crc32c_raw(c, d, EXT4_BG_CHECKSUM);
                c = ext4_crc32c_raw(c, zero, 2);
                c = ext4_crc32c_raw(c, d + EXT4_BG_CHECKSUM + 2, sb->desc_size - EXT4_BG_CHECKSUM - 2);
                return (uint16_t) c;
        }
        uint16_t c = ext4_crc16(0xFFFFu, sb->raw + EXT4_SB_UUID, 16);
        c = ext4_crc16(c, le_group, 4);
        c = ext4_crc16(c, d, EXT4_BG_CHECKSUM);
        return ext4_crc16(c, d + EXT4_BG_CHECKSUM + 2, sb->desc_size - EXT4_BG_CHECKSUM - 2);
}

static int check_location(struct ext4_volume *v, uint32_t g, uint64_t where, const char *what,
                          uint64_t block, uint64_t len)
{
        const struct ext4_sb *sb = &v->sb;

        if (block < sb->first_data_block || block >= sb->blocks_count || len > sb->blocks_count - block)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.group_desc", where,
                                      "ext group %u's %s (block %llu, %llu blocks) is outside the "
                                      "file system (%llu blocks)", g, what, (unsigned long long) block,
                                      (unsigned long long) len, (unsigned long long) sb->blocks_count);
        return 0;
}

static int parse_desc(struct ext4_volume *v, uint32_t g, const uint8_t *d, uint64_t where)
{
        const struct ext4_sb *sb = &v->sb;
        struct ext4_desc *e = &v->desc[g];
        bool wide = sb->desc_size >= EXT4_DESC_SIZE_64BIT_MIN;
        int r;

        if (sb->csum || sb->gdt_csum) {
                uint16_t want = get_le16(d + EXT4_BG_CHECKSUM), got = desc_checksum(sb, g, d);
                if (want != got)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.bg_checksum",
                                              where + EXT4_BG_CHECKSUM,
                                              "ext group %u's descriptor checksum mismatch (0x%04x, "
                                              "computed 0x%04x)", g, want, got);
        }
        *e = (struct ext4_desc) {
                .block_bitmap = get_le32(d + EXT4_BG_BLOCK_BITMAP_LO) |
                        (wide ? (uint64_t) get_le32(d + EXT4_BG_BLOCK_BITMAP_HI) << 32 : 0),
                .inode_bitmap = get_le32(d + EXT4_BG_INODE_BITMAP_LO) |
                        (wide ? (uint64_t) get_le32(d + EXT4_BG_INODE_BITMAP_HI) << 32 : 0),
                .inode_table = get_le32(d + EXT4_BG_INODE_TABLE_LO) |
                        (wide ? (uint64_t) get_le32(d + EXT4_BG_INODE_TABLE_HI) << 32 : 0),
                .bitmap_csum = get_le16(d + EXT4_BG_BLOCK_BITMAP_CSUM_LO),
                .flags = get_le16(d + EXT4_BG_FLAGS),
        };
        if (sb->desc_size >= EXT4_BG_BLOCK_BITMAP_CSUM_HI_END) {
                e->bitmap_csum |= (uint32_t) get_le16(d + EXT4_BG_BLOCK_BITMAP_CSUM_HI) << 16;
                e->bitmap_csum_hi = true;
        }
        /* Without a descriptor checksum the kernel ignores the lazy-init flags. */
        if (!sb->csum && !sb->gdt_csum)
                e->flags &= (uint16_t) ~EXT4_BG_BLOCK_UNINIT;
        if (g == 0 && (e->flags & EXT4_BG_BLOCK_UNINIT))
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.bg_flags",
                                      where + EXT4_BG_FLAGS, "ext group 0's block bitmap is marked "
                                      "uninitialised");
        r = check_location(v, g, where, "block bitmap", e->block_bitmap, 1);
        if (r < 0)
                return r;
        r = check_location(v, g, where, "inode bitmap", e->inode_bitmap, 1);
        if (r < 0)
                return r;
        return check_location(v, g, where, "inode table", e->inode_table, sb->itable_blocks);
}

int ext4_desc_load(struct ext4_volume *v)
{
        const struct ext4_sb *sb = &v->sb;
        _cleanup_free_ uint8_t *block = NULL;
        int r;

        v->desc = calloc(sb->groups, sizeof *v->desc);
        block = malloc(sb->block_size);
        if (!v->desc || !block)
                return -ENOMEM;
        for (uint32_t i = 0; i < sb->gdt_blocks; i++) {
                uint64_t b = gdt_block(sb, i);

                r = ext4_read_block(v, block, b, "ext.group_desc");
                if (r < 0)
                        return r;
                for (uint32_t k = 0; k < sb->desc_per_block; k++) {
                        uint64_t g = (uint64_t) i * sb->desc_per_block + k;
                        if (g >= sb->groups)
                                break;
                        r = parse_desc(v, (uint32_t) g, block + (size_t) k * sb->desc_size,
                                       v->start + b * sb->block_size + (uint64_t) k * sb->desc_size);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The base metadata of group @g (superblock backup, descriptor blocks,
 * reserved GDT blocks, meta_bg's descriptor block), the kernel's
 * ext4_num_base_meta_clusters and e2fsprogs' ext2fs_super_and_bgd_loc2
 * taken together (the larger of the two where they differ). */
int ext4_group_base_meta(const struct ext4_sb *sb, uint32_t g, struct ext4_extent_set *out)
{
        uint64_t first = ext4_group_first_block(sb, g);
        bool super = ext4_group_has_super(sb, g);
        int r;

        if (first == 0 && sb->block_size == 1024)
                first = 1;
        if (super) {
                uint64_t old = (sb->meta_bg ? sb->first_meta_bg : sb->gdt_blocks) + (uint64_t) sb->reserved_gdt;
                r = ext4_extent_add(out, first, 1 + old);
                if (r < 0)
                        return r;
        }
        if (sb->meta_bg) {
                uint32_t idx = g % sb->desc_per_block;
                if (g / sb->desc_per_block >= sb->first_meta_bg &&
                    (idx == 0 || idx == 1 || idx == sb->desc_per_block - 1)) {
                        r = ext4_extent_add(out, first + (super ? 1 : 0), 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}
