/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The corruption table (docs/design.md, Conventions, item 7): one field
 * poked per case, then
 *   - vhd_image_open(), read-only and read-write, must fail with exactly the
 *     expected problem id, field name and absolute offset;
 *   - vhd_check() must return 1 and list that problem (and, for some cases,
 *     a second one it finds by carrying on, such as the repairable footer);
 *   - the file (and a differencing disk's parent) must be byte-identical
 *     afterwards: refusing never writes.
 * One line is printed per case.
 *
 * The base images are small (64 KiB blocks) and have their allocated blocks
 * in a known order, so each case can say where its problem lies:
 *
 *   dynamic: [copy 0][header 512][BAT 1536][blk 0 @2048][blk 3][blk 5][footer]
 *   diff:    [copy 0][header 512][BAT 1536][W2ku locator @2048][blk 0][blk 3][footer]
 *   fixed:   [1 MiB data][footer]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"
#include "util/endian.h"
#include "vhd-builder.h"
#include "vhd/vhd.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define BS (64 * KiB)

enum base { DYN, DIFF, FIXED };

/* Where an expected offset is measured from, in the poked image. */
enum anchor {
        ABS,            /* the file's start */
        END,            /* the last 512 bytes (where the end footer belongs) */
        LEN,            /* the file's length */
        GRID,           /* the file's length rounded down to 512 */
        HDR,            /* the dynamic header */
        BAT,            /* the BAT */
        LOC,            /* the first parent locator entry in the header */
};

struct where {
        enum vc_problem_id id;
        const char *field;
        enum anchor anchor;
        uint64_t delta;
};

struct corruption {
        const char *name;
        enum base base;
        void (*poke)(struct vb_image *b);
        int error;
        struct where want;
        struct where also;      /* a further problem vhd_check must list; field "" = none */
};

/* ---- pokes --------------------------------------------------------------- */

static void footer_cookie(struct vb_image *b)
{
        vb_footer_put_bytes(b, VHD_FOOTER_OFF_COOKIE, "conectiX", 8, 0);
}

static void footer_checksum(struct vb_image *b)
{
        uint32_t c = get_be32(vb_footer(b) + VHD_FOOTER_OFF_CHECKSUM);
        vb_footer_put_be32(b, VHD_FOOTER_OFF_CHECKSUM, c + 1, VB_KEEP_CHECKSUM);
}

static void footer_copy_differs(struct vb_image *b)
{
        /* A valid footer at 0, just not the same as the one at the end. */
        vb_footer_put_be32(b, VHD_FOOTER_OFF_TIMESTAMP, 12345, VB_COPY_ONLY);
}

static void end_footer_zeroed(struct vb_image *b)
{
        memset(vb_footer(b), 0, VHD_FOOTER_SIZE);
}

static void end_footer_checksum(struct vb_image *b)
{
        vb_footer_put_be32(b, VHD_FOOTER_OFF_TIMESTAMP, 1, VB_END_ONLY | VB_KEEP_CHECKSUM);
}

static void footer_version(struct vb_image *b)
{
        vb_footer_put_be32(b, VHD_FOOTER_OFF_VERSION, 0x00020000, 0);
}

static void footer_features(struct vb_image *b)
{
        vb_footer_put_be32(b, VHD_FOOTER_OFF_FEATURES, VHD_FEATURE_RESERVED | 0x100, 0);
}

static void footer_disk_type(struct vb_image *b)
{
        vb_footer_put_be32(b, VHD_FOOTER_OFF_DISK_TYPE, 5, 0);
}

static void footer_size_unaligned(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_CURRENT_SIZE, 1 * MiB - 100, 0);
}

static void footer_size_absurd(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_CURRENT_SIZE, VHD_MAX_SIZE + 512, 0);
}

static void footer_saved_state(struct vb_image *b)
{
        vb_footer_put_bytes(b, VHD_FOOTER_OFF_SAVED_STATE, "\x02", 1, 0);
}

static void fixed_size_mismatch(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_CURRENT_SIZE, 2 * MiB, 0);
}

static void fixed_data_offset(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_DATA_OFFSET, 512, 0);
}

static void header_offset_outside(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_DATA_OFFSET, 1ull << 30, 0);
}

static void header_offset_in_footer(struct vb_image *b)
{
        vb_footer_put_be64(b, VHD_FOOTER_OFF_DATA_OFFSET, vb_footer_off(b) - 512, 0);
}

static void header_cookie(struct vb_image *b)
{
        vb_header_put_bytes(b, VHD_DYN_OFF_COOKIE, "cxsparsE", 8, 0);
}

static void header_checksum(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_MAX_ENTRIES, 17, VB_KEEP_CHECKSUM);
}

static void header_version(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_VERSION, 0x00020000, 0);
}

static void header_data_offset(struct vb_image *b)
{
        vb_header_put_be64(b, VHD_DYN_OFF_DATA_OFFSET, 0, 0);
}

static void block_size_not_pow2(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_BLOCK_SIZE, 96 * KiB, 0);
}

static void block_size_too_big(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_BLOCK_SIZE, 512u << 20, 0);
}

static void max_entries_too_small(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_MAX_ENTRIES, 15, 0);
}

static void bat_offset_past_footer(struct vb_image *b)
{
        vb_header_put_be64(b, VHD_DYN_OFF_TABLE_OFFSET, vb_footer_off(b), 0);
}

static void bat_entries_past_footer(struct vb_image *b)
{
        /* 1 Mi entries: 4 MiB of BAT in a 200 KiB file. */
        vb_header_put_be32(b, VHD_DYN_OFF_MAX_ENTRIES, 1u << 20, 0);
}

static void bat_offset_unaligned(struct vb_image *b)
{
        vb_header_put_be64(b, VHD_DYN_OFF_TABLE_OFFSET, b->bat_off + 4, 0);
}

static void bat_entry_past_footer(struct vb_image *b)
{
        vb_set_bat(b, 1, (uint32_t) (vb_footer_off(b) / 512));
}

static void bat_entry_huge(struct vb_image *b)
{
        vb_set_bat(b, 2, 0xFFFFFFFEu);
}

static void bat_entry_into_footer(struct vb_image *b)
{
        /* Starts inside the file, ends past the footer's start. */
        vb_set_bat(b, 1, (uint32_t) (vb_footer_off(b) / 512 - 1));
}

static void bat_duplicate(struct vb_image *b)
{
        vb_set_bat(b, 7, vb_bat_get(b, 3));
}

static void bat_partial_overlap(struct vb_image *b)
{
        vb_set_bat(b, 7, vb_bat_get(b, 3) + 1);
}

static void bat_over_header(struct vb_image *b)
{
        vb_set_bat(b, 1, 2);    /* 1024: inside the dynamic header */
}

static void bat_over_bat(struct vb_image *b)
{
        vb_set_bat(b, 1, (uint32_t) (b->bat_off / 512));
}

static void bat_over_footer_copy(struct vb_image *b)
{
        vb_set_bat(b, 1, 0);
}

static void locator_outside(struct vb_image *b)
{
        vb_header_put_be64(b, VHD_DYN_OFF_LOCATORS + VHD_LOC_OFF_DATA_OFFSET, 1ull << 30, 0);
}

static void locator_past_footer(struct vb_image *b)
{
        /* In the file, but running into the end footer. */
        vb_header_put_be32(b, VHD_DYN_OFF_LOCATORS + VHD_LOC_OFF_DATA_LENGTH, 600, 0);
        vb_header_put_be64(b, VHD_DYN_OFF_LOCATORS + VHD_LOC_OFF_DATA_OFFSET, vb_footer_off(b) - 512,
                           0);
}

static void locator_unknown_code(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_LOCATORS + VHD_LOC_OFF_CODE, 0x41424344, 0);
}

static void locator_on_dynamic(struct vb_image *b)
{
        vb_header_put_be32(b, VHD_DYN_OFF_LOCATORS + VHD_LOC_OFF_CODE, VHD_LOC_W2KU, 0);
}

static void truncated_mid_block(struct vb_image *b)
{
        /* The last block loses its tail and the end footer with it. */
        vb_resize_raw(b, b->len - VHD_FOOTER_SIZE - 4096);
}

static void size_not_sector_multiple(struct vb_image *b)
{
        vb_resize_raw(b, b->len - 100);
}

static void one_byte_appended(struct vb_image *b)
{
        vb_resize_raw(b, b->len + 1);
}

static void tiny_file(struct vb_image *b)
{
        vb_resize_raw(b, 100);
}

static void empty_file(struct vb_image *b)
{
        vb_resize_raw(b, 0);
}

static void fixed_cookie(struct vb_image *b)
{
        vb_footer_put_bytes(b, VHD_FOOTER_OFF_COOKIE, "\0\0\0\0\0\0\0\0", 8, 0);
}

#define NONE { 0, "", ABS, 0 }

static const struct corruption table[] = {
        { "footer cookie", DYN, footer_cookie, -EBADMSG,
          { VC_PROBLEM_BAD_COOKIE, "footer.cookie", END, VHD_FOOTER_OFF_COOKIE }, NONE },
        { "footer checksum", DYN, footer_checksum, -EBADMSG,
          { VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", END, VHD_FOOTER_OFF_CHECKSUM }, NONE },
        { "footer copy differs from end footer", DYN, footer_copy_differs, -EBADMSG,
          { VC_PROBLEM_FOOTER_MISMATCH, "footer_copy", ABS, 0 }, NONE },
        { "end footer zeroed, copy intact", DYN, end_footer_zeroed, -EBADMSG,
          { VC_PROBLEM_BAD_COOKIE, "footer.cookie", END, VHD_FOOTER_OFF_COOKIE },
          { VC_PROBLEM_FOOTER_MISMATCH, "footer", END, 0 } },
        { "end footer checksum, copy intact", DYN, end_footer_checksum, -EBADMSG,
          { VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", END, VHD_FOOTER_OFF_CHECKSUM },
          { VC_PROBLEM_FOOTER_MISMATCH, "footer", END, 0 } },
        { "footer version 2.0", DYN, footer_version, -EBADMSG,
          { VC_PROBLEM_BAD_VERSION, "footer.version", END, VHD_FOOTER_OFF_VERSION }, NONE },
        { "unknown feature bit", DYN, footer_features, -EBADMSG,
          { VC_PROBLEM_BAD_FEATURES, "footer.features", END, VHD_FOOTER_OFF_FEATURES }, NONE },
        { "disk type 5", DYN, footer_disk_type, -EBADMSG,
          { VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", END, VHD_FOOTER_OFF_DISK_TYPE }, NONE },
        { "current size not a multiple of 512", DYN, footer_size_unaligned, -EBADMSG,
          { VC_PROBLEM_BAD_SIZE, "footer.current_size", END, VHD_FOOTER_OFF_CURRENT_SIZE }, NONE },
        { "current size over 2040 GiB", DYN, footer_size_absurd, -EBADMSG,
          { VC_PROBLEM_BAD_SIZE, "footer.current_size", END, VHD_FOOTER_OFF_CURRENT_SIZE }, NONE },
        { "saved state byte 2", DYN, footer_saved_state, -EBADMSG,
          { VC_PROBLEM_BAD_FEATURES, "footer.saved_state", END, VHD_FOOTER_OFF_SAVED_STATE }, NONE },
        { "fixed: size differs from the file", FIXED, fixed_size_mismatch, -EBADMSG,
          { VC_PROBLEM_BAD_SIZE, "footer.current_size", END, VHD_FOOTER_OFF_CURRENT_SIZE }, NONE },
        { "fixed: data offset not all ones", FIXED, fixed_data_offset, -EBADMSG,
          { VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", END, VHD_FOOTER_OFF_DATA_OFFSET },
          NONE },
        { "fixed: footer cookie", FIXED, fixed_cookie, -EBADMSG,
          { VC_PROBLEM_BAD_COOKIE, "footer.cookie", END, VHD_FOOTER_OFF_COOKIE }, NONE },
        { "dynamic header offset outside the file", DYN, header_offset_outside, -EBADMSG,
          { VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", END, VHD_FOOTER_OFF_DATA_OFFSET },
          NONE },
        { "dynamic header offset into the footer", DYN, header_offset_in_footer, -EBADMSG,
          { VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", END, VHD_FOOTER_OFF_DATA_OFFSET },
          NONE },
        { "header cookie", DYN, header_cookie, -EBADMSG,
          { VC_PROBLEM_BAD_COOKIE, "header.cookie", HDR, VHD_DYN_OFF_COOKIE }, NONE },
        { "header checksum", DYN, header_checksum, -EBADMSG,
          { VC_PROBLEM_BAD_CHECKSUM, "header.checksum", HDR, VHD_DYN_OFF_CHECKSUM }, NONE },
        { "header version", DYN, header_version, -EBADMSG,
          { VC_PROBLEM_BAD_VERSION, "header.version", HDR, VHD_DYN_OFF_VERSION }, NONE },
        { "header data offset not all ones", DYN, header_data_offset, -EBADMSG,
          { VC_PROBLEM_BAD_DATA_OFFSET, "header.data_offset", HDR, VHD_DYN_OFF_DATA_OFFSET }, NONE },
        { "block size not a power of two", DYN, block_size_not_pow2, -EBADMSG,
          { VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", HDR, VHD_DYN_OFF_BLOCK_SIZE }, NONE },
        { "block size 512 MiB", DYN, block_size_too_big, -EBADMSG,
          { VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", HDR, VHD_DYN_OFF_BLOCK_SIZE }, NONE },
        { "max table entries too small", DYN, max_entries_too_small, -EBADMSG,
          { VC_PROBLEM_BAD_MAX_ENTRIES, "header.max_table_entries", HDR, VHD_DYN_OFF_MAX_ENTRIES },
          NONE },
        { "BAT offset at the footer", DYN, bat_offset_past_footer, -EBADMSG,
          { VC_PROBLEM_BAD_TABLE_OFFSET, "header.table_offset", HDR, VHD_DYN_OFF_TABLE_OFFSET },
          NONE },
        { "BAT entries run past the footer", DYN, bat_entries_past_footer, -EBADMSG,
          { VC_PROBLEM_BAD_TABLE_OFFSET, "header.table_offset", HDR, VHD_DYN_OFF_TABLE_OFFSET },
          NONE },
        { "BAT offset not 512-aligned", DYN, bat_offset_unaligned, -EBADMSG,
          { VC_PROBLEM_BAD_TABLE_OFFSET, "header.table_offset", HDR, VHD_DYN_OFF_TABLE_OFFSET },
          NONE },
        { "BAT entry at the footer", DYN, bat_entry_past_footer, -EBADMSG,
          { VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT, 4 }, NONE },
        { "BAT entry 0xFFFFFFFE", DYN, bat_entry_huge, -EBADMSG,
          { VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT, 8 }, NONE },
        { "BAT entry runs into the footer", DYN, bat_entry_into_footer, -EBADMSG,
          { VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT, 4 }, NONE },
        { "two BAT entries, one block", DYN, bat_duplicate, -EBADMSG,
          { VC_PROBLEM_BAT_OVERLAP, "bat", BAT, 28 }, NONE },
        { "BAT entries overlap by a sector", DYN, bat_partial_overlap, -EBADMSG,
          { VC_PROBLEM_BAT_OVERLAP, "bat", BAT, 28 }, NONE },
        { "BAT entry over the header", DYN, bat_over_header, -EBADMSG,
          { VC_PROBLEM_BAT_OVERLAP, "bat", BAT, 4 }, NONE },
        { "BAT entry over the BAT", DYN, bat_over_bat, -EBADMSG,
          { VC_PROBLEM_BAT_OVERLAP, "bat", BAT, 4 }, NONE },
        { "BAT entry over the footer copy", DYN, bat_over_footer_copy, -EBADMSG,
          { VC_PROBLEM_BAT_OVERLAP, "bat", BAT, 4 }, NONE },
        { "parent locator outside the file", DIFF, locator_outside, -EBADMSG,
          { VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_offset", LOC,
            VHD_LOC_OFF_DATA_OFFSET }, NONE },
        { "parent locator into the footer", DIFF, locator_past_footer, -EBADMSG,
          { VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_offset", LOC,
            VHD_LOC_OFF_DATA_OFFSET }, NONE },
        { "unknown locator platform code", DIFF, locator_unknown_code, -EBADMSG,
          { VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.code", LOC, VHD_LOC_OFF_CODE }, NONE },
        { "locator on a dynamic disk", DYN, locator_on_dynamic, -EBADMSG,
          { VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.code", LOC, VHD_LOC_OFF_CODE }, NONE },
        { "truncated mid-block", DYN, truncated_mid_block, -EBADMSG,
          { VC_PROBLEM_BAD_COOKIE, "footer.cookie", END, VHD_FOOTER_OFF_COOKIE },
          { VC_PROBLEM_BAT_OUT_OF_FILE, "bat", BAT, 20 } },
        { "file size not a multiple of 512", DYN, size_not_sector_multiple, -EOPNOTSUPP,
          { VC_PROBLEM_NOT_SUPPORTED, NULL, GRID, 0 }, NONE },
        { "one byte appended", DYN, one_byte_appended, -EOPNOTSUPP,
          { VC_PROBLEM_NOT_SUPPORTED, NULL, GRID, 0 }, NONE },
        { "tiny file (100 bytes)", DYN, tiny_file, -EBADMSG,
          { VC_PROBLEM_TOO_SMALL, NULL, ABS, 0 }, NONE },
        { "empty file", DYN, empty_file, -EBADMSG,
          { VC_PROBLEM_TOO_SMALL, NULL, ABS, 0 }, NONE },
};

/* ---- harness ------------------------------------------------------------- */

static char dir[VB_PATH_MAX], parent_path[VB_PATH_MAX];
static struct vb_image *parent;

static struct vb_image *make_base(enum base base)
{
        struct vb_image *b;

        switch (base) {
        case FIXED:
                b = vb_fixed(1 * MiB);
                vb_pattern_fill(b->buf, b->virtual_size, 1, 0);
                return b;
        case DYN:
                b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
                vb_alloc_block(b, 0, 1, VB_BITMAP_FULL);
                vb_alloc_block(b, 3, 2, VB_BITMAP_PARTIAL);
                vb_alloc_block(b, 5, 3, VB_BITMAP_FULL);
                return b;
        case DIFF:
                b = vb_dynamic(1 * MiB, BS, VHD_TYPE_DIFFERENCING);
                vb_set_parent(b, parent, parent_path);
                vb_alloc_block(b, 0, 4, VB_BITMAP_PARTIAL);
                vb_alloc_block(b, 3, 5, VB_BITMAP_FULL);
                return b;
        }
        abort();
}

static uint64_t resolve(const struct vb_image *b, const struct where *w)
{
        switch (w->anchor) {
        case ABS: return w->delta;
        case END: return b->len - VHD_FOOTER_SIZE + w->delta;
        case LEN: return b->len + w->delta;
        case GRID: return b->len / 512 * 512 + w->delta;
        case HDR: return b->header_off + w->delta;
        case BAT: return b->bat_off + w->delta;
        case LOC: return b->header_off + VHD_DYN_OFF_LOCATORS + w->delta;
        }
        abort();
}

static bool matches(const struct vc_problem *p, const struct where *w, uint64_t off)
{
        if ((int) p->id != (int) w->id || p->offset != off)
                return false;
        if (!p->field || !w->field)
                return !p->field && !w->field;
        return strcmp(p->field, w->field) == 0;
}

static void assert_unchanged(const char *path, const uint8_t *before, size_t len)
{
        size_t now_len;
        uint8_t *now = vb_read_file(path, &now_len);

        ASSERT_EQ_U64(now_len, len);
        ASSERT_MEMEQ(now, before, len);
        free(now);
}

static void run_case(size_t i, const struct corruption *c)
{
        static const unsigned modes[] = { 0, VHD_OPEN_RDWR, VHD_OPEN_NOPARENT };
        char path[VB_PATH_MAX], line[600];
        struct vb_image *b = make_base(c->base);
        uint64_t want_off, also_off = 0;

        c->poke(b);
        want_off = resolve(b, &c->want);
        if (c->also.field && c->also.field[0])
                also_off = resolve(b, &c->also);
        char name[32];
        snprintf(name, sizeof name, "case-%02zu.vhd", i);
        vb_path_join(path, dir, name);
        vb_write_file(b, path);
        size_t len;
        uint8_t *before = vb_read_file(path, &len);
        ASSERT_EQ_U64(len, b->len);

        for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
                struct vc_problems ps = {};
                struct vhd_image *img = NULL;
                int r = vhd_image_open(path, modes[m], &ps, &img);

                if (r >= 0)
                        TEST_FAIL("case '%s': open (flags %u) succeeded", c->name, modes[m]);
                ASSERT_TRUE(img == NULL);
                if (r != c->error)
                        TEST_FAIL("case '%s': open (flags %u) returned %d (%s), expected %d",
                                  c->name, modes[m], r, strerror(-r), c->error);
                ASSERT_TRUE(ps.n >= 1);
                if (!matches(&ps.first, &c->want, want_off)) {
                        vc_problem_format(&ps.first, line, sizeof line);
                        TEST_FAIL("case '%s': open (flags %u) reported %s; expected %s %s @%" PRIu64,
                                  c->name, modes[m], line, vc_problem_id_to_string(c->want.id),
                                  c->want.field ? c->want.field : "(no field)", want_off);
                }
                ASSERT_EQ_INT(ps.first.error, c->error);
                ASSERT_TRUE(ps.first.message[0] != 0);
                assert_unchanged(path, before, len);
        }

        struct vc_problems ps = {};
        bool found = false, found_also = !(c->also.field && c->also.field[0]);
        ASSERT_EQ_INT(vhd_check(path, &ps), 1);
        ASSERT_TRUE(ps.collect);
        ASSERT_TRUE(ps.n >= 1 && ps.v != NULL);
        for (size_t k = 0; k < ps.n; k++) {
                found |= matches(&ps.v[k], &c->want, want_off);
                found_also |= matches(&ps.v[k], &c->also, also_off);
        }
        if (!found || !found_also) {
                for (size_t k = 0; k < ps.n; k++) {
                        vc_problem_format(&ps.v[k], line, sizeof line);
                        fprintf(stderr, "  check: %s\n", line);
                }
                TEST_FAIL("case '%s': vhd_check did not list %s", c->name,
                          !found ? "the expected problem" : "the further expected problem");
        }
        size_t n_check = ps.n;
        vc_problems_done(&ps);
        assert_unchanged(path, before, len);
        if (c->base == DIFF)
                assert_unchanged(parent_path, parent->buf, parent->len);

        printf("ok %2zu %-40s %-20s %-35s @%-8" PRIu64 " (check: %zu problem%s)\n", i + 1, c->name,
               vc_problem_id_to_string(c->want.id), c->want.field ? c->want.field : "-", want_off,
               n_check, n_check == 1 ? "" : "s");
        free(before);
        unlink(path);
        vb_free(b);
}

/* The untouched bases are clean, so every failure above is the poke's. */
static void check_bases(void)
{
        for (enum base base = DYN; base <= FIXED; base++) {
                char path[VB_PATH_MAX];
                struct vb_image *b = make_base(base);
                struct vc_problems ps = {};
                struct vhd_image *img = NULL;

                vb_path_join(path, dir, "base.vhd");
                vb_write_file(b, path);
                ASSERT_EQ_INT(vhd_check(path, &ps), 0);
                ASSERT_EQ_U64(ps.n, 0);
                vc_problems_done(&ps);
                ASSERT_OK(vhd_image_open(path, VHD_OPEN_RDWR, &ps, &img));
                vhd_image_free(img);
                unlink(path);
                vb_free(b);
        }
        printf("ok base images are clean\n");
}

/*
 * A BAT in which every entry points past the footer: one problem per entry.
 * vhd_check keeps the first VC_PROBLEMS_MAX - 1 and a last one saying more
 * follow, instead of memory in proportion to the BAT (found by fuzz-vhd,
 * which spent most of its time growing that list one entry at a time).
 */
static void check_many_problems(void)
{
        const uint32_t entries = 3 * VC_PROBLEMS_MAX;
        struct vb_image *b = vb_dynamic((uint64_t) entries * 512, 512, VHD_TYPE_DYNAMIC);
        struct vc_problems ps = {};
        char path[VB_PATH_MAX];

        for (uint32_t i = 0; i < entries; i++)
                vb_set_bat(b, i, 0x00F00000u + i * 2);
        vb_path_join(path, dir, "many.vhd");
        vb_write_file(b, path);
        ASSERT_EQ_INT(vhd_check(path, &ps), 1);
        ASSERT_EQ_U64(ps.n, VC_PROBLEMS_MAX);
        ASSERT_EQ_INT(ps.v[0].id, VC_PROBLEM_BAT_OUT_OF_FILE);
        ASSERT_EQ_INT(ps.v[VC_PROBLEMS_MAX - 2].id, VC_PROBLEM_BAT_OUT_OF_FILE);
        ASSERT_TRUE(strstr(ps.v[VC_PROBLEMS_MAX - 1].message, "more problems follow") != NULL);
        ASSERT_TRUE(!ps.oom);
        vc_problems_done(&ps);
        unlink(path);
        vb_free(b);
        printf("ok %u bad BAT entries: %u problems listed, the last says more follow\n", entries,
               VC_PROBLEMS_MAX);
}

/*
 * Counts that size allocations are bounded by what the file holds (issue
 * 12 item 7).  A BAT over a hole: its entries read as 0 (blocks over the
 * footer copy), so it is refused before the table is read, with the field
 * and the offset where the hole begins.  A valid sparse 2040 GiB disk (a
 * 16 MiB BAT, all of it data) still opens.  And a table of many entries
 * naming the same block is checked in memory that follows the file's
 * size: of more blocks than the file has room for, one more than that
 * room are listed (they must overlap), not all.
 */
static void check_bounded_counts(void)
{
        const uint32_t entries = 1u << 20;      /* 4 MiB of BAT */
        struct vb_image *b = vb_dynamic((uint64_t) entries * 4096, 4096, VHD_TYPE_DYNAMIC);
        struct vc_problems ps = {};
        struct vhd_image *img = NULL;
        char path[VB_PATH_MAX];
        int fd;

        vb_alloc_block(b, 7, 1, VB_BITMAP_FULL);
        vb_path_join(path, dir, "hole.vhd");
        vb_write_file(b, path);
        fd = open(path, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        uint64_t from = b->bat_off + 64 * KiB, to = b->bat_off + (uint64_t) entries * 4 - 64 * KiB;
        off_t hole = -1;
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) from, (off_t) (to - from)) == 0)
                hole = lseek(fd, (off_t) b->bat_off, SEEK_HOLE);
        close(fd);
        if (hole >= 0 && (uint64_t) hole < to) {
                size_t len;
                uint8_t *before = vb_read_file(path, &len);
                ASSERT_EQ_INT(vhd_image_open(path, 0, &ps, &img), -EBADMSG);
                ASSERT_TRUE(img == NULL);
                ASSERT_EQ_INT(ps.first.id, VC_PROBLEM_BAT_OVERLAP);
                ASSERT_STREQ(ps.first.field, "bat");
                ASSERT_EQ_U64(ps.first.offset, (uint64_t) hole);
                ASSERT_TRUE(strstr(ps.first.message, "hole") != NULL);
                vc_problems_done(&ps);
                ps = (struct vc_problems) {};
                ASSERT_EQ_INT(vhd_check(path, &ps), 1);
                ASSERT_EQ_U64(ps.n, 1);
                ASSERT_EQ_INT(ps.v[0].id, VC_PROBLEM_BAT_OVERLAP);
                vc_problems_done(&ps);
                assert_unchanged(path, before, len);
                free(before);
                printf("ok a BAT over a hole is refused at offset %lld\n", (long long) hole);
        } else
                printf("ok a BAT over a hole: SKIP, no hole punching here\n");
        unlink(path);

        /* Every entry names block 7's sector: 2^20 blocks, room for ~1000. */
        uint32_t e = vb_bat_get(b, 7);
        for (uint32_t i = 0; i < entries; i++)
                vb_set_bat(b, i, e);
        vb_write_file(b, path);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(vhd_image_open(path, 0, &ps, &img), -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_BAT_OVERLAP, "bat", b->bat_off + 4);
        vc_problems_done(&ps);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(vhd_check(path, &ps), 1);
        /* One per block the file has room for, and one more. */
        ASSERT_TRUE(ps.n > 1 && ps.n <= vb_footer_off(b) / (4096 + 512) + 1);
        ASSERT_PROBLEM(&ps.v[0], VC_PROBLEM_BAT_OVERLAP, "bat", b->bat_off + 4);
        vc_problems_done(&ps);
        unlink(path);
        vb_free(b);
        printf("ok %u entries naming one block: overlaps listed for the file's room only\n", entries);

        /* 2040 GiB of 512 KiB blocks, two allocated: opens. */
        b = vb_dynamic(2040ull << 30, 512 * KiB, VHD_TYPE_DYNAMIC);
        vb_alloc_block(b, 0, 1, VB_BITMAP_FULL);
        vb_alloc_block(b, b->n_entries - 1, 2, VB_BITMAP_FULL);
        vb_path_join(path, dir, "big.vhd");
        vb_write_file(b, path);
        ps = (struct vc_problems) {};
        ASSERT_OK(vhd_image_open(path, VHD_OPEN_RDWR, &ps, &img));
        ASSERT_EQ_U64(vhd_image_blocks_allocated(img), 2);
        vhd_image_free(img);
        ASSERT_EQ_INT(vhd_check(path, &ps), 0);
        vc_problems_done(&ps);
        unlink(path);
        vb_free(b);
        printf("ok a 2040 GiB disk opens\n");
}

int main(void)
{
        size_t n = sizeof table / sizeof table[0];

        vb_temp_dir(dir);
        parent = vb_dynamic(1 * MiB, BS, VHD_TYPE_DYNAMIC);
        vb_alloc_block(parent, 1, 9, VB_BITMAP_FULL);
        vb_path_join(parent_path, dir, "parent.vhd");
        vb_write_file(parent, parent_path);

        check_bases();
        check_many_problems();
        check_bounded_counts();
        for (size_t i = 0; i < n; i++)
                run_case(i, &table[i]);
        printf("%zu corruptions refused with the expected problem, files unchanged\n", n);

        vb_free(parent);
        vb_remove_dir(dir);
        return 0;
}
