/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A job's rate and expected end, from numbers its worker reports: exact
 * (128-bit) and saturating, since a worker gone wrong may report anything.
 */
#pragma once

#include <stdint.h>

/* n per second, for n done in usec microseconds (usec > 0). */
uint64_t rate_per_second(uint64_t n, uint64_t usec);
/* Microseconds to do n more at per_second (> 0). */
uint64_t rate_usec_for(uint64_t n, uint64_t per_second);
/* a + b, or UINT64_MAX. */
uint64_t rate_add(uint64_t a, uint64_t b);
