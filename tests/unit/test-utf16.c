/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/util/utf16: parent names (UTF-16BE) and W2ru/W2ku locators (UTF-16LE)
 * to UTF-8 and back.  Real images hold unpaired surrogates, so those must
 * decode to U+FFFD rather than fail, and a name that does not fit must be
 * refused rather than cut.
 */
#include <errno.h>

#include "tests.h"
#include "util/utf16.h"

/* Units to bytes in the requested order. */
static size_t units(const uint16_t *u, size_t n, bool be, uint8_t *out)
{
        for (size_t i = 0; i < n; i++) {
                out[2 * i + (be ? 0 : 1)] = (uint8_t) (u[i] >> 8);
                out[2 * i + (be ? 1 : 0)] = (uint8_t) u[i];
        }
        return 2 * n;
}

static void check_decode(const uint16_t *u, size_t n, const char *want)
{
        for (int be = 0; be <= 1; be++) {
                uint8_t in[64];
                char out[64];
                size_t len = units(u, n, be, in);
                int r = utf16_to_utf8(in, len, be, out, sizeof out);
                ASSERT_EQ_INT(r, (int) strlen(want));
                ASSERT_STREQ(out, want);
        }
}

static void test_basic(void)
{
        static const uint16_t ab[] = { 'a', 'b' };
        static const uint16_t bmp[] = { 0x00E9, 0x20AC, 'x', 0x07FF, 0x0800, 0xFFFF };
        uint8_t be_bytes[] = { 0x00, 'H', 0x00, 'i' };
        uint8_t le_bytes[] = { 'H', 0x00, 'i', 0x00 };
        char out[16];

        check_decode(ab, 2, "ab");
        check_decode(bmp, 6, "\xC3\xA9\xE2\x82\xAC" "x\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF");

        /* The byte order matters: the same bytes in the other order. */
        ASSERT_EQ_INT(utf16_to_utf8(be_bytes, 4, true, out, sizeof out), 2);
        ASSERT_STREQ(out, "Hi");
        ASSERT_EQ_INT(utf16_to_utf8(le_bytes, 4, false, out, sizeof out), 2);
        ASSERT_STREQ(out, "Hi");
        ASSERT_EQ_INT(utf16_to_utf8(be_bytes, 4, false, out, sizeof out), 6);
        ASSERT_STREQ(out, "\xE4\xA0\x80\xE6\xA4\x80"); /* U+4800 U+6900 */

        /* Empty input, and an odd trailing byte that is not a unit. */
        ASSERT_EQ_INT(utf16_to_utf8(be_bytes, 0, true, out, sizeof out), 0);
        ASSERT_STREQ(out, "");
        ASSERT_EQ_INT(utf16_to_utf8(be_bytes, 3, true, out, sizeof out), 1);
        ASSERT_STREQ(out, "H");
        printf("ok basic BE/LE decoding\n");
}

static void test_nul_stops(void)
{
        static const uint16_t u[] = { 'a', 0, 'b', 'c' };
        uint8_t name[512] = {};
        char out[800];

        check_decode(u, 4, "a");
        /* A NUL-padded 512-byte parent name field. */
        units((const uint16_t[]) { 'p', '.', 'v', 'h', 'd' }, 5, true, name);
        ASSERT_EQ_INT(utf16_to_utf8(name, sizeof name, true, out, sizeof out), 5);
        ASSERT_STREQ(out, "p.vhd");
        printf("ok NUL terminates\n");
}

static void test_surrogates(void)
{
        /* U+1F600 and U+10FFFF, U+10000 as pairs. */
        static const uint16_t pair[] = { 0xD83D, 0xDE00 };
        static const uint16_t edges[] = { 0xD800, 0xDC00, 0xDBFF, 0xDFFF };
        /* Unpaired: lone low, high then a letter, high at the end. */
        static const uint16_t lone_low[] = { 'a', 0xDC00, 'b' };
        static const uint16_t high_then_letter[] = { 0xD800, 'A' };
        static const uint16_t high_at_end[] = { 'z', 0xDBFF };
        static const uint16_t high_high_low[] = { 0xD800, 0xD83D, 0xDE00 };
        static const uint16_t low_high[] = { 0xDE00, 0xD83D };

        check_decode(pair, 2, "\xF0\x9F\x98\x80");
        check_decode(edges, 4, "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
        check_decode(lone_low, 3, "a\xEF\xBF\xBD" "b");
        check_decode(high_then_letter, 2, "\xEF\xBF\xBD" "A");
        check_decode(high_at_end, 2, "z\xEF\xBF\xBD");
        check_decode(high_high_low, 3, "\xEF\xBF\xBD\xF0\x9F\x98\x80");
        check_decode(low_high, 2, "\xEF\xBF\xBD\xEF\xBF\xBD");
        printf("ok surrogate pairs and unpaired surrogates -> U+FFFD\n");
}

static void test_overflow(void)
{
        static const uint16_t abc[] = { 'a', 'b', 'c' };
        static const uint16_t e_acute[] = { 0x00E9 };
        static const uint16_t pair[] = { 0xD83D, 0xDE00 };
        uint8_t in[16];
        char out[8];
        size_t n;

        n = units(abc, 3, true, in);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, true, out, 4), 3);
        ASSERT_STREQ(out, "abc");
        ASSERT_EQ_INT(utf16_to_utf8(in, n, true, out, 3), -ENAMETOOLONG);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, true, out, 1), -ENAMETOOLONG);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, true, out, 0), -ENAMETOOLONG);
        /* Empty input still needs room for the NUL. */
        ASSERT_EQ_INT(utf16_to_utf8(in, 0, true, out, 1), 0);
        ASSERT_STREQ(out, "");

        /* A multi-byte sequence is never cut. */
        n = units(e_acute, 1, false, in);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, false, out, 3), 2);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, false, out, 2), -ENAMETOOLONG);
        n = units(pair, 2, false, in);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, false, out, 5), 4);
        ASSERT_EQ_INT(utf16_to_utf8(in, n, false, out, 4), -ENAMETOOLONG);

        /* Encoding: exact fit and one byte short. */
        ASSERT_EQ_INT(utf8_to_utf16("abc", true, in, 6), 6);
        ASSERT_EQ_INT(utf8_to_utf16("abc", true, in, 5), -ENAMETOOLONG);
        ASSERT_EQ_INT(utf8_to_utf16("\xF0\x9F\x98\x80", true, in, 4), 4);
        ASSERT_EQ_INT(utf8_to_utf16("\xF0\x9F\x98\x80", true, in, 3), -ENAMETOOLONG);
        ASSERT_EQ_INT(utf8_to_utf16("\xF0\x9F\x98\x80", true, in, 2), -ENAMETOOLONG);
        ASSERT_EQ_INT(utf8_to_utf16("", true, in, 0), 0);
        printf("ok overflow -> -ENAMETOOLONG\n");
}

static void test_encode(void)
{
        static const uint8_t want_be[] = { 0x00, 'a', 0x00, 0xE9, 0x20, 0xAC, 0xD8, 0x3D, 0xDE, 0x00 };
        static const uint8_t want_le[] = { 'a', 0x00, 0xE9, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE };
        const char *s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
        uint8_t out[32];

        ASSERT_EQ_INT(utf8_to_utf16(s, true, out, sizeof out), (int) sizeof want_be);
        ASSERT_MEMEQ(out, want_be, sizeof want_be);
        ASSERT_EQ_INT(utf8_to_utf16(s, false, out, sizeof out), (int) sizeof want_le);
        ASSERT_MEMEQ(out, want_le, sizeof want_le);
        printf("ok utf8 -> utf16 BE/LE\n");
}

static void test_invalid_utf8(void)
{
        static const char *const bad[] = {
                "\xFF",                 /* never valid */
                "\x80",                 /* lone continuation byte */
                "a\xC3",                /* truncated two-byte sequence */
                "\xE2\x82",             /* truncated three-byte sequence */
                "\xF0\x9F\x98",         /* truncated four-byte sequence */
                "\xC3(",                /* continuation byte missing */
                "\xC0\xAF",             /* overlong '/' */
                "\xE0\x80\xAF",         /* overlong '/' */
                "\xED\xA0\x80",         /* UTF-8 encoded surrogate U+D800 */
                "\xF4\x90\x80\x80",     /* U+110000, beyond Unicode */
        };
        uint8_t out[32];

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                for (int be = 0; be <= 1; be++) {
                        int r = utf8_to_utf16(bad[i], be, out, sizeof out);
                        if (r != -EINVAL)
                                TEST_FAIL("utf8_to_utf16(invalid #%zu) == %d, expected -EINVAL", i, r);
                }
        printf("ok invalid UTF-8 -> -EINVAL\n");
}

static void test_roundtrip(void)
{
        static const char *const strs[] = {
                "",
                "parent.vhd",
                "C:\\Users\\Müller\\Disks\\Base disk.vhd",
                ".\\..\\日本語\\ディスク.vhd",
                "\xF0\x9F\x92\xBE disk \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF",
                "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF",
        };
        uint8_t u16[600];
        char back[1000];

        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
                for (int be = 0; be <= 1; be++) {
                        int n = utf8_to_utf16(strs[i], be, u16, sizeof u16);
                        ASSERT_OK(n);
                        ASSERT_EQ_INT(utf16_to_utf8(u16, (size_t) n, be, back, sizeof back),
                                      (int) strlen(strs[i]));
                        ASSERT_STREQ(back, strs[i]);
                }

        /* The longest name a 512-byte header field holds with its NUL. */
        char longest[256];
        memset(longest, 'n', 255);
        longest[255] = 0;
        ASSERT_EQ_INT(utf8_to_utf16(longest, true, u16, 510), 510);
        ASSERT_EQ_INT(utf16_to_utf8(u16, 510, true, back, sizeof back), 255);
        ASSERT_STREQ(back, longest);
        printf("ok utf8 -> utf16 -> utf8 roundtrip\n");
}

int main(void)
{
        test_basic();
        test_nul_stops();
        test_surrogates();
        test_overflow();
        test_encode();
        test_invalid_utf8();
        test_roundtrip();
        return 0;
}
