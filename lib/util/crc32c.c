/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Slicing-by-8 CRC-32C.  The eight tables are built once, on first use,
 * under pthread_once: table[0][n] is the register after shifting the byte
 * n through eight rounds of the reflected polynomial, and table[k][n] is
 * table[k-1][n] shifted through one more zero byte, so that eight input
 * bytes are folded with eight lookups.  A VHDX open checksums 2 x 4 KiB of
 * headers and 2 x 64 KiB of region tables; a log replay up to 1 GiB.
 */
#include <pthread.h>

#include "crc32c.h"
#include "endian.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
        for (uint32_t n = 0; n < 256; n++) {
                uint32_t c = n;
                for (int i = 0; i < 8; i++)
                        c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
                table[0][n] = c;
        }
        for (uint32_t n = 0; n < 256; n++)
                for (int k = 1; k < 8; k++)
                        table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xFFu];
}

/* Not traced for fuzzing coverage: a loop over 64 KiB of region table
 * teaches the fuzzer nothing and cost most of its time. */
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
uint32_t crc32c(uint32_t crc, const void *buf, size_t n)
{
        const uint8_t *p = buf;

        pthread_once(&table_once, table_init);
        crc = ~crc;
        while (n >= 8) {
                uint32_t lo = get_le32(p) ^ crc, hi = get_le32(p + 4);
                crc = table[7][lo & 0xFFu] ^ table[6][(lo >> 8) & 0xFFu] ^ table[5][(lo >> 16) & 0xFFu] ^
                      table[4][lo >> 24] ^ table[3][hi & 0xFFu] ^ table[2][(hi >> 8) & 0xFFu] ^
                      table[1][(hi >> 16) & 0xFFu] ^ table[0][hi >> 24];
                p += 8;
                n -= 8;
        }
        while (n--)
                crc = table[0][(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
        return ~crc;
}
