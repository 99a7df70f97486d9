/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC-32 as used by GPT (and zlib, Ethernet, PNG): the IEEE 802.3
 * polynomial in reflected form 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF.  Check value: crc32_ieee(0, "123456789", 9) == 0xCBF43926.
 * (VHDX uses CRC-32C, a different polynomial: not this function.)
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over n more bytes; start with crc = 0.  Like zlib's
 * crc32(), so crc32_ieee(crc32_ieee(0, a, n), b, m) is the CRC of a||b. */
uint32_t crc32_ieee(uint32_t crc, const void *buf, size_t n) __attribute__((pure));
