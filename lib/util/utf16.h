/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UTF-16 (either byte order) to UTF-8, for parent names and locators.
 * Unpaired surrogates, which real images contain, become U+FFFD; decoding
 * stops at the first NUL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes at most out_size-1 bytes plus a NUL.  Returns the length written,
 * or -ENAMETOOLONG when out is too small. */
int utf16_to_utf8(const uint8_t *in, size_t in_len, bool big_endian, char *out, size_t out_size);
/* Encodes UTF-8 into UTF-16; returns bytes written or -EINVAL/-ENAMETOOLONG. */
int utf8_to_utf16(const char *in, bool big_endian, uint8_t *out, size_t out_size);
