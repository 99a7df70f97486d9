/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gen-corpus OUTDIR: writes the seed corpora of every fuzz target into
 * OUTDIR/TARGET/, made with the builders the unit tests use
 * (tests/lib/vhd-builder.c, tests/unit/test-ntfs-builder.h) and, for the
 * partition tables, the layouts of tests/unit/test-partition.c at a scale
 * that fits a fuzz input.  Deterministic: the same files every run, so no
 * binary seed is committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/partition-internal.h"
#include "fuzz-ntfs-vol.h"
#include "fuzz-vhd-parent.h"
#include "util/crc32.h"
#include "util/endian.h"
#include "util/utf16.h"
#include "vhd-builder.h"
#include "vhdx-builder.h"

static const char *outdir;

static void put(const char *target, const char *name, const void *p, size_t n)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s", outdir, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                perror(path);
                exit(1);
        }
        snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
        f = fopen(path, "we");
        if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* fuzz-plan's VHD mode: [0] = 0, [1..8] seed, then the file. */
static void put_vhd(const char *name, struct vb_image *img)
{
        uint8_t *p = malloc(img->len + 9);

        if (!p)
                abort();
        put("vhd", name, img->buf, img->len);
        for (unsigned s = 0; s < 3; s++) {
                char n2[256];
                p[0] = 0;
                put_le64(p + 1, 0x1234567ull * (s + 1) + 33 * s);
                memcpy(p + 9, img->buf, img->len);
                snprintf(n2, sizeof n2, "%s-%u", name, s);
                put("plan", n2, p, img->len + 9);
        }
        free(p);
        vb_free(img);
}

static void gen_vhd(void)
{
        struct vb_image *img;
        uint8_t rel[64];
        int n;

        img = vb_dynamic(64 << 10, 4096, VHD_TYPE_DYNAMIC);
        vb_alloc_block(img, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(img, 5, 2, VB_BITMAP_PARTIAL);
        vb_alloc_block(img, 3, 3, VB_BITMAP_EMPTY);
        put_vhd("dynamic", img);

        img = vb_dynamic(8 << 10, 512, VHD_TYPE_DYNAMIC);
        for (uint32_t b = 0; b < 16; b += 3)
                vb_alloc_block(img, b, (uint8_t) b, VB_BITMAP_FULL);
        put_vhd("dynamic-512", img);

        {       /* a Windows-style aligned image: data areas on 4 KiB */
                img = vb_dynamic(64 << 10, 4096, VHD_TYPE_DYNAMIC);
                vb_footer_put_bytes(img, VHD_FOOTER_OFF_CREATOR_APP, "win ", 4, 0);
                vb_append(img, 4096 - 512 - (vb_footer_off(img) % 4096));
                vb_alloc_block(img, 1, 4, VB_BITMAP_FULL);
                vb_alloc_block(img, 7, 5, VB_BITMAP_FULL);
                put_vhd("dynamic-win", img);
        }

        {
                struct vb_image *parent = fuzz_vhd_parent();
                img = vb_dynamic(1 << 20, 4096, VHD_TYPE_DIFFERENCING);
                vb_set_parent(img, parent, FUZZ_PARENT_PATH);
                n = utf8_to_utf16("./parent.vhd", false, rel, sizeof rel);
                if (n < 0)
                        abort();
                vb_add_locator(img, VHD_LOC_W2RU, rel, (size_t) n);
                vb_alloc_block(img, 0, 11, VB_BITMAP_PARTIAL);
                vb_alloc_block(img, 2, 12, VB_BITMAP_FULL);
                vb_alloc_block(img, 5, 13, VB_BITMAP_EMPTY);
                vb_free(parent);
                put_vhd("differencing", img);
        }

        img = vb_fixed(64 << 10);
        put("vhd", "fixed", img->buf, img->len);
        vb_free(img);
}

static void gen_plan_bytes(void)
{
        uint8_t p[9 + 7 + 64];

        memset(p, 0, sizeof p);
        for (unsigned s = 0; s < 4; s++) {
                char name[32];
                p[0] = 1;
                put_le64(p + 1, 0xABCDEFull * (s + 3));
                p[9] = (uint8_t) (s * 8);               /* stride */
                put_le16(p + 10, (uint16_t) (3 + s));   /* metadata */
                put_le16(p + 12, 64);                   /* entries */
                put_le16(p + 14, (uint16_t) s);         /* slack */
                for (unsigned i = 0; i < 64; i++)
                        p[16 + i] = (i * 7 + s) % 5 == 0 ? 0xFF : (uint8_t) ((i * 37 + s) % 80);
                snprintf(name, sizeof name, "layout-%u", s);
                put("plan", name, p, sizeof p);
        }
}

/* fuzz-plan's mode 3: two object sizes on a 1 MiB grid, fixed extents. */
static void gen_plan_mixed(void)
{
        uint8_t p[9 + 7 + 48];

        memset(p, 0, sizeof p);
        for (unsigned s = 0; s < 4; s++) {
                char name[32];
                p[0] = 3;
                put_le64(p + 1, 0x5EEDull * (s + 5));
                p[9] = (uint8_t) (1 + s);               /* large objects of 2..5 MiB */
                p[10] = (uint8_t) s;                    /* alignment, tail */
                p[11] = (uint8_t) (20 + s);             /* a region among the objects */
                p[12] = 1;
                p[13] = s % 2 ? 0xFF : 120;             /* and one after them */
                p[14] = 2;
                p[15] = (uint8_t) s;                    /* slack */
                for (unsigned i = 0; i < 48; i++)
                        p[16 + i] = (i * 5 + s) % 7 == 0 ? 0xFF :
                                    (uint8_t) (((i * 3 + s) % 110) | ((i % 3 == 0) << 7));
                snprintf(name, sizeof name, "mixed-%u", s);
                put("plan", name, p, sizeof p);
        }
}

/* ---- partition tables ----------------------------------------------------- */

static void mbr_entry(uint8_t *d, uint64_t lba, unsigned slot, uint8_t status, uint8_t type,
                      uint32_t start, uint32_t sectors)
{
        uint8_t *e = d + lba * 512 + 446 + 16 * slot;

        e[0] = status;
        e[4] = type;
        put_le32(e + 8, start);
        put_le32(e + 12, sectors);
        d[lba * 512 + 510] = 0x55;
        d[lba * 512 + 511] = 0xAA;
}

static void gen_mbr(void)
{
        static uint8_t d[128 * 512];
        struct nb b;

        memset(d, 0, sizeof d);
        mbr_entry(d, 0, 0, 0x80, 0x07, 8, 24);
        mbr_entry(d, 0, 1, 0x00, 0x83, 40, 40);
        mbr_entry(d, 0, 3, 0x00, 0x0c, 100, 20);
        put("mbr", "primaries", d, sizeof d);

        /* An extended partition at 40 with a chain of three EBRs. */
        memset(d, 0, sizeof d);
        mbr_entry(d, 0, 0, 0x80, 0x07, 8, 24);
        mbr_entry(d, 0, 1, 0x00, 0x0F, 40, 80);
        mbr_entry(d, 40, 0, 0x00, 0x07, 2, 6);
        mbr_entry(d, 40, 1, 0x00, 0x05, 10, 20);
        mbr_entry(d, 50, 0, 0x00, 0x83, 2, 8);
        mbr_entry(d, 50, 1, 0x00, 0x05, 30, 40);
        mbr_entry(d, 70, 0, 0x00, 0x0b, 1, 30);
        put("mbr", "extended", d, sizeof d);

        /* Linux-style type 0x85, and a chain whose link is the last entry. */
        memset(d, 0, sizeof d);
        mbr_entry(d, 0, 2, 0x00, 0x85, 16, 112);
        mbr_entry(d, 16, 0, 0x00, 0x83, 4, 12);
        mbr_entry(d, 16, 1, 0x00, 0x85, 32, 32);
        mbr_entry(d, 48, 0, 0x00, 0x07, 8, 24);
        put("mbr", "extended-85", d, 64 * 512);

        /* No table: a whole-disk NTFS boot sector; an empty MBR. */
        fuzz_ntfs_build(&b, FUZZ_NTFS_PLAIN);
        put("mbr", "ntfs-superfloppy", b.disk + b.part_start, 4096);
        nb_done(&b);
        memset(d, 0, 512);
        d[510] = 0x55;
        d[511] = 0xAA;
        put("mbr", "empty", d, 512);
}

static void gpt_header(uint8_t *d, uint32_t ss, uint64_t lba, uint64_t alt, uint64_t arr,
                       uint64_t first, uint64_t last, uint32_t n, uint32_t es)
{
        uint8_t *h = d + lba * ss;

        memset(h, 0, ss);
        memcpy(h, GPT_SIGNATURE, 8);
        put_le32(h + GPT_HDR_OFF_REVISION, GPT_REVISION_1_0);
        put_le32(h + GPT_HDR_OFF_HEADER_SIZE, 92);
        put_le64(h + GPT_HDR_OFF_MY_LBA, lba);
        put_le64(h + GPT_HDR_OFF_ALTERNATE_LBA, alt);
        put_le64(h + GPT_HDR_OFF_FIRST_USABLE, first);
        put_le64(h + GPT_HDR_OFF_LAST_USABLE, last);
        for (int i = 0; i < 16; i++)
                h[56 + i] = (uint8_t) (0x40 + i);
        put_le64(h + GPT_HDR_OFF_ENTRY_LBA, arr);
        put_le32(h + GPT_HDR_OFF_NUM_ENTRIES, n);
        put_le32(h + GPT_HDR_OFF_ENTRY_SIZE, es);
        put_le32(h + GPT_HDR_OFF_ENTRIES_CRC, crc32_ieee(0, d + arr * ss, (size_t) n * es));
        put_le32(h + GPT_HDR_OFF_HEADER_CRC, crc32_ieee(0, h, 92));
}

static const uint8_t T_BASIC[16] = { 0xA2, 0xA0, 0xD0, 0xEB, 0xE5, 0xB9, 0x33, 0x44,
                                     0x87, 0xC0, 0x68, 0xB6, 0xB7, 0x26, 0x99, 0xC7 };
static const uint8_t T_LINUX[16] = { 0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47,
                                     0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4 };

static void gpt_disk(const char *name, uint32_t ss, uint64_t sectors, uint32_t n, uint32_t es)
{
        size_t size = (size_t) (sectors * ss);
        uint8_t *d = calloc(1, size);
        uint64_t arr_sectors = ((uint64_t) n * es + ss - 1) / ss, last = sectors - 1;
        uint64_t first = 2 + arr_sectors, lastu = last - arr_sectors - 1;
        uint8_t *e;

        if (!d)
                abort();
        mbr_entry(d, 0, 0, 0x00, 0xEE, 1, (uint32_t) (sectors - 1));
        e = d + 2 * ss;
        memcpy(e, T_BASIC, 16);
        memset(e + 16, 0x11, 16);
        put_le64(e + 32, first);
        put_le64(e + 40, first + (lastu - first) / 2);
        if (utf8_to_utf16("Basic data", false, e + 56, 72) < 0)
                abort();
        e += 2 * es;
        memcpy(e, T_LINUX, 16);
        memset(e + 16, 0x22, 16);
        put_le64(e + 32, first + (lastu - first) / 2 + 1);
        put_le64(e + 40, lastu);
        if (utf8_to_utf16("root \xc3\xa9t\xc3\xa9", false, e + 56, 72) < 0)
                abort();
        memcpy(d + (last - arr_sectors) * ss, d + 2 * ss, (size_t) n * es);
        gpt_header(d, ss, 1, last, 2, first, lastu, n, es);
        gpt_header(d, ss, last, 1, last - arr_sectors, first, lastu, n, es);
        put("gpt", name, d, size);
        free(d);
}

static void gen_gpt(void)
{
        gpt_disk("small", 512, 64, 4, 128);
        gpt_disk("sfdisk-like", 512, 128, 128, 128);
        gpt_disk("entry-256", 512, 64, 8, 256);
        gpt_disk("4kn", 4096, 16, 4, 128);
}

/* ---- NTFS ------------------------------------------------------------------ */

static void gen_ntfs(void)
{
        static const char *names[_FUZZ_NTFS_MAX] = { "base", "plain", "listed" };

        for (int v = 0; v < _FUZZ_NTFS_MAX; v++) {
                struct nb b;
                struct fuzz_ntfs_region reg[FUZZ_NTFS_MAX_REGIONS];
                size_t n, total = 0;
                uint8_t *p, sector[NTFS_BOOT_SIZE + 8];

                fuzz_ntfs_build(&b, v);
                n = fuzz_ntfs_regions(&b, reg);
                for (size_t i = 0; i < n; i++)
                        total += reg[i].len;
                p = malloc(total);
                if (!p)
                        abort();
                total = 0;
                for (size_t i = 0; i < n; i++) {
                        memcpy(p + total, b.disk + reg[i].off, reg[i].len);
                        total += reg[i].len;
                }
                put("ntfs-volume", names[v], p, total);
                put("ntfs-mft-record", names[v], b.disk + nb_off(&b, 4), NB_RECORDS * NB_RS);
                memcpy(sector, b.disk + b.part_start, NTFS_BOOT_SIZE);
                put_le64(sector + NTFS_BOOT_SIZE, b.part_size);
                put("ntfs-boot", names[v], sector, sizeof sector);
                if (v == FUZZ_NTFS_BASE)
                        put("ntfs-bitmap", "base", b.bitmap, 1024);
                free(p);
                nb_done(&b);
        }
        {       /* the base's boot sector with 512-byte and with 64 KiB clusters */
                struct nb b;
                uint8_t s[NTFS_BOOT_SIZE];
                fuzz_ntfs_build(&b, FUZZ_NTFS_PLAIN);
                memcpy(s, b.disk + b.part_start, sizeof s);
                s[NTFS_BOOT_OFF_SECTORS_PER_CLUS] = 1;
                put_le64(s + NTFS_BOOT_OFF_MFT_LCN, 32);
                put("ntfs-boot", "c512", s, sizeof s);
                s[NTFS_BOOT_OFF_SECTORS_PER_CLUS] = 128;
                put_le64(s + NTFS_BOOT_OFF_MFT_LCN, 1);
                s[NTFS_BOOT_OFF_CLUSTERS_PER_MFT] = 0xF6;
                put("ntfs-boot", "c64k", s, sizeof s);
                nb_done(&b);
        }
}

static void gen_runlist(void)
{
        static const struct nb_run a[] = { { 100, 8 }, { NB_HOLE, 4 }, { 20, 3 }, { 70000, 300 } };
        static const struct nb_run b[] = { { 5, 1 }, { 6000000000ull, 2 }, { 7, 40000 } };
        uint8_t p[26 + 128];
        size_t l1, l2;

        memset(p, 0, sizeof p);
        p[0] = 0;
        put_le64(p + 1, 1ull << 34);
        l1 = nb_encode_runs(p + 26, a, 2);
        put_le64(p + 9, 8 + 4 - 1);
        l2 = nb_encode_runs(p + 26 + l1, a + 2, 2);
        put_le64(p + 17, 8 + 4 + 3 + 300 - 1);
        p[25] = (uint8_t) l1;
        put("ntfs-runlist", "two-extents", p, 26 + l1 + l2);

        p[0] = 1;
        l1 = nb_encode_runs(p + 26, b, 3);
        put_le64(p + 9, 16 + 1 + 2 + 40000 - 1);
        put_le64(p + 17, 16 + 1 + 2 + 40000 - 1);
        p[25] = (uint8_t) l1;
        put("ntfs-runlist", "after-run", p, 26 + l1 + 1);
}

static void gen_bitmap(void)
{
        uint8_t p[2 + 512];

        for (size_t i = 0; i < sizeof p; i++)
                p[i] = (uint8_t) (i % 7 == 0 ? 0 : i % 5 == 0 ? 0xFF : i * 37);
        p[0] = 7;
        p[1] = 3;
        put("ntfs-bitmap", "mixed", p, sizeof p);
        memset(p + 2, 0, 512);
        put("ntfs-bitmap", "empty", p, sizeof p);
}

/* What a worker says (daemon/worker-protocol.h), one message per seed. */
static void gen_worker_msg(void)
{
        static const char *const lines[] = {
                "phase attaching", "phase moving", "progress 1048576 268435456", "planned 352418304 146847232",
                "open /srv/vm/parent.vhd",
                "result ok mode=full size-before=352418304 size-after=146847232 blocks-allocated=168 "
                "blocks-dropped-fs=90 blocks-dropped-zero=8 blocks-moved=40 bytes-moved=83906560 "
                "bytes-read=11534336 bytes-written=83906560 seconds=0.84",
                "result fail 2 parent-not-found parent not found (tried '/srv/vm/p.vhd')",
                "result fail 125 - cancelled at a safe point; the image is valid",
                "result fail 5 io-error io-error: read failed at offset 512 (\xff\x1b)",
        };
        char name[16];
        for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
                snprintf(name, sizeof name, "line-%zu", i);
                put("worker-msg", name, lines[i], strlen(lines[i]));
        }
}

/* fuzz-vhdx: flags, then patches (target, offset LE16, length, bytes)
 * over the harness's base image. */
static void gen_vhdx(void)
{
        static const uint8_t clean[] = { 0 };
        static const uint8_t nocrc[] = { 1 };
        static const uint8_t small[] = { 2 << 1 };
        static const uint8_t logguid[] = { 0, 2, 48, 0, 4, 1, 2, 3, 4 };
        static const uint8_t bat_dup[] = { 0, 7, 16, 0, 8, 6, 0, 0x40, 0, 0, 0, 0, 0 };
        static const uint8_t bat_eof[] = { 0, 7, 32, 0, 8, 6, 0, 0x00, 0x10, 0, 0, 0, 0 };
        static const uint8_t bs32[] = { 7 << 1, 6, 0, 0, 4, 0, 0, 0, 2 };
        static const uint8_t sector4k[] = { 0, 6, 32, 0, 4, 0, 16, 0, 0 };
        static const uint8_t region3[] = { 0, 3, 8, 0, 1, 3, 3, 80, 0, 4, 0x99, 0x98, 0x97, 0x96,
                                           3, 96, 0, 8, 0, 0, 0x40, 0, 0, 0, 0, 0, 3, 104, 0, 8, 0, 0,
                                           0x10, 0, 1, 0, 0, 0 };
        static const uint8_t parent[] = { 0, 6, 4, 0, 1, 2 };

        put("vhdx", "clean", clean, sizeof clean);
        put("vhdx", "no-crc-fix", nocrc, sizeof nocrc);
        put("vhdx", "small-file", small, sizeof small);
        put("vhdx", "log-guid", logguid, sizeof logguid);
        put("vhdx", "bat-dup", bat_dup, sizeof bat_dup);
        put("vhdx", "bat-eof", bat_eof, sizeof bat_eof);
        put("vhdx", "block-32M", bs32, sizeof bs32);
        put("vhdx", "sector-4k", sector4k, sizeof sector4k);
        put("vhdx", "region-3", region3, sizeof region3);
        put("vhdx", "has-parent", parent, sizeof parent);
}

/* fuzz-vhdx-locator: files present (bits), mode, then records
 * (key, value length, value) or the raw item. */
static void put_loc(const char *name, uint8_t files, const char *recs, size_t n)
{
        uint8_t p[512];

        p[0] = files;
        p[1] = 0;
        memcpy(p + 2, recs, n);
        put("vhdx-locator", name, p, n + 2);
}

#define LINK "\x40\x02\x00\x00"             /* parent_linkage: the parent's GUID */
static void gen_vhdx_locator(void)
{
        static const struct { const char *name; uint8_t files; const char *recs; size_t n; } seeds[] = {
#define S(name, files, recs) { name, files, recs, sizeof recs - 1 }
                S("relative", 0x01, LINK "\x02\x0bparent.vhdx"),
                S("relative-dotdot", 0x04, LINK "\x02\x0e..\\parent.vhdx"),
                S("relative-sub", 0x08, LINK "\x02\x11.\\sub\\parent.vhdx"),
                S("absolute", 0x01, LINK "\x04\x14" "C:\\vms\\d\\parent.vhdx"),
                S("volume", 0x01, LINK "\x03\x19\\\\?\\Volume{x}\\parent.vhdx"),
                S("linkage2", 0x02, LINK "\x41\x02\x01\x01\x02\x0aother.vhdx"),
                S("mismatch", 0x02, LINK "\x02\x0aother.vhdx"),
                S("self", 0x20, "\x40\x02\x03\x02\x02\x0a" "child.vhdx"),
                S("loop-below", 0x20, "\x40\x02\x02\x00\x02\x09loop.vhdx"),
                S("sector-4k", 0x40, LINK "\x02\x08p4k.vhdx"),
                S("a-vhd", 0x10, LINK "\x02\x07old.vhd"),
                S("junk", 0x80, LINK "\x02\x09junk.vhdx"),
                S("duplicate", 0x01, LINK "\x02\x0bparent.vhdx\x07\x03" "abc"),
                S("unknown-key", 0x01, LINK "\x06\x01x\x05\x04\x03k\x00y\x02\x0bparent.vhdx"),
                S("bad-guid", 0x01, "\x00\x05{123}\x02\x0bparent.vhdx"),
                S("nul-inside", 0x01, LINK "\x82\x06p\x00\x00\x00x\x00"),
                S("no-path", 0x01, LINK),
        };
        for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
                put_loc(seeds[i].name, seeds[i].files, seeds[i].recs, seeds[i].n);

        /* The builder's own item, raw. */
        struct vxb_params pp = { .type = VXB_DYNAMIC, .virtual_size = 4u << 20 };
        struct vxb_params cp = { .type = VXB_DIFFERENCING, .virtual_size = 4u << 20 };
        struct vxb_image *par = vxb_new(&pp), *ch = vxb_new(&cp);
        vxb_set_parent_image(ch, par, "/vms/d/parent.vhdx");
        uint64_t e = vxb_metadata_entry(ch, VXB_GUID_PARENT_LOCATOR), at = vxb_metadata_item(ch, VXB_GUID_PARENT_LOCATOR);
        uint32_t len = get_le32(ch->buf + e + VXB_MTE_LENGTH);
        uint8_t *p = malloc(len + 2);
        if (!p)
                abort();
        p[0] = 0x01;
        p[1] = 1;
        memcpy(p + 2, ch->buf + at, len);
        put("vhdx-locator", "raw-builder", p, len + 2);
        free(p);
        vxb_free(ch);
        vxb_free(par);
}

/* fuzz-vhdx-log: flags, then patches (sector, offset LE16, length, bytes)
 * over the harness's log.  The first entry is at sector 0: its header,
 * then its descriptors from byte 64, 32 bytes each. */
static void gen_vhdx_log(void)
{
        static const uint8_t clean[] = { 0 };
        static const uint8_t nocrc[] = { 1 };
        static const uint8_t shorter[] = { 1 << 1 };
        static const uint8_t longer[] = { 2 << 1 };
        static const uint8_t cut[] = { 3 << 1 };
        static const uint8_t low[] = { 0, 0, 80, 0, 8, 0, 0, 1, 0, 0, 0, 0, 0 };
        static const uint8_t seq[] = { 0, 0, 16, 0, 1, 9 };
        static const uint8_t tail[] = { 0, 0, 12, 0, 2, 0, 16 };
        static const uint8_t last[] = { 0, 0, 56, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0 };
        static const uint8_t flushed[] = { 0, 0, 48, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0 };
        static const uint8_t nodesc[] = { 0, 0, 24, 0, 4, 0, 0, 0, 0 };

        put("vhdx-log", "clean", clean, sizeof clean);
        put("vhdx-log", "no-crc-fix", nocrc, sizeof nocrc);
        put("vhdx-log", "file-shorter", shorter, sizeof shorter);
        put("vhdx-log", "file-longer", longer, sizeof longer);
        put("vhdx-log", "file-cut", cut, sizeof cut);
        put("vhdx-log", "target-low", low, sizeof low);
        put("vhdx-log", "sequence", seq, sizeof seq);
        put("vhdx-log", "tail", tail, sizeof tail);
        put("vhdx-log", "last-offset", last, sizeof last);
        put("vhdx-log", "flushed-offset", flushed, sizeof flushed);
        put("vhdx-log", "no-descriptors", nodesc, sizeof nodesc);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: gen-corpus OUTDIR\n");
                return 2;
        }
        outdir = argv[1];
        if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
                perror(outdir);
                return 1;
        }
        gen_vhd();
        gen_vhdx();
        gen_vhdx_locator();
        gen_vhdx_log();
        gen_plan_bytes();
        gen_plan_mixed();
        gen_mbr();
        gen_gpt();
        gen_ntfs();
        gen_runlist();
        gen_bitmap();
        gen_worker_msg();
        return 0;
}
