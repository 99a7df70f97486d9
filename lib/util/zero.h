/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether the n bytes at p are all zero; word by word where p is aligned
 * for it (malloc'ed buffers are), the unaligned head and tail byte-wise. */
bool mem_is_zero(const void *p, size_t n);
