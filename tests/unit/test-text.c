/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/util/text: the strict UTF-8 decoder against an independent definition
 * (a byte string is valid when it is the shortest encoding of a scalar
 * value, checked by re-encoding), exhaustively for one to three bytes and
 * on every lead byte with boundary continuations for four; text_escape on
 * controls, bad bytes and cuts; the streaming form the same in pieces of
 * any size; problem messages made safe at the source.
 */
#include <errno.h>

#include "tests.h"
#include "util/problem.h"
#include "util/text.h"

/* The reference encoder: the shortest form of scalar value c. */
static size_t encode(uint32_t c, unsigned char *b)
{
        if (c < 0x80)
                return b[0] = (unsigned char) c, 1;
        if (c < 0x800)
                return b[0] = 0xC0 | c >> 6, b[1] = 0x80 | (c & 0x3F), 2;
        if (c < 0x10000)
                return b[0] = 0xE0 | c >> 12, b[1] = 0x80 | (c >> 6 & 0x3F), b[2] = 0x80 | (c & 0x3F), 3;
        b[0] = 0xF0 | c >> 18, b[1] = 0x80 | (c >> 12 & 0x3F), b[2] = 0x80 | (c >> 6 & 0x3F);
        b[3] = 0x80 | (c & 0x3F);
        return 4;
}

/* Valid per the definition: some scalar value's shortest form is exactly
 * the first k bytes, for the k the lead byte announces. */
static int reference_len(const unsigned char *b, size_t n)
{
        for (size_t k = 1; k <= 4 && k <= n; k++) {
                uint32_t c = 0;
                unsigned char e[4];
                /* Decode k bytes loosely, then demand the re-encoding match. */
                c = k == 1 ? b[0] : (uint32_t) (b[0] & (0x7F >> k));
                for (size_t i = 1; i < k; i++)
                        c = c << 6 | (b[i] & 0x3F);
                if (c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
                        continue;
                if (encode(c, e) == k && memcmp(e, b, k) == 0)
                        return (int) k;
        }
        return -1;
}

static void check_bytes(const unsigned char *b, size_t n)
{
        uint32_t c;
        int want = reference_len(b, n), got = utf8_decode((const char *) b, n, &c);
        if (want != got) {
                fprintf(stderr, "bytes %02x %02x %02x %02x (n %zu): decode %d, reference %d\n", b[0],
                        n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0, n, got, want);
                abort();
        }
}

static void test_decode_exhaustive(void)
{
        unsigned char b[4];
        /* Every string of one, two or three bytes whose lead byte announces
         * that length (or is no lead byte at all, read alone). */
        for (unsigned x = 0; x < 0x1000000; x++) {
                b[0] = (unsigned char) (x >> 16), b[1] = (unsigned char) (x >> 8), b[2] = (unsigned char) x;
                if (b[0] >= 0xE0 && b[0] < 0xF0)
                        check_bytes(b, 3);
                else if (b[0] >= 0xC0 && b[0] < 0xE0 && b[2] == 0)
                        check_bytes(b, 2);
                else if ((b[0] < 0xC0 || b[0] >= 0xF8) && b[1] == 0 && b[2] == 0)
                        check_bytes(b, 1);
        }
        /* Four bytes: every lead byte from F0, continuation bytes at their
         * boundaries. */
        static const unsigned char edge[] = { 0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF };
        for (unsigned l = 0xF0; l <= 0xFF; l++)
                for (size_t i = 0; i < sizeof edge; i++)
                        for (size_t j = 0; j < sizeof edge; j++)
                                for (size_t k = 0; k < sizeof edge; k++) {
                                        b[0] = (unsigned char) l, b[1] = edge[i], b[2] = edge[j], b[3] = edge[k];
                                        check_bytes(b, 4);
                                }
        /* Every scalar value decodes to itself. */
        for (uint32_t c = 0; c <= 0x10FFFF; c++) {
                uint32_t d = ~0u;
                if (c >= 0xD800 && c < 0xE000)
                        continue;
                size_t n = encode(c, b);
                ASSERT_EQ_INT(utf8_decode((const char *) b, n, &d), (int) n);
                ASSERT_EQ_U64(d, c);
                /* Cut short, it may still become valid. */
                for (size_t k = 1; k < n; k++)
                        ASSERT_EQ_INT(utf8_decode((const char *) b, k, &d), 0);
        }
        printf("ok utf8_decode matches the definition\n");
}

static void check_escape(const char *in, const char *want)
{
        char out[256];
        ASSERT_EQ_U64(text_escape(out, sizeof out, in), strlen(want));
        ASSERT_STREQ(out, want);
        ASSERT_TRUE(text_is_safe(out));
        ASSERT_EQ_INT(text_is_safe(in), strcmp(in, want) == 0);
        char *dup = text_escape_dup(in);
        ASSERT_STREQ(dup, want);
        free(dup);
}

static void test_escape(void)
{
        check_escape("", "");
        check_escape("plain C:\\dir\\p.vhd", "plain C:\\dir\\p.vhd");
        check_escape("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
        check_escape("\x1b[2Jgone", "\\x1b[2Jgone");
        check_escape("tab\there\nline\r", "tab\\x09here\\x0aline\\x0d");
        check_escape("del\x7f", "del\\x7f");
        check_escape("csi\xc2\x9b" "31m", "csi\\xc2\\x9b31m");             /* C1 control */
        check_escape("\xff\xfe", "\\xff\\xfe");
        check_escape("cut\xe2\x82", "cut\\xe2\\x82");
        check_escape("\xc0\xaf", "\\xc0\\xaf");                          /* overlong '/' */
        check_escape("\xed\xa0\x80", "\\xed\\xa0\\x80");                 /* surrogate */
        check_escape("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");        /* past U+10FFFF */
        check_escape("\xe2\xc3\xa9", "\\xe2\xc3\xa9");                   /* bad lead, good next */
        printf("ok text_escape\n");
}

static void test_valid(void)
{
        /* Controls are UTF-8 (D-Bus strings may hold them); bad bytes are not. */
        ASSERT_TRUE(utf8_is_valid(""));
        ASSERT_TRUE(utf8_is_valid("\x1b[31m\t\xc2\x9b\x7f"));
        ASSERT_TRUE(utf8_is_valid("\xc3\xa9\xf0\x9f\x98\x80"));
        ASSERT_FALSE(utf8_is_valid("/tmp/d\xff/p.vhd"));
        ASSERT_FALSE(utf8_is_valid("cut\xe2\x82"));
        ASSERT_FALSE(utf8_is_valid("\xed\xa0\x80"));
        ASSERT_FALSE(utf8_is_valid("\xc0\xaf"));
        printf("ok utf8_is_valid\n");
}

static void test_escape_cuts(void)
{
        char out[8];
        /* "é€" needs 2 + 3 bytes and the NUL. */
        ASSERT_EQ_U64(text_escape(out, 5, "\xc3\xa9\xe2\x82\xac"), 2);
        ASSERT_STREQ(out, "\xc3\xa9");
        ASSERT_EQ_U64(text_escape(out, 6, "\xc3\xa9\xe2\x82\xac"), 5);
        /* An escape is never cut either. */
        ASSERT_EQ_U64(text_escape(out, 5, "a\xff"), 1);
        ASSERT_STREQ(out, "a");
        ASSERT_EQ_U64(text_escape(out, 6, "a\xff"), 5);
        ASSERT_STREQ(out, "a\\xff");
        ASSERT_EQ_U64(text_escape(out, 1, "abc"), 0);
        ASSERT_STREQ(out, "");
        printf("ok text_escape cuts at boundaries\n");
}

/* All of in through a stream, in pieces of the sizes that cuts gives (0:
 * one piece), then the end. */
static size_t stream_all(const char *in, size_t n, unsigned seed, char *out)
{
        struct text_stream st = { 0 };
        size_t o = 0, i = 0;

        srandom(seed);
        while (i < n) {
                size_t k = seed ? 1 + (size_t) random() % 5 : n;
                if (k > n - i)
                        k = n - i;
                o += text_stream_feed(&st, in + i, k, false, out + o);
                ASSERT_TRUE(st.n_held < 4);
                i += k;
        }
        o += text_stream_feed(&st, "", 0, true, out + o);
        ASSERT_EQ_U64(st.n_held, 0);
        out[o] = 0;
        return o;
}

static void test_stream(void)
{
        static const char *const cases[] = {
                "plain", "line\nand\ttab\n", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\x1b[31m\xff",
                "cut\xe2\x82", "\xf0\x9f\x98", "\xe2\xc3\xa9", "csi\xc2\x9b", "\xed\xa0\x80\r",
        };
        char whole[256], pieces[256], esc[256];

        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                const char *in = cases[i];
                size_t n = strlen(in);
                stream_all(in, n, 0, whole);
                /* Pieces of any size give the same output. */
                for (unsigned seed = 1; seed < 50; seed++) {
                        stream_all(in, n, seed, pieces);
                        ASSERT_STREQ(pieces, whole);
                }
                /* Lines and tabs pass; otherwise it is text_escape. */
                text_escape(esc, sizeof esc, in);
                if (!strpbrk(in, "\n\t"))
                        ASSERT_STREQ(whole, esc);
        }
        stream_all("a\nb\tc", 5, 0, whole);
        ASSERT_STREQ(whole, "a\nb\tc");
        /* A cut character is held, then escaped at the end. */
        struct text_stream st = { 0 };
        char out[64];
        ASSERT_EQ_U64(text_stream_feed(&st, "x\xe2\x82", 3, false, out), 1);
        ASSERT_EQ_U64(st.n_held, 2);
        ASSERT_EQ_U64(text_stream_feed(&st, "\xac", 1, false, out), 3);
        ASSERT_MEMEQ(out, "\xe2\x82\xac", 3);
        ASSERT_EQ_U64(text_stream_feed(&st, "\xe2", 1, false, out), 0);
        ASSERT_EQ_U64(text_stream_feed(&st, "", 0, true, out), 4);
        ASSERT_MEMEQ(out, "\\xe2", 4);
        printf("ok text_stream_feed: pieces of any size, held characters\n");
}

static void test_problem_messages(void)
{
        struct vc_problems ps = { 0 };
        char euros[3 * 200 + 1] = "";
        for (int i = 0; i < 200; i++)
                strcat(euros, "\xe2\x82\xac");
        vc_problem_add(&ps, VC_PROBLEM_PARENT_NOT_FOUND, -ENOENT, NULL, 0, "parent '%s' not found", euros);
        ASSERT_TRUE(text_is_safe(ps.first.message));
        ASSERT_TRUE(strlen(ps.first.message) > 200);
        struct vc_problems ps2 = { 0 };
        vc_problem_add(&ps2, VC_PROBLEM_PARENT_NOT_FOUND, -ENOENT, NULL, 0, "parent '%s' not found",
                       "/tmp/d\xff\x1b[31m/p.vhd");
        ASSERT_STREQ(ps2.first.message, "parent '/tmp/d\\xff\\x1b[31m/p.vhd' not found");
        printf("ok problem messages are safe text\n");
}

int main(void)
{
        test_decode_exhaustive();
        test_escape();
        test_escape_cuts();
        test_valid();
        test_stream();
        test_problem_messages();
        return 0;
}
