/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bus side of vhdctl that every verb shares.  "Is the daemon there" asks
 * the bus itself: NameHasOwner, then ListActivatableNames, so that a daemon
 * started on demand by bus activation counts as there.  Nothing here
 * activates it; the first real call does.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus-client.h"
#include "util/macro.h"
#include "util/problem.h"

const char *bus_client_bus_name(bool user)
{
        return user ? "session bus" : "system bus";
}

static int name_present(sd_bus *bus, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *name;
        int has, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", error, &reply, "s", VC_BUS_NAME);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "b", &has);
        if (r < 0)
                return r;
        if (has)
                return 1;
        reply = sd_bus_message_unref(reply);
        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "ListActivatableNames", error, &reply, "");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(reply, "s", &name)) > 0)
                if (!strcmp(name, VC_BUS_NAME))
                        return 1;
        return r;
}

int bus_client_connect(bool user, bool must, sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *which = bus_client_bus_name(user);
        int r;

        r = user ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (must)
                        fprintf(stderr, "vhdctl: cannot connect to the %s: %s\n", which, strerror(-r));
                return 0;
        }
        r = name_present(bus, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (must)
                        fprintf(stderr, "vhdctl: cannot ask the %s for %s: %s\n", which, VC_BUS_NAME,
                                error.message ? error.message : strerror(-r));
                return 0;
        }
        if (r == 0) {
                if (must)
                        fprintf(stderr, "vhdctl: %s is not on the %s (vhd-compactd is not running%s)\n",
                                VC_BUS_NAME, which, user ? "" : "; --user for the session bus, --local to compact in-process");
                return 0;
        }
        *ret = TAKE_PTR(bus);
        return 1;
}

static const struct {
        const char *name, *id;
} error_ids[] = {
        /* Our names whose word is not simply the name in dashes. */
        { VC_ERROR_NOT_CLEAN, "fs-not-clean" },
        { VC_ERROR_IO, "io-error" },
        { "org.freedesktop.DBus.Error.NoReply", "no-reply" },
        { "org.freedesktop.DBus.Error.ServiceUnknown", "no-daemon" },
        { "org.freedesktop.DBus.Error.UnknownObject", "no-such-job" },
};

const char *bus_error_id(const char *name, char *buf, size_t size)
{
        const char *last;
        size_t n = 0;

        if (size == 0)
                return buf;
        if (!name || !*name) {
                snprintf(buf, size, "failed");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(error_ids); i++)
                if (!strcmp(name, error_ids[i].name)) {
                        snprintf(buf, size, "%s", error_ids[i].id);
                        return buf;
                }
        last = strrchr(name, '.');
        last = last ? last + 1 : name;
        /* CamelCase to dashes; a run of capitals is one word ("IOError"). */
        for (const char *p = last; *p && n + 2 < size; p++) {
                bool up = isupper((unsigned char) *p);
                if (up && p > last &&
                    (islower((unsigned char) p[-1]) || (isupper((unsigned char) p[-1]) && islower((unsigned char) p[1]))))
                        buf[n++] = '-';
                buf[n++] = (char) tolower((unsigned char) *p);
        }
        buf[n] = '\0';
        return buf;
}

bool bus_error_is_access_denied(const char *name)
{
        return name && (!strcmp(name, VC_ERROR_ACCESS_DENIED) ||
                        !strcmp(name, SD_BUS_ERROR_ACCESS_DENIED));
}

void print_bus_error(const char *what, const sd_bus_error *e, int r)
{
        char id[64];

        fprintf(stderr, "vhdctl: '%s': %s: %s\n", what, bus_error_id(e ? e->name : NULL, id, sizeof id),
                e && e->message ? e->message : strerror(r < 0 ? -r : EIO));
}

/* Whether MESSAGE starts with "WORD:", WORD a problem id or EXTRA. */
static bool starts_with_id(const char *message, const char *extra)
{
        size_t n = strlen(extra);

        if (!strncmp(message, extra, n) && message[n] == ':')
                return true;
        for (int i = 0; i < _VC_PROBLEM_MAX; i++) {
                const char *id = vc_problem_id_to_string((enum vc_problem_id) i);
                n = strlen(id);
                if (!strncmp(message, id, n) && message[n] == ':')
                        return true;
        }
        return false;
}

/* MESSAGE without a leading "'NAME': " or "NAME: ". */
static const char *strip_name(const char *message, const char *name)
{
        size_t n;

        if (!name)
                return message;
        n = strlen(name);
        if (message[0] == '\'' && !strncmp(message + 1, name, n) && !strncmp(message + 1 + n, "': ", 3))
                return message + n + 4;
        if (!strncmp(message, name, n) && !strncmp(message + n, ": ", 2))
                return message + n + 2;
        return message;
}

void print_job_error(const char *file, const char *abs, const char *name, const char *message)
{
        char id[64];

        bus_error_id(name, id, sizeof id);
        if (!message || !*message)
                message = "failed without saying why";
        message = strip_name(strip_name(message, abs), file);
        if (starts_with_id(message, id))
                fprintf(stderr, "vhdctl: '%s': %s\n", file, message);
        else
                fprintf(stderr, "vhdctl: '%s': %s: %s\n", file, id, message);
}
