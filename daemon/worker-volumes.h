/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's "volume" messages (worker-protocol.h): one per volume the
 * scan looked at, sent before the result, at most WORKER_VOLUMES_MAX, so
 * that Manager.Analyze can report used, free and reclaimable space per
 * partition and file system.
 */
#pragma once

#include "analyze.h"
#include "worker-channel.h"

/* The lines for a's volumes (compact_opts.analysed, in worker.c). */
void worker_send_volumes(struct channel *c, const struct vc_analysis *a);
