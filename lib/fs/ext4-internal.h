/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ext2/3/4 scanner's shared state, one concept per file:
 *   ext4-super.c   the superblock: geometry, features, its checksum, the seed
 *   ext4-desc.c    where descriptors and backups live, reading and checking them
 *   ext4-meta.c    the always-in-use set: every group's base metadata,
 *                  bitmaps and inode tables, block 0, the journal
 *   ext4-bitmap.c  block bitmaps: read and verified, or rebuilt (BLOCK_UNINIT)
 *   ext4-clean.c   the clean-shutdown witnesses: state, features, journal, MMP
 *   ext4.c         the order of the scan and the registry entry
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../source.h"
#include "../util/problem.h"
#include "freemap.h"

/* More groups than this is refused as unsupported (4M groups: 512 TiB of
 * 4 KiB blocks), which bounds the memory of the descriptors. */
#define EXT4_MAX_GROUPS (1u << 22)

struct ext4_sb {
        uint8_t raw[1024];
        uint32_t block_size, log_block;
        uint32_t ratio, log_ratio;      /* blocks per cluster */
        uint64_t blocks_count;
        uint32_t first_data_block;
        uint32_t blocks_per_group, clusters_per_group, inodes_per_group;
        uint32_t inode_size, itable_blocks;
        uint32_t desc_size, desc_per_block;
        uint32_t groups, gdt_blocks;
        uint32_t first_meta_bg, reserved_gdt;
        uint32_t compat, incompat, ro_compat;
        uint32_t backup_bgs[2];
        uint32_t seed;                  /* metadata_csum seed */
        bool meta_bg, csum, gdt_csum;   /* csum: metadata_csum */
};

struct ext4_desc {
        uint64_t block_bitmap, inode_bitmap, inode_table;
        uint32_t bitmap_csum;           /* metadata_csum: lo | hi << 16 */
        bool bitmap_csum_hi;
        uint16_t flags;
};

struct ext4_extent_set {
        struct { uint64_t start, len; } *v;     /* in blocks */
        size_t n, cap;
};

struct ext4_volume {
        struct vc_source *src;
        uint64_t start, limit;          /* the volume on src; limit: bytes readable */
        struct vc_problems *problems;
        struct ext4_sb sb;
        struct ext4_desc *desc;         /* sb.groups of them */
        struct ext4_extent_set used;    /* always in use, sorted and merged after ext4_meta_build */
        uint64_t journal_block0;        /* the jbd2 superblock; 0: no internal journal */
        uint32_t uninit_groups;
        bool clean;
        char reason[160];
        const char *reason_field;
        uint64_t reason_where;
};

/* The raw crc32c ext4 uses: no inversion in or out. */
uint32_t ext4_crc32c_raw(uint32_t crc, const void *buf, size_t n);
uint16_t ext4_crc16(uint16_t crc, const void *buf, size_t n);

int ext4_read(struct ext4_volume *v, void *buf, size_t n, uint64_t off, const char *field);
int ext4_read_block(struct ext4_volume *v, void *buf, uint64_t block, const char *field);

/* ext4-super.c */
int ext4_super_parse(struct ext4_volume *v);
bool ext4_group_has_super(const struct ext4_sb *sb, uint32_t g);
uint64_t ext4_group_first_block(const struct ext4_sb *sb, uint32_t g);
uint64_t ext4_group_blocks(const struct ext4_sb *sb, uint32_t g);

/* ext4-desc.c */
int ext4_desc_load(struct ext4_volume *v);
int ext4_group_base_meta(const struct ext4_sb *sb, uint32_t g, struct ext4_extent_set *out);

/* ext4-meta.c */
int ext4_extent_add(struct ext4_extent_set *s, uint64_t start, uint64_t len);
void ext4_extent_normalize(struct ext4_extent_set *s);
void ext4_extent_done(struct ext4_extent_set *s);
int ext4_meta_build(struct ext4_volume *v);

/* ext4-clean.c */
void ext4_not_clean(struct ext4_volume *v, const char *field, uint64_t where, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int ext4_check_clean(struct ext4_volume *v);
int ext4_journal_extents(struct ext4_volume *v, struct ext4_extent_set *out);

/* ext4-bitmap.c */
int ext4_bitmap_walk(struct ext4_volume *v, struct vc_freemap *free_out, uint64_t *ret_free);
