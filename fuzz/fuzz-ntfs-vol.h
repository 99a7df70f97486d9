/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The synthetic NTFS volumes of fuzz-ntfs-volume and fuzz-ntfs-mft-record,
 * made with the unit tests' builder (tests/unit/test-ntfs-builder.h), and
 * the "regions" of the volume a fuzz input stands for.
 *
 * Design note: a volume is over a megabyte, almost all of it data the
 * scanner never reads.  So an input is not a disk: it is the concatenation
 * of the metadata regions below, laid over a fixed base volume (variant 0)
 * in this order, as far as the input goes.  The fuzzer then spends its
 * mutations on the bytes the scanner parses, and seeds are 57 KiB.
 */
#pragma once

#include "fs/ntfs-internal.h"
#include "test-ntfs-builder.h"

enum {
        FUZZ_NTFS_BASE,         /* nb_mixed_volume(), as test-ntfs-fuzz */
        FUZZ_NTFS_PLAIN,        /* nb_default(): the smallest clean volume */
        FUZZ_NTFS_LISTED,       /* a user file whose $DATA is in three extents through
                                 * an attribute list; dirty $Volume */
        _FUZZ_NTFS_MAX,
};

static inline void fuzz_ntfs_build(struct nb *b, int variant)
{
        uint8_t list[256], si[0x48] = {};
        size_t n = 0;

        if (variant == FUZZ_NTFS_BASE) {
                nb_mixed_volume(b);
                return;
        }
        nb_default(b);
        if (variant == FUZZ_NTFS_LISTED) {
                const struct nb_run e0 = { 200, 2 }, e1 = { NB_HOLE, 3 }, e2 = { 210, 1 };
                uint16_t id_fn, id0, id1, id2;
                uint8_t vi[NTFS_VI_SIZE] = {};

                nb_rec_init(b, 16, NTFS_MFT_FLAG_IN_USE, 116, 0);
                nb_add_resident(b, 16, NTFS_AT_STANDARD_INFORMATION, NULL, si, sizeof si);
                id_fn = get_le16(b->rec[16] + nb_add_filename(b, 16, NTFS_REC_ROOT, "big.dat") + 0x0E);
                id0 = get_le16(b->rec[16] + nb_add_nonresident(b, 16, NTFS_AT_DATA, NULL, &e0, 1, 0,
                                                               6 * 4096, 6 * 4096 - 100, 4096, 0) + 0x0E);
                nb_rec_init(b, 17, NTFS_MFT_FLAG_IN_USE, 117, 16 | (uint64_t) 116 << 48);
                nb_rec_init(b, 18, NTFS_MFT_FLAG_IN_USE, 118, 16 | (uint64_t) 116 << 48);
                id1 = get_le16(b->rec[17] + nb_add_nonresident(b, 17, NTFS_AT_DATA, NULL, &e1, 1, 2,
                                                               0, 0, 0, 0) + 0x0E);
                id2 = get_le16(b->rec[18] + nb_add_nonresident(b, 18, NTFS_AT_DATA, NULL, &e2, 1, 5,
                                                               0, 0, 0, 0) + 0x0E);
                n = nb_al_entry(list, n, NTFS_AT_STANDARD_INFORMATION, NULL, 0, 16, 116, 0);
                n = nb_al_entry(list, n, NTFS_AT_FILE_NAME, NULL, 0, 16, 116, id_fn);
                n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 0, 16, 116, id0);
                n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 2, 17, 117, id1);
                n = nb_al_entry(list, n, NTFS_AT_DATA, NULL, 5, 18, 118, id2);
                nb_add_resident(b, 16, NTFS_AT_ATTRIBUTE_LIST, NULL, list, (uint32_t) n);
                nb_mark(b, 200, 2, true);
                nb_mark(b, 210, 1, true);
                /* $Volume: dirty */
                nb_remove(b, 3, nb_find(b, 3, NTFS_AT_VOLUME_INFORMATION, 0));
                vi[NTFS_VI_OFF_MAJOR] = 3;
                vi[NTFS_VI_OFF_MINOR] = 1;
                put_le16(vi + NTFS_VI_OFF_FLAGS, NTFS_VOLUME_IS_DIRTY);
                nb_add_resident(b, 3, NTFS_AT_VOLUME_INFORMATION, NULL, vi, sizeof vi);
                nb_commit(b);
        }
}

struct fuzz_ntfs_region {
        uint64_t off;           /* on the disk */
        uint32_t len;
};

#define FUZZ_NTFS_MAX_REGIONS 8

/* The regions an input covers, in input order; returns how many. */
static inline size_t fuzz_ntfs_regions(const struct nb *b, struct fuzz_ntfs_region *v)
{
        size_t n = 0;

        v[n++] = (struct fuzz_ntfs_region) { b->part_start, 512 };                 /* boot */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, 4), NB_RECORDS * NB_RS };   /* $MFT */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, NB_LCN_INDEX), 8192 };      /* INDX */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, NB_LCN_LOG), 8192 };        /* restart pages */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, NB_LCN_BITMAP), 4096 };     /* $Bitmap */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, 180), 4096 };               /* $Bitmap VCN 1 */
        v[n++] = (struct fuzz_ntfs_region) { nb_off(b, NB_LCN_DATA), 512 };        /* hiberfil.sys */
        return n;
}

/* Lays @data over the regions of @disk; returns the bytes used. */
static inline size_t fuzz_ntfs_apply(const struct nb *b, uint8_t *disk, const uint8_t *data, size_t size)
{
        struct fuzz_ntfs_region reg[FUZZ_NTFS_MAX_REGIONS];
        size_t n = fuzz_ntfs_regions(b, reg), at = 0;

        for (size_t i = 0; i < n && at < size; i++) {
                size_t len = size - at < reg[i].len ? size - at : reg[i].len;
                memcpy(disk + reg[i].off, data + at, len);
                at += len;
        }
        return at;
}
