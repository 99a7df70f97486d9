/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC-32C (Castagnoli), the checksum of VHDX headers, region tables and
 * log entries: the reflected polynomial 0x82F63B78, initial value and
 * final XOR 0xFFFFFFFF, stored little-endian.  Check value:
 * crc32c(0, "123456789", 9) == 0xE3069283.  (GPT's CRC is crc32.h: a
 * different polynomial.)
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC over n more bytes; start with crc = 0, so that
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a||b. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t n);
