/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Looking up one name in a directory's $I30 index (we only need it to find
 * hiberfil.sys in the root directory).
 *
 * Design note: a directory index is a B-tree of $FILE_NAME keys sorted by
 * NTFS's file-name collation: compare the names unit by unit after mapping
 * each UTF-16 unit through the volume's $UpCase table, shorter name first
 * on a tie.  The root node lives in $INDEX_ROOT; the other nodes are INDX
 * records of $INDEX_ALLOCATION, protected by fixups like MFT records.  We
 * descend from the root: in each node, the first entry whose key is >= the
 * name either is the name or points (NODE flag, sub-node VCN in its last 8
 * bytes) to the subtree of smaller keys; the END entry points to the
 * subtree of larger ones.  So a lookup reads one INDX record per level.
 *
 * ASCII units are folded a-z -> A-Z directly, which is what every $UpCase
 * table does for them; the first comparison that meets a non-ASCII unit
 * loads $UpCase (128 KiB, once) so that non-Latin names elsewhere in the
 * root still steer the descent exactly as Windows sorted them.  Every node
 * and entry is bounds-checked; depth is capped and each INDX record must
 * carry the VCN we asked for, so a corrupt tree cannot make us loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "ntfs-internal.h"

#define IDX_PROBLEM(id, err, field, where, ...) \
        vc_problem_add(v->problems, (id), (err), "ntfs.index." field, (where), __VA_ARGS__)
#define IDX_CORRUPT(field, where, ...) IDX_PROBLEM(VC_PROBLEM_FS_CORRUPT, -EBADMSG, field, where, __VA_ARGS__)

static int load_upcase(struct ntfs_volume *v)
{
        struct ntfs_record *rec = NULL;
        struct ntfs_stream s = {};
        uint8_t *raw = NULL;
        uint16_t *table = NULL;
        int r;

        rec = malloc(sizeof *rec);
        if (!rec)
                return -ENOMEM;
        r = ntfs_mft_read_system(v, NTFS_REC_UPCASE, "$UpCase", "ntfs.upcase.file_name", rec);
        if (r < 0)
                goto out;
        r = ntfs_stream_open(v, rec, NTFS_AT_DATA, "", "$UpCase", NULL, &s);
        if (r == 0)
                r = IDX_CORRUPT("upcase", ntfs_block_where(&rec->blk, rec->attrs_offset),
                                "$UpCase has no data");
        if (r < 0)
                goto out;
        if (s.data_size != NTFS_UPCASE_SIZE ||
            (s.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED))) {
                r = IDX_PROBLEM(VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "upcase", s.data_size_where,
                                "$UpCase is %llu bytes (flags 0x%04x), expected %u plain bytes",
                                (unsigned long long) s.data_size, s.flags, NTFS_UPCASE_SIZE);
                goto out;
        }
        raw = malloc(NTFS_UPCASE_SIZE);
        table = malloc(NTFS_UPCASE_SIZE);
        if (!raw || !table) {
                r = -ENOMEM;
                goto out;
        }
        r = ntfs_stream_pread(v, &s, raw, NTFS_UPCASE_SIZE, 0, "ntfs.upcase.data");
        if (r < 0)
                goto out;
        r = ntfs_volume_note_used(v, &s.rl);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < NTFS_UPCASE_SIZE / 2; i++)
                table[i] = get_le16(raw + 2 * i);
        v->upcase = table;
        table = NULL;
        r = 0;
out:
        ntfs_stream_done(&s);
        free(rec);
        free(raw);
        free(table);
        return r;
}

static int fold(struct ntfs_volume *v, uint16_t c, uint16_t *ret)
{
        if (c < 0x80) {
                *ret = c >= 'a' && c <= 'z' ? (uint16_t) (c - 'a' + 'A') : c;
                return 0;
        }
        if (!v->upcase) {
                int r = load_upcase(v);
                if (r < 0)
                        return r;
        }
        *ret = v->upcase[c];
        return 0;
}

/* Collation of @name (ASCII) against the UTF-16LE key name: <0, 0, >0. */
static int collate(struct ntfs_volume *v, const char *name, const uint8_t *key, size_t key_len,
                   int *ret)
{
        size_t n = strlen(name), m = MIN(n, key_len);

        for (size_t i = 0; i < m; i++) {
                uint16_t a, b;
                int r = fold(v, (uint8_t) name[i], &a);
                if (r < 0)
                        return r;
                r = fold(v, get_le16(key + 2 * i), &b);
                if (r < 0)
                        return r;
                if (a != b) {
                        *ret = a < b ? -1 : 1;
                        return 0;
                }
        }
        *ret = n < key_len ? -1 : n > key_len;
        return 0;
}

/*
 * Searches one node: the index header @ih (entries_offset and index_length
 * are relative to it) inside @node.  Returns 1 with *ret_mref when found,
 * 0 with *ret_child = VCN of the sub-node to descend into (UINT64_MAX: leaf,
 * not found), or < 0.  @where maps node offsets to disk offsets.
 */
static int search_node(struct ntfs_volume *v, const struct span *node, uint32_t ih,
                       const struct ntfs_block *where_blk, uint64_t where_base, const char *name,
                       uint64_t *ret_mref, uint64_t *ret_child)
{
#define WHERE(off) (where_blk ? ntfs_block_where(where_blk, (off)) : where_base + (off))
        uint32_t eoff = 0, ilen = 0;
        uint64_t pos, end;

        if (span_get_le32(node, ih + NTFS_IH_OFF_ENTRIES_OFFSET, &eoff) < 0 ||
            span_get_le32(node, ih + NTFS_IH_OFF_INDEX_LENGTH, &ilen) < 0)
                return IDX_CORRUPT("header", WHERE(ih), "index header is truncated");
        pos = (uint64_t) ih + eoff;
        end = (uint64_t) ih + ilen;
        if (eoff < NTFS_IH_SIZE || eoff % 8 != 0 || pos > end || end > node->len)
                return IDX_CORRUPT("entries_offset", WHERE(ih + NTFS_IH_OFF_ENTRIES_OFFSET),
                                   "index entries [%llu, %llu) are not inside the node of %zu "
                                   "bytes", (unsigned long long) pos, (unsigned long long) end,
                                   node->len);

        for (;;) {
                uint16_t elen = 0, klen = 0, flags = 0;
                uint64_t child = UINT64_MAX, mref = 0;
                struct span e = {};
                int cmp;

                if (end - pos < NTFS_IE_OFF_KEY ||
                    span_get_le16(node, pos + NTFS_IE_OFF_LENGTH, &elen) < 0)
                        return IDX_CORRUPT("entry", WHERE(pos), "index node has no END entry");
                (void) span_get_le16(node, pos + NTFS_IE_OFF_KEY_LENGTH, &klen);
                (void) span_get_le16(node, pos + NTFS_IE_OFF_FLAGS, &flags);
                (void) span_get_le64(node, pos + NTFS_IE_OFF_MREF, &mref);
                if (elen < NTFS_IE_OFF_KEY || elen % 8 != 0 || elen > end - pos)
                        return IDX_CORRUPT("entry_length", WHERE(pos + NTFS_IE_OFF_LENGTH),
                                           "index entry of %u bytes at node offset %llu is not "
                                           "inside the node", elen, (unsigned long long) pos);
                (void) span_sub(node, pos, elen, &e);
                if (flags & NTFS_IE_FLAG_NODE) {
                        if (elen < NTFS_IE_OFF_KEY + 8)
                                return IDX_CORRUPT("entry_length", WHERE(pos + NTFS_IE_OFF_LENGTH),
                                                   "index entry with a sub-node is too short");
                        (void) span_get_le64(&e, elen - 8u, &child);
                }
                if (flags & NTFS_IE_FLAG_END) {
                        *ret_child = child;
                        return 0;
                }
                {
                        uint8_t nlen = 0;
                        uint64_t key_end = NTFS_IE_OFF_KEY + (uint64_t) klen;
                        int r;

                        if (klen < NTFS_FN_OFF_NAME || key_end > elen - ((flags & NTFS_IE_FLAG_NODE) ? 8u : 0u))
                                return IDX_CORRUPT("key_length", WHERE(pos + NTFS_IE_OFF_KEY_LENGTH),
                                                   "index key of %u bytes does not hold a file "
                                                   "name inside its entry", klen);
                        (void) span_get_u8(&e, NTFS_IE_OFF_KEY + NTFS_FN_OFF_NAME_LENGTH, &nlen);
                        if (NTFS_FN_OFF_NAME + 2u * nlen > klen)
                                return IDX_CORRUPT("key_length", WHERE(pos + NTFS_IE_OFF_KEY_LENGTH),
                                                   "file name of %u units is longer than its "
                                                   "index key", nlen);
                        r = collate(v, name, e.p + NTFS_IE_OFF_KEY + NTFS_FN_OFF_NAME, nlen, &cmp);
                        if (r < 0)
                                return r;
                }
                if (cmp == 0) {
                        *ret_mref = mref;
                        return 1;
                }
                if (cmp < 0) {
                        *ret_child = child;
                        return 0;
                }
                pos += elen;
        }
#undef WHERE
}

int ntfs_index_lookup(struct ntfs_volume *v, const struct ntfs_record *dir, const char *name,
                      uint64_t *ret_mref)
{
        struct ntfs_stream alloc = {};
        struct ntfs_block blk = {};
        bool have_alloc = false;
        uint32_t itype = 0, coll = 0, bsize = 0;
        uint64_t mref = 0, child = UINT64_MAX, seen_vcn[NTFS_MAX_INDEX_DEPTH];
        struct ntfs_record *keep;
        const struct ntfs_record *irec = dir;
        struct ntfs_attr ir;
        int r;

        keep = malloc(sizeof *keep);
        if (!keep)
                return -ENOMEM;
        r = ntfs_file_find_attr(v, dir, NTFS_AT_INDEX_ROOT, "$I30", keep, &irec, &ir);
        if (r == 0)
                r = IDX_CORRUPT("root", ntfs_block_where(&dir->blk, dir->attrs_offset),
                                "directory record %llu has no $INDEX_ROOT $I30",
                                (unsigned long long) dir->recno);
        if (r < 0)
                goto out;
        if (ir.non_resident || span_get_le32(&ir.value, NTFS_IR_OFF_TYPE, &itype) < 0 ||
            span_get_le32(&ir.value, NTFS_IR_OFF_COLLATION, &coll) < 0 ||
            span_get_le32(&ir.value, NTFS_IR_OFF_BLOCK_SIZE, &bsize) < 0) {
                r = IDX_CORRUPT("root", ntfs_attr_where(irec, &ir, 0), "$INDEX_ROOT is truncated");
                goto out;
        }
        if (itype != NTFS_AT_FILE_NAME || coll != NTFS_COLLATION_FILE_NAME) {
                r = IDX_PROBLEM(VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "root",
                                ntfs_attr_where(irec, &ir, ir.value_offset),
                                "$I30 indexes attribute 0x%x with collation %u, expected file "
                                "names", itype, coll);
                goto out;
        }
        if (!IS_POWER_OF_2(bsize) || bsize < NTFS_MIN_INDEX_BLOCK || bsize > NTFS_MAX_INDEX_BLOCK) {
                r = IDX_CORRUPT("block_size",
                                ntfs_attr_where(irec, &ir, ir.value_offset + NTFS_IR_OFF_BLOCK_SIZE),
                                "index block size %u is not a power of two in %u..%u", bsize,
                                NTFS_MIN_INDEX_BLOCK, NTFS_MAX_INDEX_BLOCK);
                goto out;
        }

        r = search_node(v, &ir.value, NTFS_IR_OFF_HEADER, NULL,
                        ntfs_attr_where(irec, &ir, ir.value_offset), name, &mref, &child);

        for (unsigned depth = 0; r == 0 && child != UINT64_MAX; depth++) {
                uint64_t pos, end, vcn_in;
                uint32_t magic;
                struct span node;

                if (depth >= NTFS_MAX_INDEX_DEPTH) {
                        r = IDX_PROBLEM(VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "depth",
                                        ntfs_attr_where(irec, &ir, 0),
                                        "index is deeper than %u levels", NTFS_MAX_INDEX_DEPTH);
                        break;
                }
                for (unsigned i = 0; i < depth; i++)
                        if (seen_vcn[i] == child) {
                                r = IDX_CORRUPT("vcn", ntfs_attr_where(irec, &ir, 0),
                                                "index sub-node VCN %llu loops back",
                                                (unsigned long long) child);
                                goto out;
                        }
                seen_vcn[depth] = child;
                if (!have_alloc) {
                        r = ntfs_stream_open(v, dir, NTFS_AT_INDEX_ALLOCATION, "$I30",
                                             "$INDEX_ALLOCATION", NULL, &alloc);
                        if (r == 0)
                                r = IDX_CORRUPT("allocation", ntfs_attr_where(irec, &ir, 0),
                                                "index has sub-nodes but no $INDEX_ALLOCATION");
                        if (r < 0)
                                break;
                        have_alloc = true;
                        if (alloc.resident ||
                            (alloc.flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED |
                                            NTFS_ATTR_FLAG_SPARSE))) {
                                r = IDX_CORRUPT("allocation", alloc.attr_where,
                                                "$INDEX_ALLOCATION is resident or has flags 0x%04x",
                                                alloc.flags);
                                break;
                        }
                        r = ntfs_volume_note_used(v, &alloc.rl);
                        if (r < 0)
                                break;
                        blk.p = malloc(bsize);
                        if (!blk.p) {
                                r = -ENOMEM;
                                break;
                        }
                        blk.size = bsize;
                }
                /* Sub-node VCNs count clusters, or 512-byte blocks when an
                 * index block is smaller than a cluster. */
                if (bsize >= v->boot.cluster_size)
                        r = MUL_OVERFLOW(child, (uint64_t) v->boot.cluster_size, &pos);
                else
                        r = MUL_OVERFLOW(child, (uint64_t) NTFS_FIXUP_STRIDE, &pos);
                if (r || ADD_OVERFLOW(pos, (uint64_t) bsize, &end) || end > alloc.initialized_size) {
                        r = IDX_CORRUPT("vcn", alloc.attr_where,
                                        "index sub-node VCN %llu is outside $INDEX_ALLOCATION "
                                        "(%llu bytes)", (unsigned long long) child,
                                        (unsigned long long) alloc.initialized_size);
                        break;
                }
                r = ntfs_read_block(v, &alloc.rl, pos, &blk, "ntfs.index.allocation", alloc.attr_where);
                if (r < 0)
                        break;
                magic = get_le32(blk.p);
                if (magic != NTFS_MAGIC_INDX) {
                        r = IDX_CORRUPT("magic", ntfs_block_where(&blk, 0),
                                        "index block at VCN %llu has magic 0x%08x, not INDX",
                                        (unsigned long long) child, magic);
                        break;
                }
                r = ntfs_fixup_apply(&blk, NTFS_FIXUP_INDX, v->problems);
                if (r < 0)
                        break;
                vcn_in = get_le64(blk.p + NTFS_INDX_OFF_VCN);
                if (vcn_in != child) {
                        r = IDX_CORRUPT("vcn", ntfs_block_where(&blk, NTFS_INDX_OFF_VCN),
                                        "index block read for VCN %llu says VCN %llu",
                                        (unsigned long long) child, (unsigned long long) vcn_in);
                        break;
                }
                node = SPAN(blk.p, blk.size);
                child = UINT64_MAX;
                r = search_node(v, &node, NTFS_INDX_OFF_HEADER, &blk, 0, name, &mref, &child);
        }
out:
        ntfs_stream_done(&alloc);
        free(blk.p);
        free(keep);
        if (r > 0)
                *ret_mref = mref;
        return r;
}
