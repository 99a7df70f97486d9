/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The VHDX corruption table: a dynamic VHDX made by qemu-img (64 MiB,
 * 1 MiB blocks, blocks 0 and 5 written) is poked at one place per case
 * (checksums recomputed where the case is about a field, not a
 * checksum), then
 *   - a read-only open through the seam must fail with exactly the
 *     expected problem id, field and absolute offset (or, for the cases
 *     one good copy survives, open and read as before);
 *   - `check` must return 1 and list that problem;
 *   - a read-write open is refused (not-supported: writing VHDX is not
 *     supported yet);
 *   - the file must be byte-identical afterwards.
 * qemu's layout (measured): header section [0, 1M), log [1M, 2M), BAT
 * [2M, 3M), metadata [3M, 4M) with its items at 3M+64K, free [4M, 8M),
 * block 0 at 8M, block 5 at 9M; file 10 MiB.  Skipped (77) without qemu.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "tests.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/fd-util.h"
#include "vhdx/vhdx.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define H1 (64 * KiB)
#define H2 (128 * KiB)
#define R1 (192 * KiB)
#define R2 (256 * KiB)
#define BAT (2 * MiB)
#define META (3 * MiB)
#define ITEMS (META + 64 * KiB)

static char dir[] = "/tmp/test-vhdx-corrupt.XXXXXX";
static char base[256];
static uint8_t *img;            /* the file in memory, poked */
static size_t img_len;

static void set_len(size_t n) { img_len = n; }

static void fix_header(uint64_t at)
{
        put_le32(img + at + 4, 0);
        put_le32(img + at + 4, crc32c(0, img + at, 4096));
}

static void fix_region(uint64_t at)
{
        put_le32(img + at + 4, 0);
        put_le32(img + at + 4, crc32c(0, img + at, 64 * KiB));
}

static void both_headers(void (*f)(uint64_t at))
{
        f(H1);
        fix_header(H1);
        f(H2);
        fix_header(H2);
}

static void both_regions(void (*f)(uint64_t at))
{
        f(R1);
        fix_region(R1);
        f(R2);
        fix_region(R2);
}

/* --- pokes ------------------------------------------------------------------ */

static void p_h1_crc(void) { img[H1 + 200] ^= 1; }
static void p_h2_crc(void) { img[H2 + 200] ^= 1; }
static void p_both_crc(void) { img[H1 + 200] ^= 1; img[H2 + 200] ^= 1; }
static void p_h2_sig(void) { img[H2] = 'X'; }
static void version2(uint64_t at) { put_le16(img + at + 66, 2); }
static void p_version(void) { both_headers(version2); }
static void p_same_seq(void)
{
        put_le64(img + H1 + 8, get_le64(img + H2 + 8));
        img[H1 + 16] ^= 0xff;   /* another FileWriteGuid */
        fix_header(H1);
}
static void p_twins(void)
{
        memcpy(img + H1, img + H2, 4096);
}
static void p_log_guid(void)
{
        memset(img + H2 + 48, 0x5a, 16);
        fix_header(H2);
}
static void p_log_guid_nolog(void)
{
        memset(img + H2 + 48, 0x5a, 16);
        put_le32(img + H2 + 68, 0);
        fix_header(H2);
}
static void log_misaligned(uint64_t at) { put_le64(img + at + 72, 1 * MiB + 4096); }
static void p_log_misaligned(void) { both_headers(log_misaligned); }
static void log_past_eof(uint64_t at) { put_le64(img + at + 72, 64 * MiB); }
static void p_log_past_eof(void) { both_headers(log_past_eof); }
static void log_on_bat(uint64_t at) { put_le64(img + at + 72, BAT); }
static void p_log_on_bat(void) { both_headers(log_on_bat); }

static void p_r1_crc(void) { img[R1 + 1000] ^= 1; }
static void p_both_r_crc(void) { img[R1 + 1000] ^= 1; img[R2 + 1000] ^= 1; }
static void p_r_differ(void)
{
        img[R2 + 1000] ^= 1;
        fix_region(R2);
}
/* A third region at 4 MiB (free in qemu's layout), required or not. */
static void add_region(uint64_t at, uint64_t off, uint32_t req)
{
        uint8_t *e = img + at + 16 + 2 * 32;
        put_le32(img + at + 8, 3);
        for (int i = 0; i < 16; i++)
                e[i] = (uint8_t) (0x40 + i);
        put_le64(e + 16, off);
        put_le32(e + 24, 1 * MiB);
        put_le32(e + 28, req);
}
static void unknown_req(uint64_t at) { add_region(at, 4 * MiB, 1); }
static void p_unknown_region_req(void) { both_regions(unknown_req); }
static void unknown_opt(uint64_t at) { add_region(at, 4 * MiB, 0); }
static void p_unknown_region_opt(void) { both_regions(unknown_opt); }
static void unknown_on_meta(uint64_t at) { add_region(at, META, 0); }
static void p_region_overlap(void) { both_regions(unknown_on_meta); }
static void region_flag(uint64_t at) { put_le32(img + at + 16 + 28, 2); }
static void p_region_flag(void) { both_regions(region_flag); }
static void bat_misaligned(uint64_t at) { put_le64(img + at + 16 + 16, BAT + 4096); }
static void p_bat_misaligned(void) { both_regions(bat_misaligned); }
static void bat_past_eof(uint64_t at) { put_le64(img + at + 16 + 16, 10 * MiB); }
static void p_bat_region_past_eof(void) { both_regions(bat_past_eof); }
static void dup_region(uint64_t at) { memcpy(img + at + 16 + 32, img + at + 16, 16); }
static void p_dup_region(void) { both_regions(dup_region); }

/* Metadata entries (qemu's order): 0 file parameters, 1 size, 2 page 83,
 * 3 logical sector, 4 physical sector. */
#define ME(i) (META + 32 + 32 * (i))
static const uint8_t incomplete[16] = VHDX_GUID_INCOMPLETE;
static void p_meta_sig(void) { img[META] = 'M'; }
static void p_meta_unknown_req(void) { img[ME(2)] ^= 0xff; }
static void p_meta_incomplete(void) { memcpy(img + ME(2), incomplete, 16); }
static void p_meta_missing(void) { put_le16(img + META + 10, 4); }
static void p_meta_size(void) { put_le32(img + ME(3) + 20, 8); }
static void p_meta_outside(void) { put_le32(img + ME(2) + 16, 1 * MiB - 8); }
static void p_meta_overlap(void) { put_le32(img + ME(2) + 16, 64 * KiB + 4); }
static void p_meta_flags(void) { put_le32(img + ME(3) + 24, 4); /* not virtual-disk */ }
static void p_block_size(void) { put_le32(img + ITEMS, 3 * MiB); }
static void p_param_bits(void) { put_le32(img + ITEMS + 4, 8); }
static void p_vsize_zero(void) { put_le64(img + ITEMS + 8, 0); }
static void p_vsize_odd(void) { put_le64(img + ITEMS + 8, 64 * MiB + 100); }
static void p_sector(void) { put_le32(img + ITEMS + 32, 1024); }
static void p_has_parent_nolocator(void) { put_le32(img + ITEMS + 4, 2); }
static void p_has_parent(void)
{
        /* A sixth entry: a 20-byte parent locator at 512 KiB of the region,
         * all zeros (no VHDX locator type: test-vhdx-diff has the rest). */
        static const uint8_t loc[16] = VHDX_GUID_PARENT_LOCATOR;
        put_le32(img + ITEMS + 4, 2);
        put_le16(img + META + 10, 6);
        memcpy(img + ME(5), loc, 16);
        put_le32(img + ME(5) + 16, 512 * KiB);
        put_le32(img + ME(5) + 20, 20);
        put_le32(img + ME(5) + 24, 4);
}
static void p_bat_small(void) { put_le64(img + ITEMS + 8, 1ull << 40); /* 1 TiB: 8 MiB of BAT */ }

static void p_bat_past_eof(void) { put_le64(img + BAT + 10 * 8, 100 * MiB | 6); }
static void p_bat_dup(void) { put_le64(img + BAT + 10 * 8, 8 * MiB | 6); }
static void p_bat_on_meta(void) { put_le64(img + BAT + 10 * 8, META | 6); }
static void p_bat_on_log(void) { put_le64(img + BAT + 10 * 8, 1 * MiB | 6); }
static void p_bat_in_header(void) { put_le64(img + BAT + 10 * 8, 6); }
static void p_bat_state4(void) { put_le64(img + BAT + 10 * 8, 4); }
static void p_bat_state5(void) { put_le64(img + BAT + 10 * 8, 5); }
static void p_bat_partial(void) { put_le64(img + BAT + 10 * 8, 4 * MiB | 7); }
static void p_bat_reserved_bits(void) { put_le64(img + BAT + 10 * 8, 2 | 0x100); }
static void p_bat_anchor_dup(void) { put_le64(img + BAT + 10 * 8, 9 * MiB | 3); }
static void p_bat_two(void)
{
        put_le64(img + BAT + 10 * 8, 100 * MiB | 6);
        put_le64(img + BAT + 11 * 8, 4);
}
static void p_too_small(void) { set_len(512 * KiB); }
static void p_anchor_ok(void) { put_le64(img + BAT + 10 * 8, 4 * MiB | 3); }
static void p_zero_with_offset(void) { put_le64(img + BAT + 10 * 8, 8 * MiB | 2); }

struct corruption {
        const char *name;
        void (*poke)(void);
        enum vc_problem_id id;          /* _VC_PROBLEM_MAX: opens */
        const char *field;
        uint64_t offset;
        int error;
        bool check_clean;               /* when it opens: check finds nothing */
};

#define OPENS _VC_PROBLEM_MAX, NULL, 0, 0
static const struct corruption table[] = {
        { "header1 checksum", p_h1_crc, OPENS, false },
        { "header2 checksum (current)", p_h2_crc, OPENS, false },
        { "header2 signature", p_h2_sig, OPENS, false },
        { "twin headers", p_twins, OPENS, true },
        { "both header checksums", p_both_crc, VC_PROBLEM_BAD_CHECKSUM, "header1.checksum", H1 + 4, -EBADMSG, false },
        { "header version", p_version, VC_PROBLEM_BAD_VERSION, "header1.version", H1 + 66, -EOPNOTSUPP, false },
        { "same sequence, differ", p_same_seq, VC_PROBLEM_HEADER_MISMATCH, "header2.sequence_number", H2 + 8, -EBADMSG, false },
        /* qemu left entries of its own (older) GUIDs at log offset 0 */
        { "log guid, no entry of it", p_log_guid, VC_PROBLEM_BAD_LOG, "log_entry.log_guid", 1 * MiB + 32, -EBADMSG, false },
        { "log guid, no log", p_log_guid_nolog, VC_PROBLEM_BAD_LOG, "header2.log_guid", H2 + 48, -EBADMSG, false },
        { "log misaligned", p_log_misaligned, VC_PROBLEM_BAD_LOG, "header1.log_offset", H1 + 72, -EBADMSG, false },
        { "log past eof", p_log_past_eof, VC_PROBLEM_BAD_LOG, "header2.log_offset", H2 + 72, -EBADMSG, false },
        { "log on the BAT", p_log_on_bat, VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", R1 + 16 + 16, -EBADMSG, false },
        { "region table 1 checksum", p_r1_crc, OPENS, false },
        { "region tables differ", p_r_differ, OPENS, false },
        { "both region checksums", p_both_r_crc, VC_PROBLEM_BAD_CHECKSUM, "region_table1.checksum", R1 + 4, -EBADMSG, false },
        { "unknown required region", p_unknown_region_req, VC_PROBLEM_UNKNOWN_REQUIRED, "region.required", R1 + 16 + 64 + 28, -EBADMSG, false },
        { "unknown optional region", p_unknown_region_opt, OPENS, true },
        { "region on metadata", p_region_overlap, VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", R1 + 16 + 64 + 16, -EBADMSG, false },
        { "region reserved flag", p_region_flag, VC_PROBLEM_BAD_REGION_TABLE, "region.required", R1 + 16 + 28, -EBADMSG, false },
        { "BAT region misaligned", p_bat_misaligned, VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", R1 + 16 + 16, -EBADMSG, false },
        { "BAT region past eof", p_bat_region_past_eof, VC_PROBLEM_BAT_OUT_OF_FILE, "region.file_offset", R1 + 16 + 16, -EBADMSG, false },
        { "region listed twice", p_dup_region, VC_PROBLEM_BAD_REGION_TABLE, "region.guid", R1 + 16 + 32, -EBADMSG, false },
        { "metadata signature", p_meta_sig, VC_PROBLEM_BAD_COOKIE, "metadata.signature", META, -EBADMSG, false },
        { "unknown required item", p_meta_unknown_req, VC_PROBLEM_UNKNOWN_REQUIRED, "metadata.flags", ME(2) + 24, -EBADMSG, false },
        { "incomplete file", p_meta_incomplete, VC_PROBLEM_INCOMPLETE_FILE, "metadata.item_id", ME(2), -EBADMSG, false },
        { "item missing", p_meta_missing, VC_PROBLEM_BAD_METADATA, "metadata.entry_count", META + 10, -EBADMSG, false },
        { "item size", p_meta_size, VC_PROBLEM_BAD_METADATA, "metadata.length", ME(3) + 20, -EBADMSG, false },
        { "item outside", p_meta_outside, VC_PROBLEM_BAD_METADATA, "metadata.offset", ME(2) + 16, -EBADMSG, false },
        { "items overlap", p_meta_overlap, VC_PROBLEM_BAD_METADATA, "metadata.offset", ME(2) + 16, -EBADMSG, false },
        { "item flags", p_meta_flags, VC_PROBLEM_BAD_METADATA, "metadata.flags", ME(3) + 24, -EBADMSG, false },
        { "block size", p_block_size, VC_PROBLEM_BAD_BLOCK_SIZE, "metadata.block_size", ITEMS, -EBADMSG, false },
        { "parameter bits", p_param_bits, VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", ITEMS + 4, -EBADMSG, false },
        { "virtual size 0", p_vsize_zero, VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", ITEMS + 8, -EBADMSG, false },
        { "virtual size odd", p_vsize_odd, VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", ITEMS + 8, -EBADMSG, false },
        { "sector size", p_sector, VC_PROBLEM_BAD_METADATA, "metadata.logical_sector_size", ITEMS + 32, -EBADMSG, false },
        { "parent, no locator", p_has_parent_nolocator, VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", ITEMS + 4, -EBADMSG, false },
        { "differencing, locator all zeros", p_has_parent, VC_PROBLEM_BAD_LOCATOR, "parent_locator.locator_type", META + 512 * KiB, -EBADMSG, false },
        { "BAT too small", p_bat_small, VC_PROBLEM_BAD_REGION_TABLE, "region.length", R1 + 16 + 24, -EBADMSG, false },
        { "block past eof", p_bat_past_eof, VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT + 80, -EBADMSG, false },
        { "duplicate offset", p_bat_dup, VC_PROBLEM_BAT_OVERLAP, "bat", BAT + 80, -EBADMSG, false },
        { "block on metadata", p_bat_on_meta, VC_PROBLEM_BAT_OVERLAP, "bat", BAT + 80, -EBADMSG, false },
        { "block on log", p_bat_on_log, VC_PROBLEM_BAT_OVERLAP, "bat", BAT + 80, -EBADMSG, false },
        { "block in header section", p_bat_in_header, VC_PROBLEM_BAT_OVERLAP, "bat", BAT + 80, -EBADMSG, false },
        { "state 4", p_bat_state4, VC_PROBLEM_BAD_BLOCK_STATE, "bat", BAT + 80, -EBADMSG, false },
        { "state 5", p_bat_state5, VC_PROBLEM_BAD_BLOCK_STATE, "bat", BAT + 80, -EBADMSG, false },
        { "partially present, no parent", p_bat_partial, VC_PROBLEM_BAD_BLOCK_STATE, "bat", BAT + 80, -EBADMSG, false },
        { "reserved bits", p_bat_reserved_bits, VC_PROBLEM_BAD_BLOCK_STATE, "bat", BAT + 80, -EBADMSG, false },
        { "soft anchor on a block", p_bat_anchor_dup, VC_PROBLEM_BAT_OVERLAP, "bat", BAT + 80, -EBADMSG, false },
        { "two bad entries", p_bat_two, VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT + 80, -EBADMSG, false },
        { "file too small", p_too_small, VC_PROBLEM_TOO_SMALL, NULL, 512 * KiB, -EBADMSG, false },
        { "soft anchor in free space", p_anchor_ok, OPENS, true },
        { "zero with an offset", p_zero_with_offset, OPENS, true },
};

static void load_base(void)
{
        struct stat st;
        int fd = open(base, O_RDONLY | O_CLOEXEC);

        ASSERT_TRUE(fd >= 0 && fstat(fd, &st) == 0);
        img_len = (size_t) st.st_size;
        img = malloc(img_len);
        ASSERT_TRUE(img);
        ASSERT_OK(pread_full(fd, img, img_len, 0));
        close(fd);
}

static bool has_problem(const struct vc_problems *ps, const struct corruption *c)
{
        for (size_t i = 0; i < ps->n; i++)
                if ((int) ps->v[i].id == (int) c->id && ps->v[i].offset == c->offset &&
                    ((!ps->v[i].field && !c->field) || (ps->v[i].field && c->field && !strcmp(ps->v[i].field, c->field))))
                        return true;
        return false;
}

static void run_case(const struct corruption *c, const uint8_t *orig, size_t orig_len)
{
        char path[300];
        _cleanup_free_ uint8_t *after = NULL;
        struct vc_image *im = NULL;
        int fd, r;

        memcpy(img, orig, orig_len);
        img_len = orig_len;
        c->poke();
        snprintf(path, sizeof path, "%s/poked.vhdx", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(pwrite_full(fd, img, img_len, 0));
        close(fd);

        struct vc_problems ps = { .collect = false };
        r = vc_image_open(path, NULL, 0, &ps, &im);
        if (c->id == _VC_PROBLEM_MAX) {
                if (r < 0)
                        TEST_FAIL("%s: open failed: %s", c->name, ps.first.message);
                /* Blocks 0 and 5 still read as qemu wrote them. */
                uint8_t buf[512];
                ASSERT_OK(vc_image_pread(im, buf, sizeof buf, 0));
                ASSERT_EQ_INT(buf[0], 0xab);
                ASSERT_OK(vc_image_pread(im, buf, sizeof buf, 5 * MiB));
                ASSERT_EQ_INT(buf[511], 0xcd);
                ASSERT_OK(vc_image_pread(im, buf, sizeof buf, 10 * MiB));
                ASSERT_EQ_INT(buf[0], 0);
                vc_image_free(im);
        } else {
                if (r >= 0)
                        TEST_FAIL("%s: opened, expected %s", c->name, vc_problem_id_to_string(c->id));
                ASSERT_EQ_INT(r, c->error);
                ASSERT_PROBLEM(&ps.first, c->id, c->field, c->offset);
        }

        struct vc_problems cps = { .collect = true };
        r = vc_image_check(path, NULL, &cps);
        if (c->id == _VC_PROBLEM_MAX || (c->id == VC_PROBLEM_NOT_SUPPORTED && c->check_clean)) {
                if (r != (c->check_clean ? 0 : 1))
                        TEST_FAIL("%s: check returned %d (%s)", c->name, r, cps.n ? cps.v[0].message : "");
        } else {
                ASSERT_EQ_INT(r, 1);
                if (!has_problem(&cps, c))
                        TEST_FAIL("%s: check does not list %s at %s/%llu (first: %s %s)", c->name,
                                  vc_problem_id_to_string(c->id), c->field ? c->field : "-",
                                  (unsigned long long) c->offset, vc_problem_id_to_string(cps.v[0].id),
                                  cps.v[0].message);
        }
        if (c->poke == p_bat_two) {
                /* Collected: the second entry too. */
                const struct corruption second = { .id = VC_PROBLEM_BAD_BLOCK_STATE, .field = "bat", .offset = BAT + 88 };
                ASSERT_TRUE(has_problem(&cps, &second));
        }
        vc_problems_done(&cps);

        /* Read-write: refused alike (one that opens read-only would be
         * repaired by a read-write open, so is not opened here). */
        if (c->id != _VC_PROBLEM_MAX) {
                struct vc_problems wps = { .collect = false };
                ASSERT_EQ_INT(vc_image_open(path, NULL, VC_OPEN_RDWR, &wps, &im), c->error);
                ASSERT_PROBLEM(&wps.first, c->id, c->field, c->offset);
        }

        /* Byte-identical. */
        after = malloc(img_len);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(after && fd >= 0);
        struct stat st;
        ASSERT_TRUE(fstat(fd, &st) == 0);
        ASSERT_EQ_U64(st.st_size, img_len);
        ASSERT_OK(pread_full(fd, after, img_len, 0));
        close(fd);
        if (memcmp(after, img, img_len))
                TEST_FAIL("%s: the file changed", c->name);
        printf("%-32s %s\n", c->name, c->id == _VC_PROBLEM_MAX ? "opens" : vc_problem_id_to_string(c->id));
}

int main(void)
{
        char cmd[1024];

        if (system("command -v qemu-img >/dev/null && command -v qemu-io >/dev/null") != 0) {
                printf("qemu-img or qemu-io missing: skipped\n");
                return 77;
        }
        ASSERT_TRUE(mkdtemp(dir));
        snprintf(base, sizeof base, "%s/base.vhdx", dir);
        snprintf(cmd, sizeof cmd,
                 "qemu-img create -q -f vhdx -o block_size=1M '%s' 64M && "
                 "qemu-io -f vhdx -c 'write -P 0xab 0 1M' -c 'write -P 0xcd 5M 512k' '%s' >/dev/null",
                 base, base);
        ASSERT_EQ_INT(system(cmd), 0);
        load_base();
        /* The layout the table assumes. */
        ASSERT_EQ_U64(img_len, 10 * MiB);
        ASSERT_EQ_U64(get_le64(img + BAT), 8 * MiB | 6);
        ASSERT_EQ_U64(get_le64(img + BAT + 40), 9 * MiB | 6);
        ASSERT_EQ_U64(get_le64(img + R1 + 16 + 16), BAT);
        ASSERT_EQ_U64(get_le64(img + R1 + 48 + 16), META);
        ASSERT_EQ_U64(get_le32(img + ME(0) + 16), 64 * KiB);
        ASSERT_TRUE(get_le64(img + H2 + 8) > get_le64(img + H1 + 8));

        _cleanup_free_ uint8_t *orig = malloc(img_len);
        size_t orig_len = img_len;
        ASSERT_TRUE(orig);
        memcpy(orig, img, img_len);
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                run_case(&table[i], orig, orig_len);

        /* 4096-byte logical sectors (qemu-img cannot make them): the same
         * 64 blocks, a chunk ratio of 32768; the disk says 4096. */
        memcpy(img, orig, orig_len);
        put_le32(img + ITEMS + 32, 4096);
        {
                char p4[300];
                snprintf(p4, sizeof p4, "%s/4k.vhdx", dir);
                int f4 = open(p4, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ASSERT_TRUE(f4 >= 0);
                ASSERT_OK(pwrite_full(f4, img, orig_len, 0));
                close(f4);
                struct vc_problems p4s = { .collect = false };
                struct vc_image *i4 = NULL;
                uint8_t b4[4096];
                ASSERT_OK(vc_image_open(p4, NULL, 0, &p4s, &i4));
                ASSERT_EQ_U64(vc_image_logical_sector_size(i4), 4096);
                ASSERT_EQ_U64(((const struct vhdx_bat *) vhdx_image_bat(vc_image_priv(i4)))->chunk_ratio, 32768);
                ASSERT_OK(vc_image_pread(i4, b4, sizeof b4, 5 * MiB));
                ASSERT_EQ_INT(b4[0], 0xcd);
                vc_image_free(i4);
                printf("%-32s %s\n", "4096-byte sectors", "opens");
        }

        /* The identifier: the seam then hands the file to VHD (the format
         * of last resort), so ask lib/vhdx itself. */
        memcpy(img, orig, orig_len);
        img[0] = 'V';
        char path[300];
        snprintf(path, sizeof path, "%s/ident.vhdx", dir);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(pwrite_full(fd, img, orig_len, 0));
        struct vc_problems ps = { .collect = false };
        struct vhdx_image *x = NULL;
        ASSERT_EQ_INT(vhdx_image_open_fd(fd, path, 0, &ps, &x), -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_BAD_COOKIE, "file_identifier.signature", 0);
        printf("%-32s %s\n", "identifier", "bad-cookie");

        free(img);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ASSERT_EQ_INT(system(cmd), 0);
        return 0;
}
