/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-fat: the FAT scanner (lib/fs/fat.c: BPB and the walk of every FAT
 * copy) through the registry, as the analysis runs it.
 *
 * Input: byte 0 picks the base volume (FAT12, FAT16 or FAT32, built here
 * with chains in both FATs and one cluster used in the second copy only)
 * and whether to force a dirty volume; the rest is laid over its boot
 * sector (512 bytes), then the first 1024 bytes of each FAT.
 *
 * Invariants: a failure names a problem and leaves the caller's map as it
 * was; a volume not clean and not forced grants nothing; a success grants
 * only ranges inside the volume past its boot sector; and when the boot
 * sector and both FAT heads are the base's, exactly the clusters free in
 * both base copies are granted.
 */
#include "fs/fs.h"
#include "fuzz-common.h"
#include "source.h"

#define OVERLAY_FAT 1024u

struct base {
        uint32_t rsvd, fatsz, first_data, count, tot;
        uint8_t *disk;
        uint8_t boot[512], fat1[OVERLAY_FAT], fat2[OVERLAY_FAT];
};
static struct base bases[3];
static const struct vc_fs_type *fat;

static bool base_used(unsigned v, uint32_t c, unsigned copy)
{
        (void) v;
        return (c < 200 && c % 7 < 3) || (c == 50 && copy == 2);
}

static void put16(uint8_t *p, uint16_t x) { p[0] = (uint8_t) x; p[1] = (uint8_t) (x >> 8); }
static void put32(uint8_t *p, uint32_t x) { put16(p, (uint16_t) x); put16(p + 2, (uint16_t) (x >> 16)); }

static void set_entry(uint8_t *fatp, unsigned bits, uint32_t n, uint32_t val)
{
        if (bits == 12) {
                uint8_t *p = fatp + n * 3 / 2;
                if (n & 1) {
                        p[0] = (uint8_t) ((p[0] & 0x0F) | (val & 0x0F) << 4);
                        p[1] = (uint8_t) (val >> 4);
                } else {
                        p[0] = (uint8_t) val;
                        p[1] = (uint8_t) ((p[1] & 0xF0) | ((val >> 8) & 0x0F));
                }
        } else if (bits == 16)
                put16(fatp + n * 2, (uint16_t) val);
        else
                put32(fatp + n * 4, val);
}

static void build(unsigned v)
{
        static const struct { unsigned bits; uint32_t rsvd, root_ents, count; } g[3] = {
                { 12, 1, 16, 124 }, { 16, 1, 512, 5000 }, { 32, 32, 0, 70000 },
        };
        struct base *b = &bases[v];
        unsigned bits = g[v].bits;
        uint32_t root_secs = g[v].root_ents * 32 / 512;

        b->rsvd = g[v].rsvd;
        b->fatsz = (uint32_t) (((uint64_t) (g[v].count + 2) * bits / 8 + 511) / 512);
        b->first_data = b->rsvd + 2 * b->fatsz + root_secs;
        b->count = g[v].count;
        b->tot = b->first_data + b->count;
        b->disk = calloc(b->tot, 512);
        if (!b->disk)
                abort();
        uint8_t *s = b->disk;
        s[0] = 0xEB; s[1] = 0x3C; s[2] = 0x90;
        memcpy(s + 3, "mkfs.fat", 8);
        put16(s + 0x0B, 512);
        s[0x0D] = 1;
        put16(s + 0x0E, (uint16_t) b->rsvd);
        s[0x10] = 2;
        put16(s + 0x11, (uint16_t) g[v].root_ents);
        s[0x15] = 0xF8;
        if (bits == 32) {
                put32(s + 0x20, b->tot);
                put32(s + 0x24, b->fatsz);
                put32(s + 0x2C, 2);
                put16(s + 0x30, 1);
                put16(s + 0x32, 6);
                s[0x42] = 0x29;
                memcpy(s + 0x47, "FUZZ32     ", 11);
                memcpy(s + 82, "FAT32   ", 8);
        } else {
                put16(s + 0x13, (uint16_t) b->tot);
                put16(s + 0x16, (uint16_t) b->fatsz);
                s[0x26] = 0x29;
                memcpy(s + 0x2B, "FUZZ       ", 11);
                memcpy(s + 54, bits == 12 ? "FAT12   " : "FAT16   ", 8);
        }
        put16(s + 0x1FE, 0xAA55);
        for (unsigned k = 1; k <= 2; k++) {
                uint8_t *f = b->disk + (uint64_t) (b->rsvd + (k - 1) * b->fatsz) * 512;
                uint32_t eoc = bits == 12 ? 0xFFF : bits == 16 ? 0xFFFF : 0x0FFFFFFF;
                set_entry(f, bits, 0, (eoc & ~0xFFu) | 0xF8);
                set_entry(f, bits, 1, eoc);
                for (uint32_t c = 2; c < b->count + 2; c++)
                        if (base_used(v, c, k))
                                set_entry(f, bits, c, base_used(v, c + 1, k) ? c + 1 : eoc);
        }
        memcpy(b->boot, b->disk, 512);
        memcpy(b->fat1, b->disk + (uint64_t) b->rsvd * 512, OVERLAY_FAT);
        memcpy(b->fat2, b->disk + (uint64_t) (b->rsvd + b->fatsz) * 512, OVERLAY_FAT);
}

static size_t lay(uint8_t *dst, const uint8_t **data, size_t *size, size_t n)
{
        size_t k = *size < n ? *size : n;
        memcpy(dst, *data, k);
        *data += k;
        *size -= k;
        return k;
}

static void scan(unsigned v, bool force, bool trust)
{
        struct base *b = &bases[v];
        const uint64_t vol = (uint64_t) b->tot * 512, sentinel = vol;
        struct vc_fs_scan_opts opts = { .force_dirty = force };
        struct vc_source src;
        struct vc_freemap m = {};
        struct vc_problems ps = {};
        struct vc_fs_info info;
        int r;

        /* The caller's map holds a range (past the volume) the scan must
         * not disturb. */
        FUZZ_CHECK(freemap_add(&m, sentinel + 4096, 512) == 0);
        vc_source_memory(&src, b->disk, vol);
        r = vc_fs_scan(fat, &src, 0, vol, &opts, &m, &info, NULL, &ps);
        FUZZ_CHECK(m.v[0].start == sentinel + 4096 && m.v[0].len == 512);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(m.n == 1);
        } else {
                FUZZ_CHECK(info.clean || force || m.n == 1);
                FUZZ_CHECK(info.free_clusters <= info.total_clusters);
                uint64_t granted = 0;
                for (size_t i = 1; i < m.n; i++) {
                        FUZZ_CHECK(m.v[i].len > 0 && m.v[i].start >= 512 && m.v[i].start + m.v[i].len <= vol);
                        FUZZ_CHECK(m.v[i].len % info.cluster_size == 0);
                        granted += m.v[i].len;
                        if (!trust)
                                continue;
                        for (uint64_t o = m.v[i].start; o < m.v[i].start + m.v[i].len; o += 512) {
                                uint64_t c = o / 512 - b->first_data + 2;
                                FUZZ_CHECK(o / 512 >= b->first_data);
                                FUZZ_CHECK(!base_used(v, (uint32_t) c, 1) && !base_used(v, (uint32_t) c, 2));
                        }
                }
                FUZZ_CHECK(granted == info.free_clusters * info.cluster_size || m.n == 1);
                if (trust && (info.clean || force)) {
                        uint64_t want = 0;
                        for (uint32_t c = 2; c < b->count + 2; c++)
                                want += !base_used(v, c, 1) && !base_used(v, c, 2);
                        FUZZ_CHECK(info.free_clusters == want);
                }
        }
        freemap_done(&m);
        vc_problems_done(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        unsigned v;
        bool force, trust;

        if (!fat) {
                fat = vc_fs_type_by_name("fat");
                for (unsigned i = 0; i < 3; i++)
                        build(i);
        }
        if (size < 1)
                return 0;
        v = data[0] % 3;
        force = data[0] & 0x80;
        data++;
        size--;
        struct base *b = &bases[v];
        uint8_t *fat1 = b->disk + (uint64_t) b->rsvd * 512, *fat2 = b->disk + (uint64_t) (b->rsvd + b->fatsz) * 512;
        lay(b->disk, &data, &size, 512);
        lay(fat1, &data, &size, OVERLAY_FAT);
        lay(fat2, &data, &size, OVERLAY_FAT);
        trust = !memcmp(b->disk, b->boot, 512) && !memcmp(fat1, b->fat1, OVERLAY_FAT) &&
                !memcmp(fat2, b->fat2, OVERLAY_FAT);
        scan(v, force, trust);
        memcpy(b->disk, b->boot, 512);
        memcpy(fat1, b->fat1, OVERLAY_FAT);
        memcpy(fat2, b->fat2, OVERLAY_FAT);
        return 0;
}
