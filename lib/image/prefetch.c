/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sequential-stream detector of prefetch.h and its hint batcher. */
#include <fcntl.h>
#include <string.h>

#include "../util/macro.h"
#include "prefetch.h"

void vc_prefetch_init(struct vc_prefetch *pf)
{
        memset(pf, 0, sizeof *pf);
        pthread_mutex_init(&pf->lock, NULL);
}

void vc_prefetch_done(struct vc_prefetch *pf)
{
        pthread_mutex_destroy(&pf->lock);
}

/* Whether a read starting at @off continues stream @s. */
static bool continues(const struct vc_prefetch_stream *s, uint64_t off)
{
        return s->used && off <= s->next + (uint64_t) VC_PREFETCH_WINDOW &&
               off + (uint64_t) VC_PREFETCH_BEHIND >= s->next;
}

bool vc_prefetch_note(struct vc_prefetch *pf, uint64_t off, uint64_t len, uint64_t size,
                      uint64_t *ret_off, uint64_t *ret_len)
{
        struct vc_prefetch_stream *s = NULL, *victim = &pf->s[0];
        uint64_t end = off + len, from = 0, to = 0;

        if (len == 0 || end > size)
                return false;
        pthread_mutex_lock(&pf->lock);
        pf->clock++;
        for (size_t i = 0; i < ELEMENTSOF(pf->s); i++) {
                if (continues(&pf->s[i], off)) {
                        s = &pf->s[i];
                        break;
                }
                if (pf->s[i].used < victim->used)
                        victim = &pf->s[i];
        }
        if (!s) {
                *victim = (struct vc_prefetch_stream) {
                        .low = off, .next = end, .bytes = len, .hinted = end, .used = pf->clock, .hits = 1,
                };
                pthread_mutex_unlock(&pf->lock);
                return false;
        }
        s->used = pf->clock;
        s->low = MIN(s->low, off);
        s->next = MAX(s->next, end);
        s->bytes = s->bytes + len < s->bytes ? UINT64_MAX : s->bytes + len;
        if (s->hits < VC_PREFETCH_HITS)
                s->hits++;
        if (s->hits >= VC_PREFETCH_HITS && s->bytes >= (s->next - s->low) / 4 &&
            s->hinted < s->next + VC_PREFETCH_WINDOW / 2) {
                from = MAX(s->hinted, s->next);
                to = MIN(s->next + VC_PREFETCH_WINDOW, size);
                if (to > from)
                        s->hinted = to;
        }
        pthread_mutex_unlock(&pf->lock);
        if (to <= from)
                return false;
        *ret_off = from;
        *ret_len = to - from;
        return true;
}

void vc_willneed_flush(struct vc_willneed *w)
{
        if (w->len) {
                /* Advisory: a failure changes nothing but the speed. */
                (void) posix_fadvise(w->fd, (off_t) w->off, (off_t) w->len, POSIX_FADV_WILLNEED);
                w->issued++;
        }
        w->len = 0;
}

void vc_willneed_add(struct vc_willneed *w, uint64_t off, uint64_t len)
{
        if (len == 0)
                return;
        if (w->len && w->off + w->len == off) {
                w->len += len;
                return;
        }
        vc_willneed_flush(w);
        w->off = off;
        w->len = len;
}
