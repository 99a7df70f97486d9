/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/vhd/footer.c and dynheader.c: the checksum, decoding a valid footer
 * and header, and every refusal with its problem id, field name and absolute
 * file offset.
 *
 * The reference structures are byte for byte what `qemu-img create -f vpc`
 * (7.2) wrote for a 100 MiB dynamic disk and a 10 MiB fixed disk; only the
 * non-zero leading bytes are spelled out, the rest of each structure is
 * zero.  qemu itself is not needed to run this test.
 */
#include <errno.h>

#include "tests.h"
#include "util/endian.h"
#include "vhd/vhd.h"

/* qemu-img create -f vpc d.vhd 100M: file of 2560 bytes, footer at 2048. */
static const uint8_t qemu_dyn_footer_head[] = {
        0x63, 0x6f, 0x6e, 0x65, 0x63, 0x74, 0x69, 0x78, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x32, 0x97, 0x8a, 0x85, 0x71, 0x65, 0x6d, 0x75,
        0x00, 0x05, 0x00, 0x03, 0x57, 0x69, 0x32, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x06, 0x40, 0x20, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x06, 0x40, 0x20, 0x00, 0x03, 0xec, 0x0c, 0x11, 0x00, 0x00, 0x00, 0x03,
        0xff, 0xff, 0xee, 0x77, 0x39, 0x7f, 0xbf, 0x47, 0xa6, 0x0c, 0x41, 0x99, 0xab, 0xab, 0x2b, 0x93,
        0xca, 0x02, 0xcd, 0x5f,
};
#define QEMU_DYN_FILE_SIZE 2560u
#define QEMU_DYN_FOOTER_OFF 2048u
#define QEMU_DYN_CHECKSUM 0xffffee77u

/* Its dynamic header at 512. */
static const uint8_t qemu_dyn_header_head[] = {
        0x63, 0x78, 0x73, 0x70, 0x61, 0x72, 0x73, 0x65, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x33,
        0x00, 0x20, 0x00, 0x00, 0xff, 0xff, 0xf4, 0x44,
};
#define QEMU_DYN_HEADER_CHECKSUM 0xfffff444u

/* qemu-img create -f vpc -o subformat=fixed f.vhd 10M: 10514944 bytes. */
static const uint8_t qemu_fixed_footer_head[] = {
        0x63, 0x6f, 0x6e, 0x65, 0x63, 0x74, 0x69, 0x78, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x32, 0x97, 0x8b, 0x5d, 0x71, 0x65, 0x6d, 0x75,
        0x00, 0x05, 0x00, 0x03, 0x57, 0x69, 0x32, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x70, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x70, 0x00, 0x01, 0x2e, 0x04, 0x11, 0x00, 0x00, 0x00, 0x02,
        0xff, 0xff, 0xe5, 0x8a, 0x56, 0x7f, 0x6e, 0xd6, 0x12, 0xfe, 0x4c, 0xef, 0x96, 0xf4, 0x79, 0x2c,
        0x4c, 0xd4, 0x2a, 0x0c,
};
#define QEMU_FIXED_FILE_SIZE 10514944u
#define QEMU_FIXED_FOOTER_OFF (QEMU_FIXED_FILE_SIZE - 512u)
#define QEMU_FIXED_CHECKSUM 0xffffe58au

static void dyn_footer(uint8_t f[VHD_FOOTER_SIZE])
{
        memset(f, 0, VHD_FOOTER_SIZE);
        memcpy(f, qemu_dyn_footer_head, sizeof qemu_dyn_footer_head);
}

static void fixed_footer(uint8_t f[VHD_FOOTER_SIZE])
{
        memset(f, 0, VHD_FOOTER_SIZE);
        memcpy(f, qemu_fixed_footer_head, sizeof qemu_fixed_footer_head);
}

static void dyn_header(uint8_t h[VHD_DYN_SIZE])
{
        memset(h, 0, VHD_DYN_SIZE);
        memcpy(h, qemu_dyn_header_head, sizeof qemu_dyn_header_head);
}

/* The checksum rule written out independently: ~(sum of all bytes except the
 * 4-byte checksum field), 32-bit. */
static uint32_t ref_checksum(const uint8_t *p, size_t n, size_t field)
{
        uint32_t sum = 0;
        for (size_t i = 0; i < n; i++)
                if (i < field || i >= field + 4)
                        sum += p[i];
        return ~sum;
}

static void test_checksum(void)
{
        uint8_t f[VHD_FOOTER_SIZE], h[VHD_DYN_SIZE], z[VHD_DYN_SIZE] = {};

        dyn_footer(f);
        ASSERT_EQ_U64(vhd_checksum(f, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), QEMU_DYN_CHECKSUM);
        ASSERT_EQ_U64(ref_checksum(f, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), QEMU_DYN_CHECKSUM);
        /* The stored value does not take part. */
        put_be32(f + VHD_FOOTER_OFF_CHECKSUM, 0x12345678);
        ASSERT_EQ_U64(vhd_checksum(f, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), QEMU_DYN_CHECKSUM);
        vhd_footer_set_checksum(f);
        ASSERT_EQ_U64(get_be32(f + VHD_FOOTER_OFF_CHECKSUM), QEMU_DYN_CHECKSUM);
        uint8_t orig[VHD_FOOTER_SIZE];
        dyn_footer(orig);
        ASSERT_MEMEQ(f, orig, VHD_FOOTER_SIZE);

        fixed_footer(f);
        ASSERT_EQ_U64(vhd_checksum(f, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), QEMU_FIXED_CHECKSUM);

        dyn_header(h);
        ASSERT_EQ_U64(vhd_checksum(h, VHD_DYN_SIZE, VHD_DYN_OFF_CHECKSUM), QEMU_DYN_HEADER_CHECKSUM);
        put_be32(h + VHD_DYN_OFF_CHECKSUM, 0);
        vhd_dyn_header_set_checksum(h);
        ASSERT_EQ_U64(get_be32(h + VHD_DYN_OFF_CHECKSUM), QEMU_DYN_HEADER_CHECKSUM);

        /* Edge values: all zeros, and all 0xFF around the field. */
        ASSERT_EQ_U64(vhd_checksum(z, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), 0xFFFFFFFFu);
        memset(z, 0xFF, sizeof z);
        ASSERT_EQ_U64(vhd_checksum(z, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM), ~(508u * 255u));
        ASSERT_EQ_U64(vhd_checksum(z, VHD_DYN_SIZE, VHD_DYN_OFF_CHECKSUM), ~(1020u * 255u));

        /* Changing any one byte outside the field changes the sum. */
        dyn_footer(f);
        f[VHD_FOOTER_OFF_UNIQUE_ID] ^= 1;
        ASSERT_TRUE(vhd_checksum(f, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM) != QEMU_DYN_CHECKSUM);
        printf("ok checksum (qemu-img reference values)\n");
}

static void test_parse_valid(void)
{
        uint8_t raw[VHD_FOOTER_SIZE];
        struct vc_problems ps = {};
        struct vhd_footer f;
        static const uint8_t uuid[16] = { 0x39, 0x7f, 0xbf, 0x47, 0xa6, 0x0c, 0x41, 0x99,
                                          0xab, 0xab, 0x2b, 0x93, 0xca, 0x02, 0xcd, 0x5f };

        dyn_footer(raw);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_DYN_FOOTER_OFF, QEMU_DYN_FILE_SIZE, &ps, &f), 0);
        ASSERT_FALSE(vc_problems_any(&ps));
        ASSERT_EQ_U64(f.features, VHD_FEATURE_RESERVED);
        ASSERT_EQ_U64(f.version, VHD_VERSION_1_0);
        ASSERT_EQ_U64(f.data_offset, 512);
        ASSERT_EQ_U64(f.timestamp, 0x32978a85u);
        ASSERT_STREQ(f.creator_app, "qemu");
        ASSERT_EQ_U64(f.creator_version, 0x00050003u);
        ASSERT_EQ_U64(f.creator_os, 0x5769326Bu);
        ASSERT_EQ_U64(f.original_size, 104865792u);
        ASSERT_EQ_U64(f.current_size, 104865792u);
        ASSERT_EQ_U64(f.cylinders, 1004);
        ASSERT_EQ_U64(f.heads, 12);
        ASSERT_EQ_U64(f.sectors, 17);
        ASSERT_EQ_U64(f.disk_type, VHD_TYPE_DYNAMIC);
        ASSERT_EQ_U64(f.checksum, QEMU_DYN_CHECKSUM);
        ASSERT_MEMEQ(f.unique_id, uuid, 16);
        ASSERT_EQ_U64(f.saved_state, 0);
        ASSERT_MEMEQ(f.raw, raw, VHD_FOOTER_SIZE);
        ASSERT_STREQ(vhd_disk_type_to_string(f.disk_type), "dynamic");

        fixed_footer(raw);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_FIXED_FOOTER_OFF, QEMU_FIXED_FILE_SIZE, &ps, &f), 0);
        ASSERT_EQ_U64(f.disk_type, VHD_TYPE_FIXED);
        ASSERT_EQ_U64(f.data_offset, UINT64_MAX);
        ASSERT_EQ_U64(f.current_size, QEMU_FIXED_FOOTER_OFF);
        ASSERT_EQ_U64(f.cylinders, 302);
        ASSERT_EQ_U64(f.heads, 4);
        ASSERT_EQ_U64(f.sectors, 17);
        ASSERT_STREQ(vhd_disk_type_to_string(f.disk_type), "fixed");

        /* Fixed data offset: the spec's 32-bit all-ones is accepted too. */
        put_be64(raw + VHD_FOOTER_OFF_DATA_OFFSET, 0xFFFFFFFFull);
        vhd_footer_set_checksum(raw);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_FIXED_FOOTER_OFF, QEMU_FIXED_FILE_SIZE, NULL, &f), 0);
        ASSERT_EQ_U64(f.data_offset, 0xFFFFFFFFull);

        /* Accepted variations: the temporary bit, a 1.x minor version,
         * saved state 1, the largest size, a header right before the footer. */
        dyn_footer(raw);
        put_be32(raw + VHD_FOOTER_OFF_FEATURES, VHD_FEATURE_RESERVED | VHD_FEATURE_TEMPORARY);
        put_be32(raw + VHD_FOOTER_OFF_VERSION, 0x00010001);
        raw[VHD_FOOTER_OFF_SAVED_STATE] = 1;
        put_be64(raw + VHD_FOOTER_OFF_CURRENT_SIZE, VHD_MAX_SIZE);
        put_be64(raw + VHD_FOOTER_OFF_DATA_OFFSET, 1024);
        vhd_footer_set_checksum(raw);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_DYN_FOOTER_OFF, QEMU_DYN_FILE_SIZE, NULL, &f), 0);
        ASSERT_EQ_U64(f.features, 3);
        ASSERT_EQ_U64(f.saved_state, 1);
        ASSERT_EQ_U64(f.current_size, 2190433320960ull);
        ASSERT_EQ_U64(f.data_offset, 1024);

        /* Differencing is a known type. */
        dyn_footer(raw);
        put_be32(raw + VHD_FOOTER_OFF_DISK_TYPE, VHD_TYPE_DIFFERENCING);
        vhd_footer_set_checksum(raw);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_DYN_FOOTER_OFF, QEMU_DYN_FILE_SIZE, NULL, &f), 0);
        ASSERT_STREQ(vhd_disk_type_to_string(f.disk_type), "differencing");
        ASSERT_STREQ(vhd_disk_type_to_string(5), "unknown");
        printf("ok parse valid qemu-img footers\n");
}

/* A mutation of a reference footer and what parsing it must report. */
struct footer_case {
        const char *name;
        bool fixed;
        size_t field;           /* 0 with width 0: cookie poke */
        unsigned width;         /* 4 or 8; 0 = special */
        uint64_t value;
        bool keep_checksum;
        enum vc_problem_id id;
        const char *problem_field;
        size_t problem_off;     /* relative to the footer */
};

static const struct footer_case footer_cases[] = {
        { "cookie", false, VHD_FOOTER_OFF_COOKIE, 0, 0, false,
          VC_PROBLEM_BAD_COOKIE, "footer.cookie", VHD_FOOTER_OFF_COOKIE },
        { "checksum", false, VHD_FOOTER_OFF_CHECKSUM, 4, 0xffffee78u, true,
          VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", VHD_FOOTER_OFF_CHECKSUM },
        { "content changed, checksum kept", false, VHD_FOOTER_OFF_TIMESTAMP, 4, 1, true,
          VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", VHD_FOOTER_OFF_CHECKSUM },
        { "version 2.0", false, VHD_FOOTER_OFF_VERSION, 4, 0x00020000u, false,
          VC_PROBLEM_BAD_VERSION, "footer.version", VHD_FOOTER_OFF_VERSION },
        { "version 0.1", false, VHD_FOOTER_OFF_VERSION, 4, 0x00000001u, false,
          VC_PROBLEM_BAD_VERSION, "footer.version", VHD_FOOTER_OFF_VERSION },
        { "feature bit 0x4", false, VHD_FOOTER_OFF_FEATURES, 4, 0x6, false,
          VC_PROBLEM_BAD_FEATURES, "footer.features", VHD_FOOTER_OFF_FEATURES },
        { "feature bit 0x80000000", false, VHD_FOOTER_OFF_FEATURES, 4, 0x80000002u, false,
          VC_PROBLEM_BAD_FEATURES, "footer.features", VHD_FOOTER_OFF_FEATURES },
        { "disk type 0", false, VHD_FOOTER_OFF_DISK_TYPE, 4, 0, false,
          VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", VHD_FOOTER_OFF_DISK_TYPE },
        { "disk type 1", false, VHD_FOOTER_OFF_DISK_TYPE, 4, 1, false,
          VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", VHD_FOOTER_OFF_DISK_TYPE },
        { "disk type 5", false, VHD_FOOTER_OFF_DISK_TYPE, 4, 5, false,
          VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", VHD_FOOTER_OFF_DISK_TYPE },
        { "disk type 6", false, VHD_FOOTER_OFF_DISK_TYPE, 4, 6, false,
          VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", VHD_FOOTER_OFF_DISK_TYPE },
        { "size not a multiple of 512", false, VHD_FOOTER_OFF_CURRENT_SIZE, 8, 104865792u + 1, false,
          VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE },
        { "size 2040 GiB + 512", false, VHD_FOOTER_OFF_CURRENT_SIZE, 8, VHD_MAX_SIZE + 512, false,
          VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE },
        { "size 2^64 - 512", false, VHD_FOOTER_OFF_CURRENT_SIZE, 8, UINT64_MAX - 511, false,
          VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE },
        { "saved state 2", false, VHD_FOOTER_OFF_SAVED_STATE, 1, 2, false,
          VC_PROBLEM_BAD_FEATURES, "footer.saved_state", VHD_FOOTER_OFF_SAVED_STATE },
        { "fixed: data offset 512", true, VHD_FOOTER_OFF_DATA_OFFSET, 8, 512, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "fixed: data offset 0", true, VHD_FOOTER_OFF_DATA_OFFSET, 8, 0, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "fixed: data offset high half ones", true, VHD_FOOTER_OFF_DATA_OFFSET, 8,
          0xFFFFFFFF00000000ull, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "fixed: size larger than the file", true, VHD_FOOTER_OFF_CURRENT_SIZE, 8,
          QEMU_FIXED_FOOTER_OFF + 512, false,
          VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE },
        { "fixed: size smaller than the file", true, VHD_FOOTER_OFF_CURRENT_SIZE, 8,
          QEMU_FIXED_FOOTER_OFF - 512, false,
          VC_PROBLEM_BAD_SIZE, "footer.current_size", VHD_FOOTER_OFF_CURRENT_SIZE },
        { "dynamic: header offset 0", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, 0, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "dynamic: header offset unaligned", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, 513, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "dynamic: header overlaps the footer", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, 1536, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "dynamic: header past the end", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, 1u << 20, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "dynamic: header offset all ones", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, UINT64_MAX, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
        { "dynamic: header offset wraps", false, VHD_FOOTER_OFF_DATA_OFFSET, 8, UINT64_MAX - 511, false,
          VC_PROBLEM_BAD_DATA_OFFSET, "footer.data_offset", VHD_FOOTER_OFF_DATA_OFFSET },
};

static void test_parse_rejections(void)
{
        for (size_t i = 0; i < sizeof footer_cases / sizeof footer_cases[0]; i++) {
                const struct footer_case *c = &footer_cases[i];
                uint64_t at = c->fixed ? QEMU_FIXED_FOOTER_OFF : QEMU_DYN_FOOTER_OFF;
                uint64_t size = c->fixed ? QEMU_FIXED_FILE_SIZE : QEMU_DYN_FILE_SIZE;
                uint8_t raw[VHD_FOOTER_SIZE];
                struct vc_problems ps = {};
                struct vhd_footer f, sentinel;

                c->fixed ? fixed_footer(raw) : dyn_footer(raw);
                switch (c->width) {
                case 0: raw[c->field + 7] = 'X'; break;
                case 1: raw[c->field] = (uint8_t) c->value; break;
                case 4: put_be32(raw + c->field, (uint32_t) c->value); break;
                case 8: put_be64(raw + c->field, c->value); break;
                }
                if (!c->keep_checksum)
                        vhd_footer_set_checksum(raw);

                memset(&f, 0xA5, sizeof f);
                sentinel = f;
                ASSERT_EQ_INT(vhd_footer_parse(raw, at, size, &ps, &f), -EBADMSG);
                ASSERT_EQ_U64(ps.n, 1);
                ASSERT_PROBLEM(&ps.first, c->id, c->problem_field, at + c->problem_off);
                ASSERT_EQ_INT(ps.first.error, -EBADMSG);
                ASSERT_TRUE(ps.first.message[0] != 0);
                /* ret_ is written only on success. */
                ASSERT_MEMEQ(&f, &sentinel, sizeof f);
                /* No sink at all is fine too. */
                ASSERT_EQ_INT(vhd_footer_parse(raw, at, size, NULL, &f), -EBADMSG);
                ASSERT_MEMEQ(&f, &sentinel, sizeof f);
                printf("ok footer rejects %-40s %s %s @%" PRIu64 "\n", c->name,
                       vc_problem_id_to_string(c->id), c->problem_field, at + c->problem_off);
        }
}

static void test_collect(void)
{
        uint8_t raw[VHD_FOOTER_SIZE];
        struct vc_problems ps = { .collect = true };
        struct vhd_footer f;
        char line[512];

        /* Three things wrong at once, checksum left stale: all are reported,
         * in the order of the checks. */
        dyn_footer(raw);
        put_be32(raw + VHD_FOOTER_OFF_VERSION, 0x00020000);
        put_be32(raw + VHD_FOOTER_OFF_FEATURES, 0x12);
        put_be32(raw + VHD_FOOTER_OFF_DISK_TYPE, 9);
        ASSERT_EQ_INT(vhd_footer_parse(raw, QEMU_DYN_FOOTER_OFF, QEMU_DYN_FILE_SIZE, &ps, &f),
                      -EBADMSG);
        ASSERT_EQ_U64(ps.n, 4);
        ASSERT_PROBLEM(&ps.v[0], VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", QEMU_DYN_FOOTER_OFF + 64);
        ASSERT_PROBLEM(&ps.v[1], VC_PROBLEM_BAD_VERSION, "footer.version", QEMU_DYN_FOOTER_OFF + 12);
        ASSERT_PROBLEM(&ps.v[2], VC_PROBLEM_BAD_FEATURES, "footer.features", QEMU_DYN_FOOTER_OFF + 8);
        ASSERT_PROBLEM(&ps.v[3], VC_PROBLEM_BAD_DISK_TYPE, "footer.disk_type", QEMU_DYN_FOOTER_OFF + 60);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_BAD_CHECKSUM, "footer.checksum", QEMU_DYN_FOOTER_OFF + 64);
        vc_problem_format(&ps.v[1], line, sizeof line);
        ASSERT_TRUE(strstr(line, "bad-version") == line);
        ASSERT_TRUE(strstr(line, "field footer.version at offset 2060") != NULL);
        vc_problems_done(&ps);
        ASSERT_EQ_U64(ps.n, 0);
        printf("ok collect mode reports every footer problem\n");
}

static void test_dyn_header(void)
{
        uint8_t raw[VHD_DYN_SIZE];
        struct vhd_dyn_header h;
        struct vc_problems ps = {};

        dyn_header(raw);
        ASSERT_EQ_INT(vhd_dyn_header_parse(raw, 512, VHD_TYPE_DYNAMIC, &ps, &h), 0);
        ASSERT_EQ_U64(h.data_offset, UINT64_MAX);
        ASSERT_EQ_U64(h.table_offset, 1536);
        ASSERT_EQ_U64(h.version, VHD_VERSION_1_0);
        ASSERT_EQ_U64(h.max_entries, 51);
        ASSERT_EQ_U64(h.block_size, 2u << 20);
        ASSERT_EQ_U64(h.checksum, QEMU_DYN_HEADER_CHECKSUM);
        ASSERT_STREQ(h.parent_name, "");
        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++)
                ASSERT_EQ_U64(h.locators[i].code, VHD_LOC_NONE);

        static const struct {
                const char *name;
                size_t field;
                unsigned width;
                uint64_t value;
                bool keep_checksum;
                uint32_t disk_type;
                enum vc_problem_id id;
                const char *problem_field;
                size_t problem_off;
        } cases[] = {
                { "cookie", 7, 1, 'X', false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_COOKIE, "header.cookie", 0 },
                { "checksum", VHD_DYN_OFF_CHECKSUM, 4, 0, true, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_CHECKSUM, "header.checksum", VHD_DYN_OFF_CHECKSUM },
                { "data offset", VHD_DYN_OFF_DATA_OFFSET, 8, 0, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_DATA_OFFSET, "header.data_offset", VHD_DYN_OFF_DATA_OFFSET },
                { "version", VHD_DYN_OFF_VERSION, 4, 0x00010001, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_VERSION, "header.version", VHD_DYN_OFF_VERSION },
                { "block size 0", VHD_DYN_OFF_BLOCK_SIZE, 4, 0, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", VHD_DYN_OFF_BLOCK_SIZE },
                { "block size 3 MiB", VHD_DYN_OFF_BLOCK_SIZE, 4, 3u << 20, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", VHD_DYN_OFF_BLOCK_SIZE },
                { "block size 256", VHD_DYN_OFF_BLOCK_SIZE, 4, 256, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", VHD_DYN_OFF_BLOCK_SIZE },
                { "block size 512 MiB", VHD_DYN_OFF_BLOCK_SIZE, 4, 512u << 20, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_BLOCK_SIZE, "header.block_size", VHD_DYN_OFF_BLOCK_SIZE },
                { "table offset unaligned", VHD_DYN_OFF_TABLE_OFFSET, 8, 1537, false, VHD_TYPE_DYNAMIC,
                  VC_PROBLEM_BAD_TABLE_OFFSET, "header.table_offset", VHD_DYN_OFF_TABLE_OFFSET },
                { "locator on a dynamic disk", VHD_DYN_OFF_LOCATORS, 4, VHD_LOC_W2KU, false,
                  VHD_TYPE_DYNAMIC, VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.code",
                  VHD_DYN_OFF_LOCATORS },
                { "unknown locator code", VHD_DYN_OFF_LOCATORS + 2 * VHD_DYN_LOCATOR_SIZE, 4,
                  0x41424344, false, VHD_TYPE_DIFFERENCING, VC_PROBLEM_BAD_LOCATOR,
                  "header.parent_locator.code", VHD_DYN_OFF_LOCATORS + 2 * VHD_DYN_LOCATOR_SIZE },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                dyn_header(raw);
                switch (cases[i].width) {
                case 1: raw[cases[i].field] = (uint8_t) cases[i].value; break;
                case 4: put_be32(raw + cases[i].field, (uint32_t) cases[i].value); break;
                case 8: put_be64(raw + cases[i].field, cases[i].value); break;
                }
                if (!cases[i].keep_checksum)
                        vhd_dyn_header_set_checksum(raw);
                ps = (struct vc_problems) {};
                ASSERT_EQ_INT(vhd_dyn_header_parse(raw, 4096, cases[i].disk_type, &ps, &h), -EBADMSG);
                ASSERT_PROBLEM(&ps.first, cases[i].id, cases[i].problem_field,
                               4096 + cases[i].problem_off);
                printf("ok header rejects %-40s %s %s @%" PRIu64 "\n", cases[i].name,
                       vc_problem_id_to_string(cases[i].id), cases[i].problem_field,
                       (uint64_t) 4096 + cases[i].problem_off);
        }

        /* A differencing header: locators with long or unaligned payloads. */
        dyn_header(raw);
        uint8_t *e = raw + VHD_DYN_OFF_LOCATORS + VHD_DYN_LOCATOR_SIZE;
        put_be32(e + VHD_LOC_OFF_CODE, VHD_LOC_W2RU);
        put_be32(e + VHD_LOC_OFF_DATA_SPACE, 512);
        put_be32(e + VHD_LOC_OFF_DATA_LENGTH, 24);
        put_be64(e + VHD_LOC_OFF_DATA_OFFSET, 2048);
        vhd_dyn_header_set_checksum(raw);
        ASSERT_EQ_INT(vhd_dyn_header_parse(raw, 512, VHD_TYPE_DIFFERENCING, NULL, &h), 0);
        ASSERT_EQ_U64(h.locators[1].code, VHD_LOC_W2RU);
        ASSERT_EQ_U64(h.locators[1].data_length, 24);
        ASSERT_EQ_U64(h.locators[1].data_offset, 2048);
        ASSERT_STREQ(vhd_locator_code_to_string(h.locators[1].code), "W2ru");
        put_be32(e + VHD_LOC_OFF_DATA_LENGTH, VHD_MAX_LOCATOR_LENGTH + 1);
        vhd_dyn_header_set_checksum(raw);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(vhd_dyn_header_parse(raw, 512, VHD_TYPE_DIFFERENCING, &ps, &h), -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_length",
                       512 + VHD_DYN_OFF_LOCATORS + VHD_DYN_LOCATOR_SIZE + VHD_LOC_OFF_DATA_LENGTH);
        put_be32(e + VHD_LOC_OFF_DATA_LENGTH, 24);
        put_be64(e + VHD_LOC_OFF_DATA_OFFSET, 2049);
        vhd_dyn_header_set_checksum(raw);
        ps = (struct vc_problems) {};
        ASSERT_EQ_INT(vhd_dyn_header_parse(raw, 512, VHD_TYPE_DIFFERENCING, &ps, &h), -EBADMSG);
        ASSERT_PROBLEM(&ps.first, VC_PROBLEM_BAD_LOCATOR, "header.parent_locator.data_offset",
                       512 + VHD_DYN_OFF_LOCATORS + VHD_DYN_LOCATOR_SIZE + VHD_LOC_OFF_DATA_OFFSET);
        printf("ok dynamic header parse (qemu-img reference) and rejections\n");
}

int main(void)
{
        test_checksum();
        test_parse_valid();
        test_parse_rejections();
        test_collect();
        test_dyn_header();
        return 0;
}
