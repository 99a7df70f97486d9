/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether an ext2/3/4 volume was cleanly shut down (FS-AWARE.md §1.7), and
 * the internal journal's blocks.
 *
 * Not clean, and so counted in use unless forced, like a dirty NTFS:
 * features we do not know (or know and do not handle), needs_recovery
 * (the state field still says "clean" on a copy of a mounted ext4), a
 * state other than exactly VALID, errors recorded, orphans pending, an MMP
 * block other than "clean", a journal that is not empty or was aborted.
 * A journal superblock or MMP block that is not what it must be is
 * corruption instead: refused.
 *
 * The journal inode is walked (extent tree or the old block map) to find
 * its superblock, and every block it names joins the always-in-use set.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "ext4-format.h"
#include "ext4-internal.h"

#define MAX_TREE_DEPTH 5
#define MAX_TREE_NODES 65536u

void ext4_not_clean(struct ext4_volume *v, const char *field, uint64_t where, const char *fmt, ...)
{
        va_list ap;

        if (!v->clean)
                return;
        v->clean = false;
        v->reason_field = field;
        v->reason_where = where;
        va_start(ap, fmt);
        vsnprintf(v->reason, sizeof v->reason, fmt, ap);
        va_end(ap);
}

struct walk {
        struct ext4_volume *v;
        struct ext4_extent_set *out;
        uint8_t *buf[MAX_TREE_DEPTH + 1];
        unsigned nodes;
        bool have0;
        uint64_t block0;
};

static int corrupt_journal(struct ext4_volume *v, const char *what)
{
        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.journal_inode", v->start,
                              "ext journal inode: %s", what);
}

static int mark(struct walk *w, uint64_t block, uint64_t len)
{
        if (block >= w->v->sb.blocks_count || len > w->v->sb.blocks_count - block)
                return corrupt_journal(w->v, "a block is past the end of the file system");
        return ext4_extent_add(w->out, block, len);
}

static int walk_extents(struct walk *w, const uint8_t *node, size_t size, unsigned level)
{
        uint16_t entries, depth;
        int r;

        if (size < 12 || get_le16(node) != EXT4_EXTENT_MAGIC)
                return corrupt_journal(w->v, "bad extent header");
        entries = get_le16(node + 2);
        depth = get_le16(node + 6);
        if (entries > (size - 12) / 12 || depth > MAX_TREE_DEPTH - level)
                return corrupt_journal(w->v, "bad extent header");
        for (unsigned i = 0; i < entries; i++) {
                const uint8_t *e = node + 12 + 12 * i;
                if (depth == 0) {
                        uint32_t lblk = get_le32(e);
                        uint32_t len = get_le16(e + 4);
                        uint64_t pblk = get_le32(e + 8) | (uint64_t) get_le16(e + 6) << 32;

                        if (len > EXT4_EXTENT_INIT_MAX_LEN)
                                len -= EXT4_EXTENT_INIT_MAX_LEN;
                        r = mark(w, pblk, len);
                        if (r < 0)
                                return r;
                        if (lblk == 0 && len > 0 && !w->have0) {
                                w->have0 = true;
                                w->block0 = pblk;
                        }
                } else {
                        uint64_t child = get_le32(e + 4) | (uint64_t) get_le16(e + 8) << 32;

                        if (++w->nodes > MAX_TREE_NODES)
                                return corrupt_journal(w->v, "extent tree too large");
                        r = mark(w, child, 1);
                        if (r < 0)
                                return r;
                        r = ext4_read_block(w->v, w->buf[level + 1], child, "ext.journal_extent");
                        if (r < 0)
                                return r;
                        r = walk_extents(w, w->buf[level + 1], w->v->sb.block_size, level + 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* An indirect block of @levels levels below it (0: it lists data blocks). */
static int walk_indirect(struct walk *w, uint64_t block, unsigned levels)
{
        uint32_t per = w->v->sb.block_size / 4;
        int r;

        if (++w->nodes > MAX_TREE_NODES)
                return corrupt_journal(w->v, "block map too large");
        r = mark(w, block, 1);
        if (r < 0)
                return r;
        r = ext4_read_block(w->v, w->buf[levels], block, "ext.journal_block_map");
        if (r < 0)
                return r;
        for (uint32_t i = 0; i < per; i++) {
                uint32_t b = get_le32(w->buf[levels] + 4 * i);
                if (b == 0)
                        continue;
                r = levels ? walk_indirect(w, b, levels - 1) : mark(w, b, 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ext4_journal_extents(struct ext4_volume *v, struct ext4_extent_set *out)
{
        const struct ext4_sb *sb = &v->sb;
        uint32_t inum = get_le32(sb->raw + EXT4_SB_JOURNAL_INUM), g, idx;
        uint8_t inode[128];
        struct walk w = { .v = v, .out = out };
        int r = 0;

        if (!(sb->compat & EXT4_COMPAT_HAS_JOURNAL) || inum == 0)
                return 0;       /* none, or external: RECOVER alone says whether it is consistent */
        if ((uint64_t) inum > (uint64_t) sb->inodes_per_group * sb->groups)
                return corrupt_journal(v, "inode number out of range");
        g = (inum - 1) / sb->inodes_per_group;
        idx = (inum - 1) % sb->inodes_per_group;
        r = ext4_read(v, inode, sizeof inode,
                      v->desc[g].inode_table * sb->block_size + (uint64_t) idx * sb->inode_size,
                      "ext.journal_inode");
        if (r < 0)
                return r;
        for (unsigned i = 0; i <= MAX_TREE_DEPTH; i++) {
                w.buf[i] = malloc(sb->block_size);
                if (!w.buf[i]) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (get_le32(inode + EXT4_INODE_FLAGS) & EXT4_INODE_FLAG_EXTENTS)
                r = walk_extents(&w, inode + EXT4_INODE_BLOCK, EXT4_INODE_BLOCK_SIZE, 0);
        else {
                const uint8_t *ib = inode + EXT4_INODE_BLOCK;
                for (unsigned i = 0; i < 15 && r >= 0; i++) {
                        uint32_t b = get_le32(ib + 4 * i);
                        if (b == 0)
                                continue;
                        if (i == 0) {
                                w.have0 = true;
                                w.block0 = b;
                        }
                        r = i < 12 ? mark(&w, b, 1) : walk_indirect(&w, b, i - 12);
                }
        }
        if (r >= 0 && !w.have0)
                r = corrupt_journal(v, "no block 0");
        if (r >= 0)
                v->journal_block0 = w.block0;
out:
        for (unsigned i = 0; i <= MAX_TREE_DEPTH; i++)
                free(w.buf[i]);
        return r;
}

static int check_journal(struct ext4_volume *v)
{
        _cleanup_free_ uint8_t *b = malloc(v->sb.block_size);
        uint64_t where = v->start + v->journal_block0 * v->sb.block_size;
        uint32_t type;
        int r;

        if (!b)
                return -ENOMEM;
        r = ext4_read_block(v, b, v->journal_block0, "ext.journal_superblock");
        if (r < 0)
                return r;
        type = get_be32(b + JBD2_OFF_BLOCKTYPE);
        if (get_be32(b + JBD2_OFF_MAGIC) != JBD2_MAGIC || (type != JBD2_SB_V1 && type != JBD2_SB_V2))
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.journal_superblock",
                                      where, "ext journal superblock has no jbd2 magic");
        if (get_be32(b + JBD2_OFF_ERRNO) != 0)
                ext4_not_clean(v, "ext.journal_superblock", where + JBD2_OFF_ERRNO,
                               "the ext journal was aborted (errno %d); run e2fsck",
                               (int) get_be32(b + JBD2_OFF_ERRNO));
        if (get_be32(b + JBD2_OFF_START) != 0)
                ext4_not_clean(v, "ext.journal_superblock", where + JBD2_OFF_START,
                               "the ext journal is not empty (the guest was not shut down cleanly); "
                               "boot the guest and shut it down, or run e2fsck");
        return 0;
}

static int check_mmp(struct ext4_volume *v)
{
        uint64_t block = get_le64(v->sb.raw + EXT4_SB_MMP_BLOCK);
        uint8_t b[8];
        uint32_t seq;
        int r;

        if (block < v->sb.first_data_block || block >= v->sb.blocks_count)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.mmp_block",
                                      v->start + EXT4_SB_OFF + EXT4_SB_MMP_BLOCK,
                                      "ext MMP block %llu is outside the file system",
                                      (unsigned long long) block);
        r = ext4_read(v, b, sizeof b, block * v->sb.block_size, "ext.mmp");
        if (r < 0)
                return r;
        if (get_le32(b) != EXT4_MMP_MAGIC)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ext.mmp",
                                      v->start + block * v->sb.block_size, "ext MMP block has no magic");
        seq = get_le32(b + 4);
        if (seq != EXT4_MMP_SEQ_CLEAN)
                ext4_not_clean(v, "ext.mmp", v->start + block * v->sb.block_size + 4,
                               "the ext MMP block says the file system is in use (sequence 0x%08x)", seq);
        return 0;
}

int ext4_check_clean(struct ext4_volume *v)
{
        const struct ext4_sb *sb = &v->sb;
        const uint8_t *s = sb->raw;
        uint64_t at = v->start + EXT4_SB_OFF;
        uint16_t state = get_le16(s + EXT4_SB_STATE);
        int r;

        if (sb->compat & ~EXT4_COMPAT_KNOWN)
                ext4_not_clean(v, "ext.feature_compat", at + EXT4_SB_FEATURE_COMPAT,
                               "ext has unsupported compatible features 0x%x", sb->compat & ~EXT4_COMPAT_KNOWN);
        if (sb->incompat & EXT4_INCOMPAT_RECOVER)
                ext4_not_clean(v, "ext.feature_incompat", at + EXT4_SB_FEATURE_INCOMPAT,
                               "the ext journal needs recovery (the guest was not shut down cleanly); "
                               "boot the guest and shut it down, or run e2fsck");
        if (state & EXT4_STATE_ERROR)
                ext4_not_clean(v, "ext.state", at + EXT4_SB_STATE, "ext has errors recorded; run e2fsck");
        if (state & EXT4_STATE_ORPHAN)
                ext4_not_clean(v, "ext.state", at + EXT4_SB_STATE, "ext orphan recovery is in progress");
        if (!(state & EXT4_STATE_VALID))
                ext4_not_clean(v, "ext.state", at + EXT4_SB_STATE,
                               "ext was not cleanly unmounted; boot the guest and shut it down, or run e2fsck");
        if (state != EXT4_STATE_VALID)
                ext4_not_clean(v, "ext.state", at + EXT4_SB_STATE, "ext state 0x%04x is not clean", state);
        if (get_le32(s + EXT4_SB_ERROR_COUNT) != 0)
                ext4_not_clean(v, "ext.error_count", at + EXT4_SB_ERROR_COUNT,
                               "ext has %u errors recorded since its last check; run e2fsck",
                               get_le32(s + EXT4_SB_ERROR_COUNT));
        if (get_le32(s + EXT4_SB_LAST_ORPHAN) != 0 || (sb->ro_compat & EXT4_RO_COMPAT_ORPHAN_PRESENT))
                ext4_not_clean(v, "ext.last_orphan", at + EXT4_SB_LAST_ORPHAN,
                               "ext has orphan inodes pending recovery");
        if (sb->incompat & EXT4_INCOMPAT_MMP) {
                r = check_mmp(v);
                if (r < 0)
                        return r;
        }
        if (v->journal_block0) {
                r = check_journal(v);
                if (r < 0)
                        return r;
        }
        return 0;
}
