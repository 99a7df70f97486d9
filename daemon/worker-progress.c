/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's callbacks, turned into messages.  A phase is announced when
 * it begins; progress within it is sent at most every 100 ms (the daemon
 * turns it into PropertiesChanged, which must stay at a few a second),
 * except that the end of a phase is always sent, so the daemon's last
 * number is 100%.  Every progress call also reads, without blocking, what
 * the daemon sent: after a "cancel" the callback returns non-zero and the
 * engine stops at that safe point, with -ECANCELED.
 *
 * Test hook: with VHDCOMPACT_TEST_WORKER_HOLD=PHASE in the environment the
 * worker waits, as it enters PHASE, for one message from the daemon.  A
 * test sends "cancel" there and so cancels at a known point instead of
 * racing the engine (compare VHDCOMPACT_TEST_ATTACH_PAUSE in lib/analyze.c).
 * With VHDCOMPACT_TEST_WORKER_SLOW_MS=N it pauses N ms at each progress
 * call while moving, so that a small disk makes a job long enough to watch
 * its progress, cancel it or kill its daemon mid-move.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker-progress.h"

#define PROGRESS_INTERVAL 0.1

static double now_s(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static void on_phase(void *userdata, enum compact_phase phase)
{
        struct worker_progress *p = userdata;

        if (p->phase == (int) phase)
                return;
        p->phase = (int) phase;
        p->last_sent = 0;
        (void) channel_send(p->channel, "phase %s", compact_phase_to_string(phase));
        if (p->hold == (int) phase)
                channel_wait_one(p->channel);
}

static int on_progress(void *userdata, enum compact_phase phase, uint64_t done, uint64_t total)
{
        struct worker_progress *p = userdata;
        double now = now_s();

        /* The engine announces its phases; this only covers a progress
         * call that would come first. */
        on_phase(p, phase);
        if (now - p->last_sent >= PROGRESS_INTERVAL || done >= total) {
                p->last_sent = now;
                (void) channel_send(p->channel, "progress %" PRIu64 " %" PRIu64, done, total);
        }
        if (p->slow_ms && phase == COMPACT_PHASE_MOVING && done < total)
                nanosleep(&(struct timespec) { p->slow_ms / 1000, (long) (p->slow_ms % 1000) * 1000000 }, NULL);
        return channel_poll_cancel(p->channel);
}

static void on_planned(void *userdata, uint64_t size_before, uint64_t size_after)
{
        struct worker_progress *p = userdata;

        (void) channel_send(p->channel, "planned %" PRIu64 " %" PRIu64, size_before, size_after);
}

void worker_progress_init(struct worker_progress *p, struct channel *c)
{
        const char *hold = getenv("VHDCOMPACT_TEST_WORKER_HOLD");
        const char *slow = getenv("VHDCOMPACT_TEST_WORKER_SLOW_MS");

        *p = (struct worker_progress) { .channel = c, .phase = -1, .hold = -1,
                                        .slow_ms = slow ? (unsigned) strtoul(slow, NULL, 10) : 0 };
        for (int i = 0; hold && i < _COMPACT_PHASE_MAX; i++)
                if (!strcmp(hold, compact_phase_to_string(i)))
                        p->hold = i;
}

void worker_progress_attach(struct worker_progress *p, struct compact_opts *o)
{
        o->progress = on_progress;
        o->phase = on_phase;
        o->planned = on_planned;
        o->userdata = p;
}
