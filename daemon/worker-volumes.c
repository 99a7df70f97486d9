/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One "volume" line per volume of the analysis.  used and free are the
 * file system's own counts (clusters x cluster size, as `vhdctl analyze
 * --json` reports them); reclaimable is what the plan can give back for
 * this volume: the file bytes of the blocks wholly free per the file
 * systems whose first byte lies in the volume.  The note may quote bytes
 * of the image: control characters become '?' so the line stays one line.
 */
#include <inttypes.h>
#include <stdio.h>

#include "worker-protocol.h"
#include "worker-volumes.h"

static uint64_t volume_reclaimable(const struct vc_analysis *a, const struct vc_volume *v)
{
        uint32_t n_free = a->blocks_by_class[VC_BLOCK_FREE];
        uint64_t per_block = n_free ? a->reclaimable_bytes / n_free : 0, blocks = 0;

        if (!a->block_class || !a->block_size)
                return 0;
        for (uint32_t b = 0; b < a->n_blocks; b++) {
                uint64_t at = (uint64_t) b * a->block_size;
                if (a->block_class[b] == VC_BLOCK_FREE && at >= v->start && at - v->start < v->size)
                        blocks++;
        }
        return blocks * per_block;
}

void worker_send_volumes(struct channel *c, const struct vc_analysis *a)
{
        for (size_t i = 0; i < a->n_volumes && i < WORKER_VOLUMES_MAX; i++) {
                const struct vc_volume *v = &a->volumes[i];
                const struct vc_fs_info *info = &v->fs_info;
                bool counted = v->fs && info->cluster_size;
                uint64_t cs = counted ? info->cluster_size : 0;
                uint64_t used = counted ? (info->total_clusters - info->free_clusters) * cs : 0;
                uint64_t free_b = counted ? info->free_clusters * cs : 0;
                char note[sizeof v->note];

                snprintf(note, sizeof note, "%s", v->note);
                for (unsigned char *p = (unsigned char *) note; *p; p++)
                        if (*p < 0x20 || *p == 0x7f)
                                *p = '?';
                (void) channel_send(c,
                                    "volume %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                                    " %" PRIu64 " %" PRIu64 " %d %d %s%s%s",
                                    v->partition, v->start, v->size, cs, used, free_b, v->free_bytes,
                                    volume_reclaimable(a, v), v->scanned, counted && info->clean,
                                    v->fs ? v->fs : "-", note[0] ? " " : "", note);
        }
}
