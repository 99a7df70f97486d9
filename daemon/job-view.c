/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who sees what of a job.  A job's Path names a file, maybe inside a
 * folder only its owner may list, and its sizes, Error and Report tell
 * about the disk: these details are for the job's owner, root and the
 * daemon's own user (a --user daemon's).  Anyone sees that a job exists and
 * its State.
 *
 * The property getters ask job_details_visible() for the message being
 * built (manager.view says which):
 *   VIEW_CALLER     a reply to Get, GetAll or GetManagedObjects: the sender
 *                   of the call being answered (sd_bus_get_current_message)
 *                   decides; its uid is asked once per call, not once per
 *                   property and job;
 *   VIEW_BROADCAST  a signal everyone may receive (InterfacesAdded,
 *                   PropertiesChanged broadcast): no details;
 *   VIEW_OWNER      a signal sent to the job's own client (job.c's
 *                   unicast PropertiesChanged): all of them.
 * A signal is never built in VIEW_CALLER: the current message there may be
 * the owner's call (Cancel ending a job), not the receivers'.
 */
#include <unistd.h>

#include "daemon.h"

static bool viewer_uid(struct manager *m, uid_t *ret)
{
        sd_bus_message *msg = sd_bus_get_current_message(m->bus);

        if (!msg)
                return false;
        if (msg != m->viewer_msg) {
                uid_t uid;
                if (sender_ids(m, msg, &uid, NULL) < 0)
                        return false;
                /* Held, so that the pointer names this call until the next. */
                sd_bus_message_unref(m->viewer_msg);
                m->viewer_msg = sd_bus_message_ref(msg);
                m->viewer_uid = uid;
        }
        *ret = m->viewer_uid;
        return true;
}

bool job_details_visible(const struct job *j)
{
        struct manager *m = j->m;
        uid_t uid;

        switch (m->view) {
        case VIEW_OWNER:
                return true;
        case VIEW_BROADCAST:
                return false;
        case VIEW_CALLER:
                break;
        }
        if (!viewer_uid(m, &uid))
                return false;
        return uid == 0 || uid == j->owner || uid == geteuid();
}

void job_view_done(struct manager *m)
{
        m->viewer_msg = sd_bus_message_unref(m->viewer_msg);
}
