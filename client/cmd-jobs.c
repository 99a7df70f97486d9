/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl jobs [--json] [--user]`: the daemon's jobs (ListJobs, then each
 * job's properties), oldest first: object path, state, progress, owner and
 * file.  A job that goes away between the two calls is left out; one whose
 * properties cannot be read is listed with "?" for them.  Another user's
 * job shows its state only: the daemon gives others an empty Path and
 * Owner 4294967295, shown as "-" (null in JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "job-state.h"
#include "json.h"
#include "util/macro.h"
#include "vhdctl.h"

#define USAGE "vhdctl jobs [--json] [--user]"

struct job_row {
        char *object;
        uint64_t number;
        struct job_state s;
};

static int cmp_rows(const void *a, const void *b)
{
        const struct job_row *x = a, *y = b;
        return x->number < y->number ? -1 : x->number > y->number;
}

static uint64_t job_number(const char *object)
{
        const char *n = strrchr(object, '/');
        return n ? strtoull(n + 1, NULL, 10) : 0;
}

/* Owner 4294967295: not ours to see (org.vhd.Compact(5)). */
static bool owner_known(const struct job_state *s)
{
        return s->have_owner && s->owner != UINT32_MAX;
}

static const char *owner_name(const struct job_state *s, char *buf, size_t size)
{
        struct passwd *pw;

        if (!owner_known(s))
                return "-";
        pw = getpwuid(s->owner);
        if (pw)
                return pw->pw_name;
        snprintf(buf, size, "%" PRIu32, s->owner);
        return buf;
}

static void print_table(const struct job_row *rows, size_t n)
{
        char buf[16];

        if (n == 0) {
                printf("No jobs.\n");
                return;
        }
        printf("%-24s %-10s %8s %-10s %s\n", "JOB", "STATE", "PROGRESS", "OWNER", "PATH");
        for (size_t i = 0; i < n; i++) {
                const struct job_state *s = &rows[i].s;
                printf("%-24s %-10s %7.1f%% %-10s %s\n", rows[i].object, s->state ? s->state : "?",
                       100.0 * s->progress, owner_name(s, buf, sizeof buf),
                       !s->path ? "?" : *s->path ? s->path : "-");
        }
}

static void print_json(const struct job_row *rows, size_t n)
{
        struct json j = { .f = stdout };
        char buf[16];

        json_begin_array(&j, NULL);
        for (size_t i = 0; i < n; i++) {
                const struct job_state *s = &rows[i].s;
                json_begin_object(&j, NULL);
                json_string(&j, "object", rows[i].object);
                json_u64(&j, "job", rows[i].number);
                json_string(&j, "state", s->state ? s->state : "");
                json_double(&j, "progress", s->progress);
                json_u64(&j, "bytes-done", s->bytes_done);
                json_u64(&j, "bytes-total", s->bytes_total);
                json_string(&j, "path", s->path ? s->path : "");
                json_string(&j, "mode", s->mode ? s->mode : "");
                if (owner_known(s)) {
                        json_u64(&j, "owner", s->owner);
                        json_string(&j, "owner-name", owner_name(s, buf, sizeof buf));
                } else {
                        json_null(&j, "owner");
                        json_null(&j, "owner-name");
                }
                json_u64(&j, "size-before", s->size_before);
                json_u64(&j, "size-after", s->size_after);
                json_string(&j, "error", s->error ? s->error : "");
                json_string(&j, "error-name", s->error_name ? s->error_name : "");
                json_end_object(&j);
        }
        json_end_array(&j);
}

int cmd_jobs(int argc, char **argv)
{
        enum { OPT_USER = 0x100 };
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "user", no_argument, NULL, OPT_USER },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct job_row *rows = NULL;
        size_t n = 0;
        bool json = false, user = false;
        const char *object;
        int c, r, status = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1)
                switch (c) {
                case 'j': json = true; break;
                case OPT_USER: user = true; break;
                case 'h': printf("Usage: %s\n", USAGE); return 0;
                default: fprintf(stderr, "Usage: %s\n", USAGE); return 2;
                }
        if (optind != argc) {
                fprintf(stderr, "Usage: %s\n", USAGE);
                return 2;
        }
        r = bus_client_connect(user, true, &bus);
        if (r <= 0)
                return 1;
        r = sd_bus_call_method(bus, VC_BUS_NAME, VC_BUS_PATH, VC_BUS_MANAGER, "ListJobs", &error, &reply, "");
        if (r < 0) {
                print_bus_error(VC_BUS_PATH, &error, r);
                return 1;
        }
        r = sd_bus_message_enter_container(reply, 'a', "o");
        if (r < 0)
                goto bad_reply;
        while ((r = sd_bus_message_read(reply, "o", &object)) > 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                struct job_row row = { .number = job_number(object) };

                if (job_state_get(bus, object, &row.s, &e) < 0) {
                        job_state_done(&row.s);
                        if (sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_OBJECT))
                                continue;       /* gone in the meantime */
                        /* Listed all the same, its properties unknown. */
                }
                row.object = strdup(object);
                struct job_row *nr = row.object ? realloc(rows, (n + 1) * sizeof *rows) : NULL;
                if (!nr) {
                        free(row.object);
                        job_state_done(&row.s);
                        r = -ENOMEM;
                        goto bad_reply;
                }
                rows = nr;
                rows[n++] = row;
        }
        if (r < 0)
                goto bad_reply;
        qsort(rows, n, sizeof *rows, cmp_rows);
        if (json)
                print_json(rows, n);
        else
                print_table(rows, n);
        status = 0;
        goto out;
bad_reply:
        print_errno(VC_BUS_PATH, r, "cannot read the job list");
out:
        for (size_t i = 0; i < n; i++) {
                free(rows[i].object);
                job_state_done(&rows[i].s);
        }
        free(rows);
        return status;
}
