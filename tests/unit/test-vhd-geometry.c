/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/vhd/geometry.c: CHS geometry from a size, and qemu's choice between
 * the CHS product and Current Size.
 *
 * Three oracles: (1) the VHD specification's algorithm, written out again
 * here from docs/formats/vhd.md ("CHS geometry") and compared over a
 * sweep of sizes; (2) what qemu-img 7.2 wrote into real footers
 * (`qemu-img create -f vpc`), hard coded below together with qemu's
 * "round up until the CHS product covers the request" rule; (3) the
 * qemu >= 10 creator table for reading sizes.
 */
#include "tests.h"
#include "vhd/vhd.h"

#define MAX_CHS_SECTORS (65535ull * 16 * 255)

/* docs/formats/vhd.md ("CHS geometry"), step by step. */
static struct vhd_geometry spec_geometry(uint64_t size)
{
        uint64_t total = size / 512, spt, heads, cth;

        if (total > MAX_CHS_SECTORS)
                total = MAX_CHS_SECTORS;
        if (total >= 65535ull * 16 * 63) {
                spt = 255;
                heads = 16;
                cth = total / spt;
        } else {
                spt = 17;
                cth = total / spt;
                heads = (cth + 1023) / 1024;
                if (heads < 4)
                        heads = 4;
                if (cth >= heads * 1024 || heads > 16) {
                        spt = 31;
                        heads = 16;
                        cth = total / spt;
                }
                if (cth >= heads * 1024) {
                        spt = 63;
                        heads = 16;
                        cth = total / spt;
                }
        }
        return (struct vhd_geometry) { (uint16_t) (cth / heads), (uint8_t) heads, (uint8_t) spt };
}

static void assert_geometry(struct vhd_geometry g, unsigned c, unsigned h, unsigned s,
                            uint64_t size)
{
        if (g.cylinders != c || g.heads != h || g.sectors != s)
                TEST_FAIL("size %" PRIu64 ": geometry %u/%u/%u, expected %u/%u/%u", size,
                          g.cylinders, g.heads, g.sectors, c, h, s);
}

/* qemu-img create: the requested size, what it stored as Current Size and
 * the geometry it wrote. */
static const struct {
        const char *what;
        uint64_t requested;
        uint64_t stored;
        unsigned c, h, s;
} qemu_made[] = {
        { "1M", 1ull << 20, 1079296, 31, 4, 17 },
        { "3M", 3ull << 20, 3168256, 91, 4, 17 },
        { "10M", 10ull << 20, 10514432, 302, 4, 17 },
        { "32M", 32ull << 20, 33562624, 964, 4, 17 },
        { "100M", 100ull << 20, 104865792, 1004, 12, 17 },
        { "500M", 500ull << 20, 524353536, 1016, 16, 63 },
        { "1G", 1ull << 30, 1073995776, 2081, 16, 63 },
        { "4G", 4ull << 30, 4295467008ull, 8323, 16, 63 },
        { "32G", 32ull << 30, 34361303040ull, 16449, 16, 255 },
        { "64G", 64ull << 30, 68720517120ull, 32897, 16, 255 },
        { "127G", 127ull << 30, 136365219840ull, 65279, 16, 255 },
        { "127.5G", 255ull << 29, 136902082560ull, 65535, 16, 255 },
        { "200G", 200ull << 30, 214748364800ull, 65535, 16, 255 },
        { "2040G", 2040ull << 30, 2190433320960ull, 65535, 16, 255 },
};

/* qemu's creation rule on top of the library's geometry: grow the sector
 * count until the CHS product covers the request; past the CHS range keep
 * the exact size with the maximum geometry. */
static uint64_t qemu_create_size(uint64_t requested, struct vhd_geometry *ret)
{
        uint64_t want = requested / 512;
        struct vhd_geometry g = { 0, 0, 0 };

        for (uint64_t t = want; (uint64_t) g.cylinders * g.heads * g.sectors < want; t++) {
                if (t > MAX_CHS_SECTORS) {
                        g = (struct vhd_geometry) { 65535, 16, 255 };
                        break;
                }
                g = vhd_geometry_from_size(t * 512);
        }
        *ret = g;
        if ((uint64_t) g.cylinders * g.heads * g.sectors == MAX_CHS_SECTORS)
                return requested;
        return vhd_geometry_size(g);
}

static void test_qemu_made(void)
{
        for (size_t i = 0; i < sizeof qemu_made / sizeof qemu_made[0]; i++) {
                struct vhd_geometry g;
                uint64_t stored;

                /* The geometry of what qemu stored is what qemu wrote. */
                g = vhd_geometry_from_size(qemu_made[i].stored);
                assert_geometry(g, qemu_made[i].c, qemu_made[i].h, qemu_made[i].s,
                                qemu_made[i].stored);
                /* And qemu's rounding, on our geometry, lands on it. */
                stored = qemu_create_size(qemu_made[i].requested, &g);
                ASSERT_EQ_U64(stored, qemu_made[i].stored);
                assert_geometry(g, qemu_made[i].c, qemu_made[i].h, qemu_made[i].s,
                                qemu_made[i].requested);
                if (qemu_made[i].c != 65535)
                        ASSERT_EQ_U64(vhd_geometry_size(g), qemu_made[i].stored);
                printf("ok qemu-img %-6s -> %" PRIu64 " bytes, CHS %u/%u/%u\n", qemu_made[i].what,
                       stored, qemu_made[i].c, qemu_made[i].h, qemu_made[i].s);
        }
}

static void test_spec_table(void)
{
        static const struct {
                uint64_t size;
                unsigned c, h, s;
        } t[] = {
                { 0, 0, 4, 17 },
                { 512, 0, 4, 17 },
                { 512ull * 17 * 4, 1, 4, 17 },
                { 512ull * 17 * 4 * 1024 - 512, 1023, 4, 17 },
                /* Just under 65535*16*63 sectors: still the small rules. */
                { 512ull * (65535ull * 16 * 63 - 1), 65534, 16, 63 },
                { 512ull * 65535 * 16 * 63, 16191, 16, 255 },
                /* The maximum CHS and everything beyond it. */
                { 512ull * MAX_CHS_SECTORS, 65535, 16, 255 },
                { 512ull * MAX_CHS_SECTORS + 512, 65535, 16, 255 },
                { VHD_MAX_SIZE, 65535, 16, 255 },
                { UINT64_MAX, 65535, 16, 255 },
        };

        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                assert_geometry(vhd_geometry_from_size(t[i].size), t[i].c, t[i].h, t[i].s, t[i].size);
                assert_geometry(spec_geometry(t[i].size), t[i].c, t[i].h, t[i].s, t[i].size);
        }
        ASSERT_EQ_U64(vhd_geometry_size((struct vhd_geometry) { 65535, 16, 255 }), 136899993600ull);
        printf("ok spec table, max CHS 65535/16/255 = 136899993600 bytes\n");
}

static void test_spec_sweep(void)
{
        uint64_t n = 0;

        /* Every sector count in the small range, where the rules switch. */
        for (uint64_t t = 0; t < 300000; t++, n++) {
                struct vhd_geometry a = vhd_geometry_from_size(t * 512), b = spec_geometry(t * 512);
                if (a.cylinders != b.cylinders || a.heads != b.heads || a.sectors != b.sectors)
                        TEST_FAIL("%" PRIu64 " sectors: %u/%u/%u, spec says %u/%u/%u", t,
                                  a.cylinders, a.heads, a.sectors, b.cylinders, b.heads, b.sectors);
                /* The product never exceeds the size (it rounds down). */
                ASSERT_TRUE(vhd_geometry_size(a) <= t * 512);
        }
        /* Then a geometric walk with neighbours up to 2040 GiB. */
        for (uint64_t t = 300000; t < VHD_MAX_SECTORS; t += t / 997 + 1)
                for (uint64_t d = 0; d < 3; d++, n++) {
                        uint64_t size = (t + d) * 512;
                        struct vhd_geometry a = vhd_geometry_from_size(size), b = spec_geometry(size);
                        if (a.cylinders != b.cylinders || a.heads != b.heads || a.sectors != b.sectors)
                                TEST_FAIL("%" PRIu64 " bytes: %u/%u/%u, spec says %u/%u/%u", size,
                                          a.cylinders, a.heads, a.sectors, b.cylinders, b.heads,
                                          b.sectors);
                        ASSERT_TRUE(vhd_geometry_size(a) <= size);
                        ASSERT_TRUE(a.heads <= 16 && a.sectors <= 255);
                }
        /* Sizes that are not whole sectors count their whole sectors only. */
        assert_geometry(vhd_geometry_from_size(10514432 + 511), 302, 4, 17, 10514432 + 511);
        printf("ok spec algorithm over %" PRIu64 " sizes\n", n);
}

static struct vhd_footer footer(const char *creator, uint32_t type, uint64_t size, unsigned c,
                                unsigned h, unsigned s)
{
        struct vhd_footer f = { .disk_type = type, .current_size = size, .original_size = size,
                                .cylinders = (uint16_t) c, .heads = (uint8_t) h,
                                .sectors = (uint8_t) s };
        memcpy(f.creator_app, creator, 4);
        f.creator_app[4] = 0;
        return f;
}

static void test_qemu_size(void)
{
        /* A 10 MiB request as Virtual PC would describe it: CHS 301/4/17 is
         * 10477568 bytes, less than Current Size. */
        const uint64_t size = 10ull << 20, chs = 301ull * 4 * 17 * 512;
        static const char *const chs_creators[] = { "qemu", "vpc " };
        static const char *const size_creators[] = { "win ", "d2v ", "vbox", "qem2", "vs  ",
                                                     "tap\0", "CTXS", "wa\0\0", "vhdc" };
        struct vhd_footer f;

        for (size_t i = 0; i < 2; i++)
                for (uint32_t type = VHD_TYPE_DYNAMIC; type <= VHD_TYPE_DIFFERENCING; type++) {
                        f = footer(chs_creators[i], type, size, 301, 4, 17);
                        ASSERT_EQ_U64(vhd_footer_qemu_size(&f), chs);
                        /* Unless the geometry is the maximum: then Current Size. */
                        f = footer(chs_creators[i], type, 200ull << 30, 65535, 16, 255);
                        ASSERT_EQ_U64(vhd_footer_qemu_size(&f), 200ull << 30);
                        /* 65535/16/63 is not the maximum. */
                        f = footer(chs_creators[i], type, 40ull << 30, 65535, 16, 63);
                        ASSERT_EQ_U64(vhd_footer_qemu_size(&f), 65535ull * 16 * 63 * 512);
                }
        for (size_t i = 0; i < sizeof size_creators / sizeof size_creators[0]; i++) {
                f = footer(size_creators[i], VHD_TYPE_DYNAMIC, size, 301, 4, 17);
                if (vhd_footer_qemu_size(&f) != size)
                        TEST_FAIL("creator '%.4s': qemu size %" PRIu64 ", expected %" PRIu64,
                                  size_creators[i], vhd_footer_qemu_size(&f), size);
        }
        /* Creator names are case-sensitive and exactly four bytes. */
        f = footer("QEMU", VHD_TYPE_DYNAMIC, size, 301, 4, 17);
        ASSERT_EQ_U64(vhd_footer_qemu_size(&f), size);
        f = footer("vpc\0", VHD_TYPE_DYNAMIC, size, 301, 4, 17);
        ASSERT_EQ_U64(vhd_footer_qemu_size(&f), size);

        /* What qemu-img itself made agrees either way. */
        for (size_t i = 0; i < sizeof qemu_made / sizeof qemu_made[0]; i++) {
                f = footer("qemu", VHD_TYPE_DYNAMIC, qemu_made[i].stored, qemu_made[i].c,
                           qemu_made[i].h, qemu_made[i].s);
                ASSERT_EQ_U64(vhd_footer_qemu_size(&f), qemu_made[i].stored);
        }
        printf("ok qemu size rules: 'qemu'/'vpc ' use CHS unless 65535/16/255, others Current Size\n");
}

int main(void)
{
        test_spec_table();
        test_spec_sweep();
        test_qemu_made();
        test_qemu_size();
        return 0;
}
