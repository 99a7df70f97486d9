/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library never prints.  It reports debug messages through an optional
 * hook that each front end maps to its own channel (nbdkit_debug, the
 * journal, vhdctl --verbose).
 */
#pragma once

#include "macro.h"

typedef void (*vc_log_func_t)(const char *msg);

void vc_log_set_func(vc_log_func_t f);
void vc_debug(const char *fmt, ...) _printf_(1, 2);
