/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manager.FindImages: the VHD and VHDX files under a folder, found by
 * content (lib/image/find.c: no symbolic link followed, eight bytes read
 * at two places, nothing parsed), for a front end such as the Cockpit
 * page, which can reach the machine's files only through this service.
 * Authorised like Analyze: root, the daemon's own user, or polkit action
 * org.vhd.compact.  The walk runs in the daemon's loop, so it is bounded:
 * FIND_MAX_DEPTH folders deep, FIND_MAX_ENTRIES names looked at,
 * FIND_MAX_FOUND disks; a walk cut short says so in its reply.  Paths
 * that are not safe text (not UTF-8, control characters) cannot be
 * passed back to Analyze or Compact and are left out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "image/find.h"
#include "util/macro.h"
#include "util/text.h"

#define FIND_MAX_DEPTH 8
#define FIND_MAX_ENTRIES 20000
#define FIND_MAX_FOUND 1000

static int find_and_reply(sd_bus_message *call, const char *folder)
{
        static const struct image_walk_limits limits = {
                .max_depth = FIND_MAX_DEPTH, .max_entries = FIND_MAX_ENTRIES, .max_found = FIND_MAX_FOUND,
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct found_images l = {};
        struct stat st;
        int r;

        if (stat(folder, &st) < 0) {
                int e = errno;
                if (e == ENOENT)
                        return reply_errorf(call, SD_BUS_ERROR_FILE_NOT_FOUND, "'%s': %s", folder, strerror(e));
                if (e == EACCES || e == EPERM)
                        return reply_errorf(call, VC_ERROR_ACCESS_DENIED, "'%s': %s", folder, strerror(e));
                return reply_errorf(call, VC_ERROR_FAILED, "'%s': %s", folder, strerror(e));
        }
        if (!S_ISDIR(st.st_mode))
                return reply_errorf(call, VC_ERROR_NOT_SUPPORTED, "'%s': not a folder", folder);
        r = image_walk(folder, &limits, &l);
        if (r >= 0)
                r = found_images_sort(&l);
        if (r >= 0 && l.n == 1 && l.v[0].error && !strcmp(l.v[0].path, folder)) {
                int e = -l.v[0].error;
                found_images_done(&l);
                return reply_errorf(call, e == EACCES ? VC_ERROR_ACCESS_DENIED : VC_ERROR_FAILED,
                                    "'%s': cannot list it: %s", folder, strerror(e));
        }
        r = r < 0 ? r : sd_bus_message_new_method_return(call, &reply);
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                if (l.v[i].error == 0 && text_is_safe(l.v[i].path))
                        r = sd_bus_message_append(reply, "s", l.v[i].path);
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        r = r < 0 ? r : sd_bus_message_append(reply, "b", (int) l.truncated);
        found_images_done(&l);
        if (r < 0)
                return reply_errorf(call, VC_ERROR_FAILED, "'%s': %s", folder, strerror(-r));
        return sd_bus_send(NULL, reply, NULL);
}

struct find_call {
        char *folder;
};

static void on_polkit(sd_bus_message *call, bool allowed, const sd_bus_error *error, void *userdata)
{
        struct find_call *fc = userdata;

        if (!allowed)
                (void) reply_errorf(call, VC_ERROR_ACCESS_DENIED,
                                    "'%s': not authorised to look for disks (polkit action " VC_POLKIT_ACTION "%s%s)",
                                    fc->folder, error ? ": " : "", error ? error->message : "");
        else
                (void) find_and_reply(call, fc->folder);
        free(fc->folder);
        free(fc);
}

int method_find_images(sd_bus_message *msg, void *userdata, sd_bus_error *e)
{
        struct manager *m = userdata;
        const char *folder;
        uid_t uid;
        int r;

        manager_touch(m);
        r = sd_bus_message_read(msg, "s", &folder);
        if (r < 0)
                return r;
        /* No option yet: the a{sv} is for later ones; any key is refused. */
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        const char *key;
        r = sd_bus_message_enter_container(msg, 'e', "sv");
        if (r > 0 && sd_bus_message_read(msg, "s", &key) >= 0)
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "unknown option '%s'", key);
        if (r < 0)
                return r;
        if (folder[0] != '/')
                return error_setf_safe(e, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not an absolute path", folder);
        r = sender_ids(m, msg, &uid, NULL);
        if (r < 0)
                return r;
        if (uid == 0 || uid == geteuid()) {
                r = find_and_reply(msg, folder);
                return r < 0 ? r : 1;
        }
        struct find_call *fc = calloc(1, sizeof *fc);
        if (!fc || !(fc->folder = strdup(folder))) {
                free(fc);
                return -ENOMEM;
        }
        r = polkit_check(m, msg, on_polkit, fc);
        if (r < 0) {
                free(fc->folder);
                free(fc);
                return r;
        }
        return 1;
}
