/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

int utf8_decode(const char *s, size_t n, uint32_t *ret_c)
{
        const unsigned char *p = (const unsigned char *) s;
        unsigned char lo = 0x80, hi = 0xBF;
        uint32_t c;
        size_t len;

        if (n == 0)
                return 0;
        if (p[0] < 0x80) {
                *ret_c = p[0];
                return 1;
        }
        /* The second byte's range rules out overlong forms (E0, F0),
         * surrogates (ED) and values past U+10FFFF (F4). */
        if (p[0] >= 0xC2 && p[0] <= 0xDF)
                len = 2, c = p[0] & 0x1F;
        else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
                len = 3, c = p[0] & 0x0F;
                lo = p[0] == 0xE0 ? 0xA0 : 0x80;
                hi = p[0] == 0xED ? 0x9F : 0xBF;
        } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
                len = 4, c = p[0] & 0x07;
                lo = p[0] == 0xF0 ? 0x90 : 0x80;
                hi = p[0] == 0xF4 ? 0x8F : 0xBF;
        } else
                return -1;
        for (size_t i = 1; i < len; i++) {
                if (i >= n)
                        return 0;
                if (p[i] < lo || p[i] > hi)
                        return -1;
                lo = 0x80, hi = 0xBF;
                c = c << 6 | (p[i] & 0x3F);
        }
        *ret_c = c;
        return (int) len;
}

bool utf8_is_valid(const char *s)
{
        for (size_t n = strlen(s); n > 0;) {
                uint32_t c;
                int l = utf8_decode(s, n, &c);
                if (l <= 0)
                        return false;
                s += l, n -= (size_t) l;
        }
        return true;
}

bool text_is_control(uint32_t c)
{
        return c < 0x20 || (c >= 0x7F && c < 0xA0);
}

bool text_is_safe(const char *s)
{
        for (size_t n = strlen(s); n > 0;) {
                uint32_t c;
                int l = utf8_decode(s, n, &c);
                if (l <= 0 || text_is_control(c))
                        return false;
                s += l, n -= (size_t) l;
        }
        return true;
}

size_t text_escape(char *out, size_t out_size, const char *s)
{
        size_t pos = 0;

        for (size_t n = strlen(s); n > 0;) {
                uint32_t c;
                int l = utf8_decode(s, n, &c);
                if (l > 0 && !text_is_control(c)) {
                        if (pos + (size_t) l >= out_size)
                                break;
                        memcpy(out + pos, s, (size_t) l);
                        pos += (size_t) l;
                        s += l, n -= (size_t) l;
                        continue;
                }
                /* One byte at a time: a bad lead byte may be followed by a
                 * good character. */
                if (pos + 4 >= out_size)
                        break;
                snprintf(out + pos, 5, "\\x%02x", (unsigned char) *s);
                pos += 4;
                s++, n--;
        }
        out[pos] = 0;
        return pos;
}

char *text_escape_dup(const char *s)
{
        size_t size = 4 * strlen(s) + 1;
        char *out = malloc(size);

        if (out)
                text_escape(out, size, s);
        return out;
}

size_t text_stream_feed(struct text_stream *s, const char *p, size_t n, bool at_end, char *out)
{
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;

        while (n > 0 || (at_end && s->n_held > 0)) {
                /* The next character: held bytes, topped up from p. */
                char c4[4];
                size_t have = s->n_held, take = n < 4 - have ? n : 4 - have;
                uint32_t c;
                memcpy(c4, s->held, have);
                memcpy(c4 + have, p, take);
                int l = utf8_decode(c4, have + take, &c);
                if (l == 0 && !at_end) {
                        /* Cut short, which means all of p was taken. */
                        memcpy(s->held + have, p, take);
                        s->n_held = have + take;
                        break;
                }
                if (l > 0 && (!text_is_control(c) || c == '\n' || c == '\t')) {
                        memcpy(out + o, c4, (size_t) l);
                        o += (size_t) l;
                } else {
                        unsigned char b = (unsigned char) c4[0];
                        out[o++] = '\\', out[o++] = 'x', out[o++] = hex[b >> 4], out[o++] = hex[b & 15];
                        l = 1;  /* one bad byte: the next may start a good character */
                }
                /* Consume l bytes, the held ones first. */
                size_t from_held = (size_t) l < have ? (size_t) l : have;
                memmove(s->held, s->held + from_held, have - from_held);
                s->n_held = have - from_held;
                p += (size_t) l - from_held, n -= (size_t) l - from_held;
        }
        return o;
}
