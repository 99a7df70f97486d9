/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext2/3/4 superblock: the geometry, validated field by field before
 * anything is derived from it (FS-AWARE.md §1.8 step 1), its checksum and
 * the metadata_csum seed, and the rule for which groups hold a backup.
 *
 * Design note: every count is bounded by the volume before it is used as a
 * size, so a hostile superblock cannot make us allocate or loop more than
 * the volume's own size allows.
 */
#include <errno.h>
#include <string.h>

#include "../util/crc32c.h"
#include "../util/endian.h"
#include "../util/macro.h"
#include "ext4-format.h"
#include "ext4-internal.h"

uint32_t ext4_crc32c_raw(uint32_t crc, const void *buf, size_t n)
{
        /* lib/util/crc32c inverts on the way in and out; ext4 does not. */
        return ~crc32c(~crc, buf, n);
}

uint16_t ext4_crc16(uint16_t crc, const void *buf, size_t n)
{
        const uint8_t *p = buf;

        /* CRC-16/ARC, reflected 0x8005, as gdt_csum uses it. */
        while (n--) {
                crc ^= *p++;
                for (int i = 0; i < 8; i++)
                        crc = (crc & 1) ? (uint16_t) ((crc >> 1) ^ 0xA001u) : (uint16_t) (crc >> 1);
        }
        return crc;
}

int ext4_read(struct ext4_volume *v, void *buf, size_t n, uint64_t off, const char *field)
{
        int r;

        if (off > v->limit || n > v->limit - off)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field, v->start + off,
                                      "ext4 %s at volume offset %llu is outside the volume (%llu bytes)",
                                      field, (unsigned long long) off, (unsigned long long) v->limit);
        r = vc_source_pread(v->src, buf, n, v->start + off);
        if (r < 0)
                return vc_problem_add(v->problems, VC_PROBLEM_IO, r, field, v->start + off,
                                      "cannot read ext4 %s", field);
        return 0;
}

int ext4_read_block(struct ext4_volume *v, void *buf, uint64_t block, const char *field)
{
        if (block >= v->sb.blocks_count)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field, v->start,
                                      "ext4 %s: block %llu is past the end of the file system (%llu blocks)",
                                      field, (unsigned long long) block,
                                      (unsigned long long) v->sb.blocks_count);
        return ext4_read(v, buf, v->sb.block_size, block * v->sb.block_size, field);
}

static bool is_pow2(uint64_t x)
{
        return x && !(x & (x - 1));
}

static bool test_root(uint32_t a, uint32_t b)
{
        uint64_t n = b;

        while (n < a)
                n *= b;
        return n == a;
}

bool ext4_group_has_super(const struct ext4_sb *sb, uint32_t g)
{
        if (g == 0)
                return true;
        if (sb->compat & EXT4_COMPAT_SPARSE_SUPER2)
                return g == sb->backup_bgs[0] || g == sb->backup_bgs[1];
        if (g <= 1 || !(sb->ro_compat & EXT4_RO_COMPAT_SPARSE_SUPER))
                return true;
        if (!(g & 1))
                return false;
        return test_root(g, 3) || test_root(g, 5) || test_root(g, 7);
}

uint64_t ext4_group_first_block(const struct ext4_sb *sb, uint32_t g)
{
        return sb->first_data_block + (uint64_t) g * sb->blocks_per_group;
}

uint64_t ext4_group_blocks(const struct ext4_sb *sb, uint32_t g)
{
        return MIN((uint64_t) sb->blocks_per_group, sb->blocks_count - ext4_group_first_block(sb, g));
}

int ext4_super_parse(struct ext4_volume *v)
{
        struct ext4_sb *sb = &v->sb;
        const uint8_t *s = sb->raw;
        uint32_t log_cluster, rev;
        uint64_t data_blocks;
        int r;

        r = ext4_read(v, sb->raw, EXT4_SB_SIZE, EXT4_SB_OFF, "ext.superblock");
        if (r < 0)
                return r;
        if (get_le16(s + EXT4_SB_MAGIC) != EXT4_MAGIC)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.magic",
                                      v->start + EXT4_SB_OFF + EXT4_SB_MAGIC, "no ext superblock magic");

        rev = get_le32(s + EXT4_SB_REV_LEVEL);
        sb->compat = rev ? get_le32(s + EXT4_SB_FEATURE_COMPAT) : 0;
        sb->incompat = rev ? get_le32(s + EXT4_SB_FEATURE_INCOMPAT) : 0;
        sb->ro_compat = rev ? get_le32(s + EXT4_SB_FEATURE_RO_COMPAT) : 0;
        sb->csum = sb->ro_compat & EXT4_RO_COMPAT_METADATA_CSUM;
        sb->gdt_csum = sb->ro_compat & EXT4_RO_COMPAT_GDT_CSUM;
        sb->meta_bg = sb->incompat & EXT4_INCOMPAT_META_BG;

        /* The superblock checksum first: nothing below is trusted before. */
        if (sb->csum) {
                if (s[EXT4_SB_CHECKSUM_TYPE] != 1)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.checksum_type",
                                              v->start + EXT4_SB_OFF + EXT4_SB_CHECKSUM_TYPE,
                                              "ext4 superblock checksum type %u is not crc32c",
                                              s[EXT4_SB_CHECKSUM_TYPE]);
                if (ext4_crc32c_raw(~0u, s, EXT4_SB_CHECKSUM) != get_le32(s + EXT4_SB_CHECKSUM))
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.checksum",
                                              v->start + EXT4_SB_OFF + EXT4_SB_CHECKSUM,
                                              "ext4 superblock checksum mismatch");
                if (sb->gdt_csum)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.feature_ro_compat",
                                              v->start + EXT4_SB_OFF + EXT4_SB_FEATURE_RO_COMPAT,
                                              "ext4 has both metadata_csum and uninit_bg");
                sb->seed = (sb->incompat & EXT4_INCOMPAT_CSUM_SEED) ?
                        get_le32(s + EXT4_SB_CHECKSUM_SEED) :
                        ext4_crc32c_raw(~0u, s + EXT4_SB_UUID, 16);
        }

        sb->log_block = get_le32(s + EXT4_SB_LOG_BLOCK_SIZE);
        if (sb->log_block > 6)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.log_block_size",
                                      v->start + EXT4_SB_OFF + EXT4_SB_LOG_BLOCK_SIZE,
                                      "ext block size 1024 << %u is too large", sb->log_block);
        sb->block_size = 1024u << sb->log_block;
        log_cluster = get_le32(s + EXT4_SB_LOG_CLUSTER_SIZE);
        if (sb->ro_compat & EXT4_RO_COMPAT_BIGALLOC) {
                if (log_cluster < sb->log_block || log_cluster - sb->log_block > 16)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                              "ext.log_cluster_size",
                                              v->start + EXT4_SB_OFF + EXT4_SB_LOG_CLUSTER_SIZE,
                                              "ext4 bigalloc cluster size 1024 << %u is invalid for "
                                              "%u-byte blocks", log_cluster, sb->block_size);
                sb->log_ratio = log_cluster - sb->log_block;
        } else
                sb->log_ratio = 0;
        sb->ratio = 1u << sb->log_ratio;

        sb->first_data_block = get_le32(s + EXT4_SB_FIRST_DATA_BLOCK);
        if (sb->first_data_block != (sb->block_size == 1024 && sb->ratio == 1 ? 1u : 0u))
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.first_data_block",
                                      v->start + EXT4_SB_OFF + EXT4_SB_FIRST_DATA_BLOCK,
                                      "ext first data block %u is wrong for %u-byte blocks",
                                      sb->first_data_block, sb->block_size);

        sb->clusters_per_group = get_le32(s + EXT4_SB_CLUSTERS_PER_GROUP);
        sb->blocks_per_group = get_le32(s + EXT4_SB_BLOCKS_PER_GROUP);
        if (sb->clusters_per_group == 0 || sb->clusters_per_group % 8 ||
            sb->clusters_per_group > 8 * sb->block_size ||
            (uint64_t) sb->clusters_per_group << sb->log_ratio != sb->blocks_per_group)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.clusters_per_group",
                                      v->start + EXT4_SB_OFF + EXT4_SB_CLUSTERS_PER_GROUP,
                                      "ext %u clusters and %u blocks per group do not fit %u-byte blocks",
                                      sb->clusters_per_group, sb->blocks_per_group, sb->block_size);

        sb->blocks_count = get_le32(s + EXT4_SB_BLOCKS_COUNT_LO);
        if (sb->incompat & EXT4_INCOMPAT_64BIT)
                sb->blocks_count |= (uint64_t) get_le32(s + EXT4_SB_BLOCKS_COUNT_HI) << 32;
        if (sb->blocks_count <= sb->first_data_block || sb->blocks_count > v->limit / sb->block_size)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.blocks_count",
                                      v->start + EXT4_SB_OFF + EXT4_SB_BLOCKS_COUNT_LO,
                                      "ext file system of %llu %u-byte blocks does not fit its volume "
                                      "(%llu bytes)", (unsigned long long) sb->blocks_count,
                                      sb->block_size, (unsigned long long) v->limit);
        data_blocks = sb->blocks_count - sb->first_data_block;
        if (DIV_ROUND_UP(data_blocks, sb->blocks_per_group) > EXT4_MAX_GROUPS)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "ext.blocks_per_group",
                                      v->start + EXT4_SB_OFF + EXT4_SB_BLOCKS_PER_GROUP,
                                      "ext file system has more than %u block groups", EXT4_MAX_GROUPS);
        sb->groups = (uint32_t) DIV_ROUND_UP(data_blocks, sb->blocks_per_group);

        sb->inodes_per_group = get_le32(s + EXT4_SB_INODES_PER_GROUP);
        sb->inode_size = rev ? get_le16(s + EXT4_SB_INODE_SIZE) : 128;
        if (sb->inodes_per_group == 0 || sb->inodes_per_group > 8 * sb->block_size ||
            sb->inode_size < 128 || !is_pow2(sb->inode_size) || sb->inode_size > sb->block_size)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.inodes_per_group",
                                      v->start + EXT4_SB_OFF + EXT4_SB_INODES_PER_GROUP,
                                      "ext %u inodes of %u bytes per group are invalid",
                                      sb->inodes_per_group, sb->inode_size);
        sb->itable_blocks = (uint32_t) DIV_ROUND_UP((uint64_t) sb->inodes_per_group * sb->inode_size,
                                                    sb->block_size);

        if (sb->incompat & EXT4_INCOMPAT_64BIT) {
                sb->desc_size = get_le16(s + EXT4_SB_DESC_SIZE);
                if (sb->desc_size < EXT4_DESC_SIZE_64BIT_MIN || sb->desc_size > EXT4_DESC_SIZE_MAX ||
                    !is_pow2(sb->desc_size) || sb->desc_size > sb->block_size)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.desc_size",
                                              v->start + EXT4_SB_OFF + EXT4_SB_DESC_SIZE,
                                              "ext4 group descriptor size %u is invalid", sb->desc_size);
        } else
                sb->desc_size = EXT4_DESC_SIZE;
        sb->desc_per_block = sb->block_size / sb->desc_size;
        sb->gdt_blocks = DIV_ROUND_UP(sb->groups, sb->desc_per_block);

        sb->reserved_gdt = rev ? get_le16(s + EXT4_SB_RESERVED_GDT_BLOCKS) : 0;
        sb->first_meta_bg = sb->meta_bg ? get_le32(s + EXT4_SB_FIRST_META_BG) : 0;
        if (sb->first_meta_bg > sb->gdt_blocks)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.first_meta_bg",
                                      v->start + EXT4_SB_OFF + EXT4_SB_FIRST_META_BG,
                                      "ext4 first meta_bg %u is past the %u descriptor blocks",
                                      sb->first_meta_bg, sb->gdt_blocks);
        if ((uint64_t) sb->gdt_blocks + sb->reserved_gdt + 2 > sb->blocks_per_group &&
            !sb->meta_bg)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.reserved_gdt_blocks",
                                      v->start + EXT4_SB_OFF + EXT4_SB_RESERVED_GDT_BLOCKS,
                                      "ext %u descriptor and %u reserved blocks do not fit a group",
                                      sb->gdt_blocks, sb->reserved_gdt);
        sb->backup_bgs[0] = get_le32(s + EXT4_SB_BACKUP_BGS);
        sb->backup_bgs[1] = get_le32(s + EXT4_SB_BACKUP_BGS + 4);
        return 0;
}
