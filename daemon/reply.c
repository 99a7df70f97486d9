/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Error replies as safe text.  Their messages name what the caller gave
 * (a path, an option's key or value) or what the file system holds (the
 * name a descriptor has), and both are bytes: a control character would
 * reach the caller's terminal, and a string that is not UTF-8 cannot be
 * put in a message at all (sd-bus refuses it, and the caller would see
 * "Invalid argument" instead of the refusal).  So every error message the
 * daemon sends goes through here and is escaped as util/text.h says, as
 * the job properties already are.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "util/text.h"

/* The formatted message, escaped; NULL when out of memory. */
static char *format_safe(const char *fmt, va_list ap)
{
        char *raw = NULL, *safe;

        if (vasprintf(&raw, fmt, ap) < 0)
                return NULL;
        safe = text_escape_dup(raw);
        free(raw);
        return safe;
}

int reply_errorf(sd_bus_message *call, const char *name, const char *fmt, ...)
{
        va_list ap;
        char *text;
        int r;

        va_start(ap, fmt);
        text = format_safe(fmt, ap);
        va_end(ap);
        if (!text)
                return -ENOMEM;
        r = sd_bus_reply_method_error(call, &SD_BUS_ERROR_MAKE_CONST(name, text));
        free(text);
        return r;
}

int error_setf_safe(sd_bus_error *e, const char *name, const char *fmt, ...)
{
        va_list ap;
        char *text;

        va_start(ap, fmt);
        text = format_safe(fmt, ap);
        va_end(ap);
        if (!text)
                return -ENOMEM;
        /* sd_bus_error_set copies the message. */
        int r = sd_bus_error_set(e, name, text);
        free(text);
        return r;
}
