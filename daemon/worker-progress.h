/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the worker tells the daemon while the engine runs: "phase",
 * "progress" (at most ~10 a second) and "planned", from the engine's
 * callbacks (struct compact_opts); and where it learns of a "cancel": the
 * progress callback, which is the engine's safe point to stop.
 */
#pragma once

#include "compact/compact.h"
#include "worker-channel.h"

struct worker_progress {
        struct channel *channel;
        int phase;              /* enum compact_phase being reported, -1 before */
        double last_sent;       /* CLOCK_MONOTONIC seconds of the last "progress" */
        int hold;               /* test hook: phase to hold in, or -1 */
        unsigned slow_ms;       /* test hook: pause per progress call while moving */
};

void worker_progress_init(struct worker_progress *p, struct channel *c);
/* Points o's callbacks and userdata at p. */
void worker_progress_attach(struct worker_progress *p, struct compact_opts *o);
