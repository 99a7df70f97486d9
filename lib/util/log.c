/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static vc_log_func_t log_func;

void vc_log_set_func(vc_log_func_t f)
{
        log_func = f;
}

void vc_debug(const char *fmt, ...)
{
        char buf[512];
        va_list ap;

        if (!log_func)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_func(buf);
}
