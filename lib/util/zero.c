/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <string.h>

#include "zero.h"

bool mem_is_zero(const void *p, size_t n)
{
        const uint8_t *b = p;

        while (n > 0 && ((uintptr_t) b & 7)) {
                if (*b)
                        return false;
                b++;
                n--;
        }
        for (; n >= 8; b += 8, n -= 8) {
                uint64_t w;
                memcpy(&w, b, 8);       /* aligned: one load */
                if (w)
                        return false;
        }
        for (; n > 0; b++, n--)
                if (*b)
                        return false;
        return true;
}
