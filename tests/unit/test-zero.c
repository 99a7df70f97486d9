/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mem_is_zero (util/zero.h): every start alignment 0..15 and length
 * 0..80, all zeros, then one non-zero byte at each position in turn (and
 * one just outside the range, which must not count), so that the
 * byte-wise head, the word loop and the tail are each seen to find it.
 */
#include "tests.h"
#include "util/zero.h"

int main(void)
{
        static uint64_t words[16];
        uint8_t *buf = (uint8_t *) words;
        unsigned checked = 0;

        for (size_t at = 0; at < 16; at++)
                for (size_t n = 0; n <= 80; n++) {
                        memset(buf, 0, sizeof words);
                        ASSERT_TRUE(mem_is_zero(buf + at, n));
                        if (at > 0) {
                                buf[at - 1] = 0xff;
                                ASSERT_TRUE(mem_is_zero(buf + at, n));
                                buf[at - 1] = 0;
                        }
                        buf[at + n] = 0x80;
                        ASSERT_TRUE(mem_is_zero(buf + at, n));
                        buf[at + n] = 0;
                        for (size_t k = 0; k < n; k++) {
                                buf[at + k] = (uint8_t) (1u << (k % 8));
                                ASSERT_TRUE(!mem_is_zero(buf + at, n));
                                buf[at + k] = 0;
                                checked++;
                        }
                }
        printf("%u non-zero bytes found at every alignment and length\n", checked);
        return 0;
}
