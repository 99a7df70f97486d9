/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An analysis's volumes: what the worker's "volume" lines said, kept on
 * the job (at most WORKER_VOLUMES_MAX; more are ignored) until the reply
 * to Analyze carries them as its report's "volumes" (aa{sv}).  The note
 * came from the image through the worker: it goes out as safe text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "util/text.h"
#include "worker-protocol.h"

int job_add_volume(struct job *j, const struct worker_volume *v, const char *note)
{
        if (j->n_volumes >= WORKER_VOLUMES_MAX)
                return 0;
        if (!j->volumes) {
                j->volumes = calloc(WORKER_VOLUMES_MAX, sizeof *j->volumes);
                if (!j->volumes)
                        return -ENOMEM;
        }
        struct job_volume *jv = &j->volumes[j->n_volumes];
        jv->v = *v;
        jv->note = text_escape_dup(note ? note : "");
        if (!jv->note)
                return -ENOMEM;
        j->n_volumes++;
        return 0;
}

void job_volumes_free(struct job *j)
{
        for (unsigned i = 0; i < j->n_volumes; i++)
                free(j->volumes[i].note);
        free(j->volumes);
        j->volumes = NULL;
        j->n_volumes = 0;
}

static int append_volume(sd_bus_message *reply, const struct job_volume *jv)
{
        const struct worker_volume *v = &jv->v;
        int r = sd_bus_message_open_container(reply, 'a', "{sv}");

        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "partition", "u", (uint32_t) v->partition);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "start", "t", v->start);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "size", "t", v->size);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "filesystem", "s", v->fs);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "scanned", "b", (int) v->scanned);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "cluster-size", "u", (uint32_t) v->cluster_size);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "used", "t", v->used);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "free", "t", v->free);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "free-bytes", "t", v->fs_free);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "reclaimable", "t", v->reclaimable);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "clean", "b", (int) v->clean);
        r = r < 0 ? r : sd_bus_message_append(reply, "{sv}", "note", "s", jv->note);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

int job_append_volumes(sd_bus_message *reply, const struct job *j)
{
        int r = sd_bus_message_open_container(reply, 'e', "sv");

        r = r < 0 ? r : sd_bus_message_append(reply, "s", "volumes");
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'v', "aa{sv}");
        r = r < 0 ? r : sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (unsigned i = 0; i < j->n_volumes && r >= 0; i++)
                r = append_volume(reply, &j->volumes[i]);
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        r = r < 0 ? r : sd_bus_message_close_container(reply);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}
