/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhdctl as a client of vhd-compactd: the bus connection, whether the
 * service is there, and how its errors are shown.  The names are those of
 * dbus/org.vhd.Compact.xml, the contract (util/bus-names.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

#include "util/bus-names.h"

/* "system bus" or "session bus". */
const char *bus_client_bus_name(bool user);

/*
 * bus_client_connect - open the system bus (the session bus with user) and
 * look for org.vhd.Compact, owned or activatable.
 *
 * Returns 1 with *ret set when the service is there; 0 when the bus cannot
 * be reached or the name is not on it (*ret untouched), after printing one
 * line on stderr when must; a negative errno only on OOM.
 */
int bus_client_connect(bool user, bool must, sd_bus **ret);

/*
 * bus_error_id - the word vhdctl prints for a D-Bus error name, in the
 * style of problem ids: org.vhd.Compact.Error.InUse is "in-use",
 * NotClean "fs-not-clean" (as the in-process engine says), any other name's
 * last component in lower case with dashes ("InvalidArgs" is
 * "invalid-args").  Writes into buf and returns it.
 */
const char *bus_error_id(const char *name, char *buf, size_t size);

/* Whether NAME means "you may not": ours or the bus's AccessDenied. */
bool bus_error_is_access_denied(const char *name);

/*
 * print_bus_error - the one error line, "vhdctl: 'WHAT': ID: MESSAGE", for
 * a failed call: ID from the error name (bus_error_id), MESSAGE the error's
 * message, or strerror(-r) without one.
 */
void print_bus_error(const char *what, const sd_bus_error *e, int r);

/*
 * print_job_error - the same for a job that failed (NAME its ErrorName,
 * MESSAGE its Error), or for a method error of the daemon, whose messages
 * name the file as the daemon saw it.  A leading "'ABS': " or "'FILE': "
 * (quoted or not) is dropped, and a message that starts with a problem id
 * (or the id of NAME) keeps it instead of gaining the id of NAME, so that
 * the line reads as the in-process engine's would.  ABS may be NULL.
 */
void print_job_error(const char *file, const char *abs, const char *name, const char *message);
