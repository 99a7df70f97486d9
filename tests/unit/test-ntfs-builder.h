/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny synthetic NTFS volume in memory, for the NTFS unit tests.
 *
 * Records are kept unprotected in nb->rec[] and edited there; nb_commit()
 * writes them (with fixups), the boot sector, $Bitmap, the restart pages
 * and file data into nb->disk.  Tests then poke nb->disk (or a record and
 * commit again) and call ntfs_scan() on a memory source.
 *
 * Default layout, 4 KiB clusters, 256 clusters, partition at 64 KiB of a
 * disk with 64 KiB of slack after the partition (nb_default()):
 *
 *   LCN 0-1    $Boot            LCN 4-11   $MFT (32 records of 1 KiB)
 *   LCN 12     $MFTMirr         LCN 16-79  $LogFile (256 KiB, all 0xFF)
 *   LCN 80     $Bitmap          LCN 96-127 $UpCase (identity + ASCII)
 *   LCN 128-   index blocks     LCN 160-   file data
 *
 * Everything else is free, so the expected free map is exact.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/ntfs-format.h"
#include "util/endian.h"

#define NB_RECORDS 32
#define NB_RS 1024u
#define NB_HOLE UINT64_MAX
#define NB_MAX_RUNS 64

struct nb_run {
        uint64_t lcn, len;              /* lcn NB_HOLE: sparse */
};

struct nb {
        uint8_t *disk;
        size_t disk_size;
        uint64_t part_start, part_size;
        uint32_t cs;
        uint64_t nclusters;
        uint8_t rec[NB_RECORDS][NB_RS];
        bool used[NB_RECORDS];
        struct nb_run mft[8];           /* $MFT's runs, in VCN order */
        size_t mft_n;
        uint8_t bitmap[4096];           /* $Bitmap content (ceil(n/8) rounded to 8) */
        uint64_t bitmap_lcn, mirr_lcn, k;    /* k: clusters per 4 KiB (>= 1) */
        uint16_t usn;
        bool logfile_empty;             /* commit writes 0xFF over $LogFile */
};

static inline uint64_t nb_off(const struct nb *b, uint64_t lcn)
{
        return b->part_start + lcn * b->cs;
}

static inline uint8_t *nb_at(struct nb *b, uint64_t lcn)
{
        return b->disk + nb_off(b, lcn);
}

static inline void nb_mark(struct nb *b, uint64_t lcn, uint64_t len, bool used)
{
        for (uint64_t i = lcn; i < lcn + len; i++) {
                if (used)
                        b->bitmap[i / 8] |= (uint8_t) (1u << (i % 8));
                else
                        b->bitmap[i / 8] &= (uint8_t) ~(1u << (i % 8));
        }
}

/* ---- mapping pairs ------------------------------------------------------- */

static inline unsigned nb_sbytes(int64_t v)
{
        unsigned n = 1;
        while (n < 8) {
                int64_t lo = -(1ll << (8 * n - 1)), hi = (1ll << (8 * n - 1)) - 1;
                if (v >= lo && v <= hi)
                        break;
                n++;
        }
        return n;
}

/* Encodes @n runs; returns the bytes written (terminator included). */
static inline size_t nb_encode_runs(uint8_t *out, const struct nb_run *runs, size_t n)
{
        size_t o = 0;
        int64_t prev = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned lw = nb_sbytes((int64_t) runs[i].len), dw = 0;
                int64_t delta = 0;

                if (runs[i].lcn != NB_HOLE) {
                        delta = (int64_t) runs[i].lcn - prev;
                        dw = nb_sbytes(delta);
                        prev = (int64_t) runs[i].lcn;
                }
                out[o++] = (uint8_t) (lw | dw << 4);
                for (unsigned k = 0; k < lw; k++)
                        out[o++] = (uint8_t) (runs[i].len >> (8 * k));
                for (unsigned k = 0; k < dw; k++)
                        out[o++] = (uint8_t) ((uint64_t) delta >> (8 * k));
        }
        out[o++] = 0;
        return o;
}

/* ---- records ------------------------------------------------------------- */

static inline void nb_rec_init(struct nb *b, unsigned r, uint16_t flags, uint16_t seq, uint64_t base_ref)
{
        uint8_t *p = b->rec[r];

        memset(p, 0, NB_RS);
        put_le32(p, NTFS_MAGIC_FILE);
        put_le16(p + 4, 0x30);
        put_le16(p + 6, 1 + NB_RS / 512);
        put_le16(p + NTFS_MFT_OFF_SEQUENCE, seq);
        put_le16(p + NTFS_MFT_OFF_LINK_COUNT, 1);
        put_le16(p + NTFS_MFT_OFF_ATTRS_OFFSET, 0x38);
        put_le16(p + NTFS_MFT_OFF_FLAGS, flags);
        put_le32(p + NTFS_MFT_OFF_BYTES_USED, 0x38 + 8);
        put_le32(p + NTFS_MFT_OFF_BYTES_ALLOCATED, NB_RS);
        put_le64(p + NTFS_MFT_OFF_BASE_REF, base_ref);
        put_le16(p + NTFS_MFT_OFF_NEXT_ATTR_ID, 0);
        put_le32(p + NTFS_MFT_OFF_RECORD_NUMBER, r);
        put_le32(p + 0x38, NTFS_AT_END);
        b->used[r] = true;
}

/* Room for an attribute of @len bytes before the end marker; returns its offset. */
static inline uint32_t nb_rec_alloc(struct nb *b, unsigned r, uint32_t len)
{
        uint8_t *p = b->rec[r];
        uint32_t used = get_le32(p + NTFS_MFT_OFF_BYTES_USED);
        uint32_t at = used - 8;

        if (used + len > NB_RS)
                abort();
        memset(p + at, 0, len);
        put_le32(p + at + len, NTFS_AT_END);
        put_le32(p + NTFS_MFT_OFF_BYTES_USED, used + len);
        return at;
}

static inline uint16_t nb_next_id(struct nb *b, unsigned r)
{
        uint16_t id = get_le16(b->rec[r] + NTFS_MFT_OFF_NEXT_ATTR_ID);
        put_le16(b->rec[r] + NTFS_MFT_OFF_NEXT_ATTR_ID, id + 1);
        return id;
}

static inline void nb_put_name(uint8_t *p, const char *name)
{
        for (size_t i = 0; name && name[i]; i++)
                put_le16(p + 2 * i, (uint8_t) name[i]);
}

/* Returns the attribute's offset in the record. */
static inline uint32_t nb_add_resident(struct nb *b, unsigned r, uint32_t type, const char *name,
                                       const void *value, uint32_t vlen)
{
        size_t nlen = name ? strlen(name) : 0;
        uint32_t voff = 0x18 + ((2 * nlen + 7) & ~7u);
        uint32_t len = (voff + vlen + 7) & ~7u;
        uint32_t at = nb_rec_alloc(b, r, len);
        uint8_t *a = b->rec[r] + at;

        put_le32(a, type);
        put_le32(a + 4, len);
        a[8] = 0;
        a[9] = (uint8_t) nlen;
        put_le16(a + 0x0A, 0x18);
        put_le16(a + 0x0E, nb_next_id(b, r));
        put_le32(a + 0x10, vlen);
        put_le16(a + 0x14, (uint16_t) voff);
        nb_put_name(a + 0x18, name);
        if (vlen)
                memcpy(a + voff, value, vlen);
        return at;
}

static inline uint32_t nb_add_nonresident(struct nb *b, unsigned r, uint32_t type, const char *name,
                                          const struct nb_run *runs, size_t n, uint64_t lowest_vcn,
                                          uint64_t alloc, uint64_t data, uint64_t init, uint16_t flags)
{
        uint8_t mp[1024];
        size_t nlen = name ? strlen(name) : 0, mplen = nb_encode_runs(mp, runs, n);
        uint32_t mpoff = 0x40 + ((2 * nlen + 7) & ~7u);
        uint32_t len = (mpoff + (uint32_t) mplen + 7) & ~7u;
        uint32_t at = nb_rec_alloc(b, r, len);
        uint8_t *a = b->rec[r] + at;
        uint64_t vcns = 0;

        for (size_t i = 0; i < n; i++)
                vcns += runs[i].len;
        put_le32(a, type);
        put_le32(a + 4, len);
        a[8] = 1;
        a[9] = (uint8_t) nlen;
        put_le16(a + 0x0A, 0x40);
        put_le16(a + 0x0C, flags);
        put_le16(a + 0x0E, nb_next_id(b, r));
        put_le64(a + 0x10, lowest_vcn);
        put_le64(a + 0x18, lowest_vcn + vcns - 1);
        put_le16(a + 0x20, (uint16_t) mpoff);
        if (lowest_vcn == 0) {
                put_le64(a + 0x28, alloc);
                put_le64(a + 0x30, data);
                put_le64(a + 0x38, init);
        }
        nb_put_name(a + 0x40, name);
        memcpy(a + mpoff, mp, mplen);
        return at;
}

static inline uint32_t nb_add_filename(struct nb *b, unsigned r, uint64_t parent, const char *name)
{
        uint8_t v[0x42 + 2 * 255] = {};
        size_t n = strlen(name);

        put_le64(v + NTFS_FN_OFF_PARENT, parent | (uint64_t) 5 << 48);
        v[NTFS_FN_OFF_NAME_LENGTH] = (uint8_t) n;
        v[NTFS_FN_OFF_NAMESPACE] = 3;
        nb_put_name(v + NTFS_FN_OFF_NAME, name);
        return nb_add_resident(b, r, NTFS_AT_FILE_NAME, NULL, v, (uint32_t) (0x42 + 2 * n));
}

/* Attribute-list entry (26 bytes + name, 8-aligned) appended to @buf. */
static inline size_t nb_al_entry(uint8_t *buf, size_t at, uint32_t type, const char *name,
                                 uint64_t vcn, uint64_t recno, uint16_t seq, uint16_t id)
{
        size_t nlen = name ? strlen(name) : 0;
        size_t len = (0x1A + 2 * nlen + 7) & ~(size_t) 7;
        uint8_t *e = buf + at;

        memset(e, 0, len);
        put_le32(e + NTFS_AL_OFF_TYPE, type);
        put_le16(e + NTFS_AL_OFF_LENGTH, (uint16_t) len);
        e[NTFS_AL_OFF_NAME_LENGTH] = (uint8_t) nlen;
        e[NTFS_AL_OFF_NAME_OFFSET] = 0x1A;
        put_le64(e + NTFS_AL_OFF_START_VCN, vcn);
        put_le64(e + NTFS_AL_OFF_MREF, recno | (uint64_t) seq << 48);
        put_le16(e + NTFS_AL_OFF_ATTR_ID, id);
        nb_put_name(e + 0x1A, name);
        return at + len;
}

/* Finds attribute @type (n-th occurrence) in record @r; offset or 0. */
static inline uint32_t nb_find(struct nb *b, unsigned r, uint32_t type, unsigned nth)
{
        uint8_t *p = b->rec[r];
        uint32_t at = get_le16(p + NTFS_MFT_OFF_ATTRS_OFFSET);

        while (get_le32(p + at) != NTFS_AT_END) {
                if (get_le32(p + at) == type && nth-- == 0)
                        return at;
                at += get_le32(p + at + 4);
        }
        return 0;
}

/* Removes the attribute at @at from record @r. */
static inline void nb_remove(struct nb *b, unsigned r, uint32_t at)
{
        uint8_t *p = b->rec[r];
        uint32_t len = get_le32(p + at + 4), used = get_le32(p + NTFS_MFT_OFF_BYTES_USED);

        memmove(p + at, p + at + len, used - at - len);
        put_le32(p + NTFS_MFT_OFF_BYTES_USED, used - len);
}

/* ---- fixups and placement ---------------------------------------------- */

static inline void nb_protect(uint8_t *blk, uint32_t size, uint16_t usa_off, uint16_t usn)
{
        uint32_t n = size / 512;

        put_le16(blk + 4, usa_off);
        put_le16(blk + 6, (uint16_t) (n + 1));
        put_le16(blk + usa_off, usn);
        for (uint32_t k = 1; k <= n; k++) {
                memcpy(blk + usa_off + 2 * k, blk + k * 512 - 2, 2);
                put_le16(blk + k * 512 - 2, usn);
        }
}

/* Disk offset of byte @pos of $MFT. */
static inline uint64_t nb_mft_off(const struct nb *b, uint64_t pos)
{
        uint64_t vcn = pos / b->cs, base = 0;

        for (size_t i = 0; i < b->mft_n; i++) {
                if (vcn < base + b->mft[i].len)
                        return nb_off(b, b->mft[i].lcn + (vcn - base)) + pos % b->cs;
                base += b->mft[i].len;
        }
        abort();
}

static inline uint64_t nb_rec_disk(const struct nb *b, unsigned r)
{
        return nb_mft_off(b, (uint64_t) r * NB_RS);
}

static inline void nb_write_record(struct nb *b, unsigned r)
{
        uint8_t tmp[NB_RS];

        memcpy(tmp, b->rec[r], NB_RS);
        nb_protect(tmp, NB_RS, get_le16(tmp + 4), b->usn);
        for (uint32_t o = 0; o < NB_RS; o += 512)
                memcpy(b->disk + nb_mft_off(b, (uint64_t) r * NB_RS + o), tmp + o, 512);
}

static inline void nb_write_boot(struct nb *b)
{
        uint8_t *s = b->disk + b->part_start;
        uint64_t mft_lcn = b->mft[0].lcn;

        memset(s, 0, 512);
        s[0] = 0xEB; s[1] = 0x52; s[2] = 0x90;
        memcpy(s + NTFS_BOOT_OFF_OEM_ID, NTFS_OEM_ID, 8);
        put_le16(s + NTFS_BOOT_OFF_BYTES_PER_SECTOR, 512);
        s[NTFS_BOOT_OFF_SECTORS_PER_CLUS] = b->cs / 512 <= 128 ? (uint8_t) (b->cs / 512)
                                                               : (uint8_t) (256 - __builtin_ctz(b->cs / 512));
        s[NTFS_BOOT_OFF_MEDIA] = 0xF8;
        put_le64(s + NTFS_BOOT_OFF_TOTAL_SECTORS, b->nclusters * b->cs / 512);
        put_le64(s + NTFS_BOOT_OFF_MFT_LCN, mft_lcn);
        put_le64(s + NTFS_BOOT_OFF_MFTMIRR_LCN, b->mirr_lcn);
        s[NTFS_BOOT_OFF_CLUSTERS_PER_MFT] = 0xF6;         /* 1024 */
        s[NTFS_BOOT_OFF_CLUSTERS_PER_INDX] = 0xF4;        /* 4096 */
        s[0x1FE] = 0x55; s[0x1FF] = 0xAA;
}

/* Writes everything; bumps the update sequence number like a real writer. */
static inline void nb_commit(struct nb *b)
{
        b->usn = (uint16_t) (b->usn + 1 ? b->usn + 1 : 1);
        nb_write_boot(b);
        for (unsigned r = 0; r < NB_RECORDS; r++)
                if (b->used[r])
                        nb_write_record(b, r);
        memcpy(nb_at(b, b->bitmap_lcn), b->bitmap, (b->nclusters + 63) / 64 * 8);
}

/* ---- the default volume -------------------------------------------------- */

#define NB_LCN_LOG 16
#define NB_LOG_CLUSTERS 64
#define NB_LCN_BITMAP 80
#define NB_LCN_UPCASE 96
#define NB_LCN_INDEX 128
#define NB_LCN_DATA 160

/* The system file @r with a $STANDARD_INFORMATION and its $FILE_NAME. */
static inline void nb_system(struct nb *b, unsigned r, const char *name, uint16_t flags)
{
        uint8_t si[0x48] = {};

        nb_rec_init(b, r, NTFS_MFT_FLAG_IN_USE | flags, r ? (uint16_t) r : 1, 0);
        nb_add_resident(b, r, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si);
        nb_add_filename(b, r, NTFS_REC_ROOT, name);
}

/* The $MFT record's unnamed $DATA from b->mft[] (one extent). */
static inline void nb_mft_data(struct nb *b)
{
        uint64_t clusters = 0;
        struct nb_run runs[8];

        for (size_t i = 0; i < b->mft_n; i++) {
                runs[i] = b->mft[i];
                clusters += b->mft[i].len;
        }
        nb_add_nonresident(b, 0, NTFS_AT_DATA, NULL, runs, b->mft_n, 0, clusters * b->cs,
                           (uint64_t) NB_RECORDS * NB_RS, (uint64_t) NB_RECORDS * NB_RS, 0);
}

/* An empty root index: $INDEX_ROOT with just the END entry. */
static inline void nb_root_index_empty(struct nb *b)
{
        uint8_t v[0x20 + 0x10] = {};

        put_le32(v + NTFS_IR_OFF_TYPE, NTFS_AT_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_COLLATION, NTFS_COLLATION_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_BLOCK_SIZE, 4096);
        v[0x0C] = (uint8_t) (4096 >= b->cs ? 4096 / b->cs : 0xF4);
        put_le32(v + 0x10 + NTFS_IH_OFF_ENTRIES_OFFSET, 0x10);
        put_le32(v + 0x10 + NTFS_IH_OFF_INDEX_LENGTH, 0x20);
        put_le32(v + 0x10 + NTFS_IH_OFF_ALLOCATED_SIZE, 0x20);
        put_le16(v + 0x20 + NTFS_IE_OFF_LENGTH, 0x10);
        put_le16(v + 0x20 + NTFS_IE_OFF_FLAGS, NTFS_IE_FLAG_END);
        nb_add_resident(b, NTFS_REC_ROOT, NTFS_AT_INDEX_ROOT, "$I30", v, sizeof v);
}

/*
 * A volume of @nclusters clusters of @cs bytes at @part_start, the MFT in
 * the runs given (NULL: contiguous at 16 KiB).  The disk has 64 KiB after
 * the partition, which itself ends with a 512-byte backup boot sector.
 */
static inline void nb_init(struct nb *b, uint32_t cs, uint64_t nclusters, uint64_t part_start,
                           const struct nb_run *mft, size_t mft_n)
{
        uint64_t k = 4096 / cs ? 4096 / cs : 1;         /* clusters per 4 KiB */
        uint8_t vi[NTFS_VI_SIZE] = {};
        uint8_t label[8];

        memset(b, 0, sizeof *b);
        b->cs = cs;
        b->nclusters = nclusters;
        b->part_start = part_start;
        b->part_size = nclusters * cs + 512;
        b->disk_size = part_start + b->part_size + 65536;
        b->disk = calloc(1, b->disk_size);
        if (!b->disk)
                abort();
        if (mft) {
                memcpy(b->mft, mft, mft_n * sizeof *mft);
                b->mft_n = mft_n;
        } else {
                b->mft[0] = (struct nb_run) { 4 * k, (uint64_t) NB_RECORDS * NB_RS / cs };
                b->mft_n = 1;
        }
        b->bitmap_lcn = NB_LCN_BITMAP * k;
        b->mirr_lcn = 12 * k;
        b->k = k;
        b->logfile_empty = true;

        /* padding bits after the last cluster are set, as mkntfs does */
        nb_mark(b, nclusters, ((nclusters + 63) / 64) * 64 - nclusters, true);
        nb_mark(b, 0, 8192 / cs ? 8192 / cs : 1, true);                /* $Boot */
        for (size_t i = 0; i < b->mft_n; i++)
                nb_mark(b, b->mft[i].lcn, b->mft[i].len, true);
        nb_mark(b, 12 * k, k, true);                                   /* $MFTMirr */
        nb_mark(b, NB_LCN_LOG * k, NB_LOG_CLUSTERS * k, true);
        nb_mark(b, b->bitmap_lcn, k, true);
        nb_mark(b, NB_LCN_UPCASE * k, 32 * k, true);

        nb_system(b, NTFS_REC_MFT, "$MFT", 0);
        nb_mft_data(b);
        nb_system(b, NTFS_REC_MFTMIRR, "$MFTMirr", 0);
        {
                struct nb_run r = { 12 * k, k };
                nb_add_nonresident(b, 1, NTFS_AT_DATA, NULL, &r, 1, 0, k * cs, 4096, 4096, 0);
        }
        nb_system(b, NTFS_REC_LOGFILE, "$LogFile", 0);
        {
                struct nb_run r = { NB_LCN_LOG * k, NB_LOG_CLUSTERS * k };
                uint64_t sz = (uint64_t) NB_LOG_CLUSTERS * k * cs;
                nb_add_nonresident(b, 2, NTFS_AT_DATA, NULL, &r, 1, 0, sz, sz, sz, 0);
        }
        nb_system(b, NTFS_REC_VOLUME, "$Volume", 0);
        nb_put_name(label, "Syn");
        nb_add_resident(b, 3, NTFS_AT_VOLUME_NAME, NULL, label, 6);
        vi[NTFS_VI_OFF_MAJOR] = 3;
        vi[NTFS_VI_OFF_MINOR] = 1;
        nb_add_resident(b, 3, NTFS_AT_VOLUME_INFORMATION, NULL, vi, sizeof vi);
        nb_system(b, 4, "$AttrDef", 0);
        nb_system(b, NTFS_REC_ROOT, ".", NTFS_MFT_FLAG_DIRECTORY);
        nb_root_index_empty(b);
        nb_system(b, NTFS_REC_BITMAP, "$Bitmap", 0);
        {
                struct nb_run r = { b->bitmap_lcn, k };
                uint64_t sz = (nclusters + 63) / 64 * 8;
                nb_add_nonresident(b, 6, NTFS_AT_DATA, NULL, &r, 1, 0, k * cs, sz, sz, 0);
        }
        nb_system(b, NTFS_REC_BOOT, "$Boot", 0);
        nb_system(b, NTFS_REC_BADCLUS, "$BadClus", 0);
        nb_add_resident(b, 8, NTFS_AT_DATA, NULL, NULL, 0);
        {
                struct nb_run r = { NB_HOLE, nclusters };
                nb_add_nonresident(b, 8, NTFS_AT_DATA, "$Bad", &r, 1, 0, nclusters * cs, nclusters * cs,
                                   nclusters * cs, NTFS_ATTR_FLAG_SPARSE);
        }
        nb_system(b, 9, "$Secure", 0);
        nb_system(b, NTFS_REC_UPCASE, "$UpCase", 0);
        {
                struct nb_run r = { NB_LCN_UPCASE * k, 32 * k };
                nb_add_nonresident(b, 10, NTFS_AT_DATA, NULL, &r, 1, 0, 131072, 131072, 131072, 0);
        }
        nb_system(b, 11, "$Extend", NTFS_MFT_FLAG_DIRECTORY);
        for (unsigned r = 12; r < 16; r++)
                nb_system(b, r, "", 0);

        /* $LogFile never written; $UpCase = identity with a-z and 0xE0-0xFE folded */
        memset(nb_at(b, NB_LCN_LOG * k), 0xFF, (size_t) NB_LOG_CLUSTERS * k * cs);
        for (uint32_t c = 0; c < 65536; c++) {
                uint32_t u = c;
                if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7))
                        u = c - 0x20;
                else if (c >= 0x100 && c < 0x180 && (c & 1))
                        u = c - 1;      /* Latin Extended-A pairs */
                put_le16(nb_at(b, NB_LCN_UPCASE * k) + 2 * c, (uint16_t) u);
        }
        nb_commit(b);
}

static inline void nb_default(struct nb *b)
{
        nb_init(b, 4096, 256, 65536, NULL, 0);
}

/* ---- files and the root index -------------------------------------------- */

/* A user file in record @r (>= 16) with @n clusters of data at @lcn
 * (marked used), the first bytes of which are @head. */
static inline void nb_file(struct nb *b, unsigned r, const char *name, uint64_t lcn, uint64_t n,
                           const void *head, size_t head_len)
{
        uint8_t si[0x48] = {};
        struct nb_run run = { lcn, n };

        nb_rec_init(b, r, NTFS_MFT_FLAG_IN_USE, (uint16_t) (r + 100), 0);
        nb_add_resident(b, r, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si);
        nb_add_filename(b, r, NTFS_REC_ROOT, name);
        nb_add_nonresident(b, r, NTFS_AT_DATA, NULL, &run, 1, 0, n * b->cs, n * b->cs, n * b->cs, 0);
        nb_mark(b, lcn, n, true);
        memset(nb_at(b, lcn), 0x5A, n * b->cs);
        memcpy(nb_at(b, lcn), head, head_len);
}

/* One $I30 entry for @name -> record @r (sequence r + 100); returns its length. */
static inline size_t nb_index_entry(uint8_t *out, const char *name, unsigned r, bool node,
                                    uint64_t child)
{
        size_t n = strlen(name), klen = 0x42 + 2 * n;
        size_t len = ((0x10 + klen + 7) & ~(size_t) 7) + (node ? 8 : 0);

        memset(out, 0, len);
        put_le64(out + NTFS_IE_OFF_MREF, r | (uint64_t) (r + 100) << 48);
        put_le16(out + NTFS_IE_OFF_LENGTH, (uint16_t) len);
        put_le16(out + NTFS_IE_OFF_KEY_LENGTH, (uint16_t) klen);
        put_le16(out + NTFS_IE_OFF_FLAGS, node ? NTFS_IE_FLAG_NODE : 0);
        put_le64(out + 0x10 + NTFS_FN_OFF_PARENT, NTFS_REC_ROOT | (uint64_t) 5 << 48);
        out[0x10 + NTFS_FN_OFF_NAME_LENGTH] = (uint8_t) n;
        out[0x10 + NTFS_FN_OFF_NAMESPACE] = 3;
        nb_put_name(out + 0x10 + NTFS_FN_OFF_NAME, name);
        if (node)
                put_le64(out + len - 8, child);
        return len;
}

static inline size_t nb_index_end(uint8_t *out, bool node, uint64_t child)
{
        size_t len = node ? 0x18 : 0x10;

        memset(out, 0, len);
        put_le16(out + NTFS_IE_OFF_LENGTH, (uint16_t) len);
        put_le16(out + NTFS_IE_OFF_FLAGS, NTFS_IE_FLAG_END | (node ? NTFS_IE_FLAG_NODE : 0));
        if (node)
                put_le64(out + len - 8, child);
        return len;
}

struct nb_name {
        const char *name;
        unsigned r;
};

/* Drops the root's index attributes. */
static inline void nb_root_clear(struct nb *b)
{
        const uint32_t types[] = { NTFS_AT_INDEX_ROOT, NTFS_AT_INDEX_ALLOCATION, NTFS_AT_BITMAP };
        uint32_t at;

        for (size_t i = 0; i < 3; i++)
                while ((at = nb_find(b, NTFS_REC_ROOT, types[i], 0)) != 0)
                        nb_remove(b, NTFS_REC_ROOT, at);
}

/* Replaces the root's $INDEX_ROOT by one holding @n names (sorted by the
 * caller), all in the root node. */
static inline void nb_root_small(struct nb *b, const struct nb_name *names, size_t n)
{
        uint8_t v[1024] = {};
        size_t o = 0x20;

        nb_root_clear(b);
        put_le32(v + NTFS_IR_OFF_TYPE, NTFS_AT_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_COLLATION, NTFS_COLLATION_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_BLOCK_SIZE, 4096);
        v[0x0C] = 1;
        for (size_t i = 0; i < n; i++)
                o += nb_index_entry(v + o, names[i].name, names[i].r, false, 0);
        o += nb_index_end(v + o, false, 0);
        put_le32(v + 0x10 + NTFS_IH_OFF_ENTRIES_OFFSET, 0x10);
        put_le32(v + 0x10 + NTFS_IH_OFF_INDEX_LENGTH, (uint32_t) (o - 0x10));
        put_le32(v + 0x10 + NTFS_IH_OFF_ALLOCATED_SIZE, (uint32_t) (o - 0x10));
        nb_add_resident(b, NTFS_REC_ROOT, NTFS_AT_INDEX_ROOT, "$I30", v, (uint32_t) o);
}

/* Writes INDX block @vcn (4 KiB) of the root at NB_LCN_INDEX with @n names. */
static inline void nb_indx_block(struct nb *b, uint64_t vcn, const struct nb_name *names, size_t n)
{
        uint8_t *blk = nb_at(b, NB_LCN_INDEX * b->k) + vcn * 4096;
        size_t o = 0x40;

        memset(blk, 0, 4096);
        put_le32(blk, NTFS_MAGIC_INDX);
        put_le64(blk + NTFS_INDX_OFF_VCN, vcn * 4096 / (4096 >= b->cs ? b->cs : 512));
        for (size_t i = 0; i < n; i++)
                o += nb_index_entry(blk + o, names[i].name, names[i].r, false, 0);
        o += nb_index_end(blk + o, false, 0);
        put_le32(blk + 0x18 + NTFS_IH_OFF_ENTRIES_OFFSET, 0x40 - 0x18);
        put_le32(blk + 0x18 + NTFS_IH_OFF_INDEX_LENGTH, (uint32_t) (o - 0x18));
        put_le32(blk + 0x18 + NTFS_IH_OFF_ALLOCATED_SIZE, 4096 - 0x18);
        nb_protect(blk, 4096, 0x28, 0x4242);
}

/*
 * A two-level root: INDX block 0 holds @left, the root holds @key (with
 * @left as its sub-node) and an END entry whose sub-node is INDX block 1
 * holding @right.
 */
static inline void nb_root_tree(struct nb *b, const struct nb_name *left, size_t nl,
                                struct nb_name key, const struct nb_name *right, size_t nr)
{
        uint8_t v[1024] = {};
        size_t o = 0x20;
        uint64_t vcn1 = 4096 / (4096 >= b->cs ? b->cs : 512);
        struct nb_run run = { NB_LCN_INDEX * b->k, 2 * b->k };
        uint8_t bits[8] = { 3 };

        nb_root_clear(b);
        put_le32(v + NTFS_IR_OFF_TYPE, NTFS_AT_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_COLLATION, NTFS_COLLATION_FILE_NAME);
        put_le32(v + NTFS_IR_OFF_BLOCK_SIZE, 4096);
        v[0x0C] = 1;
        o += nb_index_entry(v + o, key.name, key.r, true, 0);
        o += nb_index_end(v + o, true, vcn1);
        put_le32(v + 0x10 + NTFS_IH_OFF_ENTRIES_OFFSET, 0x10);
        put_le32(v + 0x10 + NTFS_IH_OFF_INDEX_LENGTH, (uint32_t) (o - 0x10));
        put_le32(v + 0x10 + NTFS_IH_OFF_ALLOCATED_SIZE, (uint32_t) (o - 0x10));
        v[0x10 + NTFS_IH_OFF_FLAGS] = 1;
        nb_add_resident(b, NTFS_REC_ROOT, NTFS_AT_INDEX_ROOT, "$I30", v, (uint32_t) o);
        nb_add_nonresident(b, NTFS_REC_ROOT, NTFS_AT_INDEX_ALLOCATION, "$I30", &run, 1, 0,
                           2 * b->k * b->cs, 8192, 8192, 0);
        nb_add_resident(b, NTFS_REC_ROOT, NTFS_AT_BITMAP, "$I30", bits, sizeof bits);
        nb_mark(b, NB_LCN_INDEX * b->k, 2 * b->k, true);
        nb_indx_block(b, 0, left, nl);
        nb_indx_block(b, 1, right, nr);
}

/* A restart page at byte @pos of $LogFile. */
static inline void nb_restart_page(struct nb *b, uint64_t pos, uint32_t magic, uint64_t lsn, uint16_t in_use,
                         uint16_t flags)
{
        uint8_t *pg = nb_at(b, NB_LCN_LOG * b->k) + pos, *ra = pg + 0x30;

        memset(pg, 0, 4096);
        put_le32(pg, magic);
        if (magic == NTFS_MAGIC_CHKD)
                put_le64(pg + NTFS_RP_OFF_CHKDSK_LSN, lsn);
        put_le32(pg + NTFS_RP_OFF_SYSTEM_PAGE_SIZE, 4096);
        put_le32(pg + NTFS_RP_OFF_LOG_PAGE_SIZE, 4096);
        put_le16(pg + NTFS_RP_OFF_RA_OFFSET, 0x30);
        put_le16(pg + NTFS_RP_OFF_MINOR, 1);
        put_le16(pg + NTFS_RP_OFF_MAJOR, 1);
        put_le64(ra + NTFS_RA_OFF_CURRENT_LSN, magic == NTFS_MAGIC_RSTR ? lsn : 0);
        put_le16(ra + NTFS_RA_OFF_LOG_CLIENTS, 1);
        put_le16(ra + NTFS_RA_OFF_CLIENT_FREE_LIST, NTFS_LOGFILE_NO_CLIENT);
        put_le16(ra + NTFS_RA_OFF_CLIENT_IN_USE_LIST, in_use);
        put_le16(ra + NTFS_RA_OFF_FLAGS, flags);
        put_le16(ra + NTFS_RA_OFF_LENGTH, 0x40 + NTFS_LOG_CLIENT_RECORD_SIZE);
        put_le16(ra + NTFS_RA_OFF_CLIENT_ARRAY, 0x40);
        put_le16(ra + 0x40 + NTFS_LCR_OFF_PREV, NTFS_LOGFILE_NO_CLIENT);
        put_le16(ra + 0x40 + NTFS_LCR_OFF_NEXT, NTFS_LOGFILE_NO_CLIENT);
        nb_protect(pg, 4096, 0x1E, 0x0707);
}

/* A volume with a bit of everything the scanner must get right, which
 * test-ntfs-fuzz and the fuzz targets mutate: hiberfil.sys ("wake") under a
 * two-level root, $Bitmap behind an attribute list, clean restart pages,
 * bad clusters. */
static inline void nb_mixed_volume(struct nb *b)
{
        const struct nb_name left[] = { { "a.txt", 21 } }, right[] = { { "hiberfil.sys", 20 }, { "zz", 24 } };
        struct nb_name key = { "file.txt", 25 };
        const uint8_t wake[4] = { 'w', 'a', 'k', 'e' };
        uint8_t list[256], si[0x48] = {};
        size_t n = 0;
        uint16_t id_fn, id_d0, id_d1;
        struct nb_run r0, r1 = { 180, 1 };
        const struct nb_run badruns[] = { { NB_HOLE, 230 }, { 230, 3 }, { NB_HOLE, 23 } };

        nb_default(b);
        nb_file(b, 20, "hiberfil.sys", NB_LCN_DATA, 2, wake, 4);
        nb_root_tree(b, left, 1, key, right, 2);

        /* $Bitmap: 2 clusters, VCN 1 in record 19 */
        r0 = (struct nb_run) { b->bitmap_lcn, 1 };
        nb_rec_init(b, 6, NTFS_MFT_FLAG_IN_USE, 6, 0);
        nb_add_resident(b, 6, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si);
        id_fn = get_le16(b->rec[6] + nb_add_filename(b, 6, NTFS_REC_ROOT, "$Bitmap") + 0x0E);
        nb_rec_init(b, 18, NTFS_MFT_FLAG_IN_USE, 18, 6 | (uint64_t) 6 << 48);
        nb_rec_init(b, 19, NTFS_MFT_FLAG_IN_USE, 19, 6 | (uint64_t) 6 << 48);
        id_d0 = get_le16(b->rec[18] + nb_add_nonresident(b, 18, NTFS_AT_DATA, NULL, &r0, 1, 0, 8192, 32, 32, 0) + 0x0E);
        id_d1 = get_le16(b->rec[19] + nb_add_nonresident(b, 19, NTFS_AT_DATA, NULL, &r1, 1, 1, 0, 0, 0, 0) + 0x0E);
        n = nb_al_entry(list, n, NTFS_AT_FILE_NAME, NULL, 0, 6, 6, id_fn);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 0, 18, 18, id_d0);
        n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 1, 19, 19, id_d1);
        nb_add_resident(b, 6, NTFS_AT_ATTRIBUTE_LIST, NULL, list, (uint32_t) n);
        nb_mark(b, 180, 1, true);

        nb_remove(b, 8, nb_find(b, 8, NTFS_AT_DATA, 1));
        nb_add_nonresident(b, 8, NTFS_AT_DATA, "$Bad", badruns, 3, 0, 256 * 4096, 256 * 4096,
                           256 * 4096, NTFS_ATTR_FLAG_SPARSE);
        nb_mark(b, 190, 10, false);
        nb_mark(b, 240, 16, false);
        nb_commit(b);
        nb_restart_page(b, 0, NTFS_MAGIC_RSTR, 100, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
        nb_restart_page(b, 4096, NTFS_MAGIC_RSTR, 90, 0, NTFS_RESTART_VOLUME_IS_CLEAN);
}

static inline void nb_done(struct nb *b)
{
        free(b->disk);
        b->disk = NULL;
}
