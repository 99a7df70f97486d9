/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-exfat: the exFAT scanner (lib/fs/exfat.c: boot region, the root
 * directory's bitmap entry through the FAT, the bitmap) through the
 * registry, as the analysis runs it.
 *
 * Input: byte 0's bit 0 keeps the boot checksum as the input left it
 * (else it is recomputed, or the fuzzer would rarely pass it), bit 1
 * forces a dirty volume; the rest is laid over the base volume built here
 * (1000 clusters of 512 bytes, bitmap at cluster 2, up-case table at 3,
 * root directory at 4): its boot sector, the FAT's first sector, the root
 * directory's cluster and the bitmap's cluster, 512 bytes each.
 *
 * Invariants: a failure names a problem and leaves the caller's map as it
 * was; a volume not clean and not forced grants nothing; a success grants
 * only whole clusters inside the cluster heap the boot sector declares,
 * inside the volume; and when the boot sector, FAT and root directory are
 * the base's, only clusters whose bit is clear in the (laid-over) bitmap
 * are granted, never the bitmap's or the root's own.
 */
#include "fs/fs.h"
#include "fuzz-common.h"
#include "source.h"

#define SECTOR 512u
#define COUNT 1000u
#define FAT_OFF 24u
#define FAT_LEN 8u
#define HEAP 32u
#define VOL_SECTORS (HEAP + COUNT)

static uint8_t *disk, base[VOL_SECTORS * SECTOR];
static const struct vc_fs_type *exfat;

static void put16(uint8_t *p, uint16_t x) { p[0] = (uint8_t) x; p[1] = (uint8_t) (x >> 8); }
static void put32(uint8_t *p, uint32_t x) { put16(p, (uint16_t) x); put16(p + 2, (uint16_t) (x >> 16)); }

static uint8_t *cluster(uint8_t *d, uint32_t c) { return d + (HEAP + c - 2) * SECTOR; }

static void fix_checksum(uint8_t *d)
{
        uint32_t sum = 0;

        for (size_t i = 0; i < 11 * SECTOR; i++)
                if (i != 106 && i != 107 && i != 112)
                        sum = ((sum & 1) ? 0x80000000u : 0) + (sum >> 1) + d[i];
        for (size_t i = 0; i < SECTOR; i += 4)
                put32(d + 11 * SECTOR + i, sum);
}

static void build(void)
{
        uint8_t *s = base, *e;

        memcpy(s + 3, "EXFAT   ", 8);
        s[0] = 0xEB; s[1] = 0x76; s[2] = 0x90;
        put32(s + 0x48, VOL_SECTORS);
        put32(s + 0x50, FAT_OFF);
        put32(s + 0x54, FAT_LEN);
        put32(s + 0x58, HEAP);
        put32(s + 0x5C, COUNT);
        put32(s + 0x60, 4);
        s[0x69] = 1;
        s[0x6C] = 9;
        s[0x6E] = 1;
        s[0x6F] = 0x80;
        put16(s + 0x1FE, 0xAA55);
        fix_checksum(s);
        uint8_t *fat = base + FAT_OFF * SECTOR;
        put32(fat, 0xFFFFFFF8);
        put32(fat + 4, 0xFFFFFFFF);
        for (uint32_t c = 2; c <= 4; c++)
                put32(fat + 4 * c, 0xFFFFFFFF);
        e = cluster(base, 4);
        e[0] = 0x83;
        e += 32;
        e[0] = 0x81;
        put32(e + 20, 2);
        put32(e + 24, (COUNT + 7) / 8);
        e += 32;
        e[0] = 0x82;
        put32(e + 20, 3);
        put32(e + 24, 5836);
        uint8_t *bm = cluster(base, 2);
        for (uint32_t c = 2; c < COUNT + 2; c++)
                if (c <= 4 || (c < 600 && c % 5 == 0))
                        bm[(c - 2) / 8] |= (uint8_t) (1u << ((c - 2) % 8));
}

static void lay(uint8_t *dst, const uint8_t **data, size_t *size)
{
        size_t k = *size < SECTOR ? *size : SECTOR;
        memcpy(dst, *data, k);
        *data += k;
        *size -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint64_t vol = (uint64_t) VOL_SECTORS * SECTOR;
        struct vc_source src;
        struct vc_freemap m = {};
        struct vc_problems ps = {};
        struct vc_fs_info info;
        struct vc_fs_scan_opts opts = {};
        bool keep_sum, trust;
        int r;

        if (!disk) {
                build();
                disk = malloc(sizeof base);
                if (!disk)
                        abort();
                exfat = vc_fs_type_by_name("exfat");
        }
        if (size < 1)
                return 0;
        keep_sum = data[0] & 1;
        opts.force_dirty = data[0] & 2;
        data++;
        size--;
        memcpy(disk, base, sizeof base);
        lay(disk, &data, &size);
        lay(disk + FAT_OFF * SECTOR, &data, &size);
        lay(cluster(disk, 4), &data, &size);
        lay(cluster(disk, 2), &data, &size);
        if (!keep_sum)
                fix_checksum(disk);
        trust = !memcmp(disk, base, SECTOR) && !memcmp(disk + FAT_OFF * SECTOR, base + FAT_OFF * SECTOR, SECTOR) &&
                !memcmp(cluster(disk, 4), cluster(base, 4), SECTOR);

        FUZZ_CHECK(freemap_add(&m, vol + 4096, 512) == 0);
        vc_source_memory(&src, disk, vol);
        r = vc_fs_scan(exfat, &src, 0, vol, &opts, &m, &info, NULL, &ps);
        FUZZ_CHECK(m.v[0].start == vol + 4096 && m.v[0].len == 512);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(m.n == 1);
        } else {
                uint64_t heap = (uint64_t) get_le32(disk + 0x58) << disk[0x6C];
                uint64_t granted = 0;

                FUZZ_CHECK(info.clean || opts.force_dirty || m.n == 1);
                FUZZ_CHECK(info.free_clusters <= info.total_clusters);
                for (size_t i = 1; i < m.n; i++) {
                        FUZZ_CHECK(m.v[i].len > 0 && m.v[i].start >= heap && m.v[i].start + m.v[i].len <= vol);
                        FUZZ_CHECK((m.v[i].start - heap) % info.cluster_size == 0);
                        FUZZ_CHECK(m.v[i].len % info.cluster_size == 0);
                        granted += m.v[i].len;
                        for (uint64_t o = m.v[i].start; trust && o < m.v[i].start + m.v[i].len; o += SECTOR) {
                                uint64_t c = o / SECTOR - HEAP + 2;
                                const uint8_t *bm = cluster(disk, 2);
                                FUZZ_CHECK(c != 2 && c != 4);
                                FUZZ_CHECK(!(bm[(c - 2) / 8] >> ((c - 2) % 8) & 1));
                        }
                }
                FUZZ_CHECK(granted == info.free_clusters * info.cluster_size || m.n == 1);
        }
        freemap_done(&m);
        vc_problems_done(&ps);
        return 0;
}
