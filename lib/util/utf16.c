/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "endian.h"
#include "utf16.h"

static int put_utf8(uint32_t c, char *out, size_t out_size, size_t *pos)
{
        uint8_t b[4];
        size_t n;

        if (c < 0x80) { b[0] = (uint8_t) c; n = 1; }
        else if (c < 0x800) { b[0] = 0xC0 | (c >> 6); b[1] = 0x80 | (c & 0x3F); n = 2; }
        else if (c < 0x10000) {
                b[0] = 0xE0 | (c >> 12); b[1] = 0x80 | ((c >> 6) & 0x3F);
                b[2] = 0x80 | (c & 0x3F); n = 3;
        } else {
                b[0] = 0xF0 | (c >> 18); b[1] = 0x80 | ((c >> 12) & 0x3F);
                b[2] = 0x80 | ((c >> 6) & 0x3F); b[3] = 0x80 | (c & 0x3F); n = 4;
        }
        if (*pos + n + 1 > out_size)
                return -ENAMETOOLONG;
        memcpy(out + *pos, b, n);
        *pos += n;
        return 0;
}

int utf16_to_utf8(const uint8_t *in, size_t in_len, bool be, char *out, size_t out_size)
{
        size_t pos = 0;
        int r;

        if (out_size == 0)
                return -ENAMETOOLONG;
        for (size_t i = 0; i + 1 < in_len; i += 2) {
                uint32_t c = be ? get_be16(in + i) : get_le16(in + i);
                if (c == 0)
                        break;
                if (c >= 0xD800 && c < 0xDC00 && i + 3 < in_len) {
                        uint32_t lo = be ? get_be16(in + i + 2) : get_le16(in + i + 2);
                        if (lo >= 0xDC00 && lo < 0xE000) {
                                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                                i += 2;
                        } else
                                c = 0xFFFD;
                } else if (c >= 0xD800 && c < 0xE000)
                        c = 0xFFFD;
                r = put_utf8(c, out, out_size, &pos);
                if (r < 0)
                        return r;
        }
        out[pos] = 0;
        return (int) pos;
}

int utf8_to_utf16(const char *in, bool be, uint8_t *out, size_t out_size)
{
        const uint8_t *s = (const uint8_t *) in;
        size_t pos = 0;

        while (*s) {
                uint32_t c;
                int extra;
                if (*s < 0x80) { c = *s; extra = 0; }
                else if ((*s & 0xE0) == 0xC0) { c = *s & 0x1F; extra = 1; }
                else if ((*s & 0xF0) == 0xE0) { c = *s & 0x0F; extra = 2; }
                else if ((*s & 0xF8) == 0xF0) { c = *s & 0x07; extra = 3; }
                else return -EINVAL;
                s++;
                for (int k = 0; k < extra; k++, s++) {
                        if ((*s & 0xC0) != 0x80)
                                return -EINVAL;
                        c = (c << 6) | (*s & 0x3F);
                }
                /* Overlong forms, surrogates and values past U+10FFFF have no
                 * UTF-16 encoding (the last would wrap into a bogus pair). */
                if ((extra == 1 && c < 0x80) || (extra == 2 && c < 0x800) ||
                    (extra == 3 && c < 0x10000) || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
                        return -EINVAL;
                uint16_t units[2];
                size_t n = 1;
                if (c >= 0x10000) {
                        c -= 0x10000;
                        units[0] = (uint16_t) (0xD800 + (c >> 10));
                        units[1] = (uint16_t) (0xDC00 + (c & 0x3FF));
                        n = 2;
                } else
                        units[0] = (uint16_t) c;
                if (pos + 2 * n > out_size)
                        return -ENAMETOOLONG;
                for (size_t k = 0; k < n; k++, pos += 2)
                        be ? put_be16(out + pos, units[k]) : put_le16(out + pos, units[k]);
        }
        return (int) pos;
}
