/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Asking polkit, asynchronously, whether the sender of a call may use
 * action org.vhd.compact.  The subject is the caller's bus name, so polkit
 * asks the bus who it is; no pid races.  When polkit is not on the bus, or
 * says anything but yes, the answer is no.
 */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "util/macro.h"

struct polkit_query {
        sd_bus_message *call;
        polkit_done_t done;
        void *userdata;
};

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        struct polkit_query *q = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0;

        if (!e && sd_bus_message_enter_container(reply, 'r', "bba{ss}") >= 0 &&
            sd_bus_message_read(reply, "bb", &authorized, &challenge) >= 0)
                q->done(q->call, authorized, NULL, q->userdata);
        else
                q->done(q->call, false, e, q->userdata);
        sd_bus_message_unref(q->call);
        free(q);
        return 0;
}

int polkit_check(struct manager *m, sd_bus_message *call, polkit_done_t done, void *userdata)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *req = NULL;
        _cleanup_free_ struct polkit_query *q = NULL;
        int r;

        q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        r = sd_bus_message_new_method_call(m->bus, &req, "org.freedesktop.PolicyKit1",
                                           "/org/freedesktop/PolicyKit1/Authority",
                                           "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization");
        if (r < 0)
                return r;
        r = sd_bus_message_append(req, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(call), VC_POLKIT_ACTION, 0,
                                  /* AllowUserInteraction, when the caller allows it */
                                  (uint32_t) !!sd_bus_message_get_allow_interactive_authorization(call), "");
        if (r < 0)
                return r;
        *q = (struct polkit_query) { .call = sd_bus_message_ref(call), .done = done, .userdata = userdata };
        /* Interactive authentication may take a person a while. */
        r = sd_bus_call_async(m->bus, NULL, req, on_reply, q, 120ULL * 1000 * 1000);
        if (r < 0) {
                sd_bus_message_unref(q->call);
                return r;
        }
        (void) TAKE_PTR(q);     /* on_reply's now */
        return 0;
}
