/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rate.h"

static uint64_t saturate(unsigned __int128 v)
{
        return v > UINT64_MAX ? UINT64_MAX : (uint64_t) v;
}

uint64_t rate_per_second(uint64_t n, uint64_t usec)
{
        return usec ? saturate((unsigned __int128) n * 1000000u / usec) : UINT64_MAX;
}

uint64_t rate_usec_for(uint64_t n, uint64_t per_second)
{
        return per_second ? saturate((unsigned __int128) n * 1000000u / per_second) : UINT64_MAX;
}

uint64_t rate_add(uint64_t a, uint64_t b)
{
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}
