/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The read-ahead detector (image/prefetch.h): a sequential stream is taken
 * after VC_PREFETCH_HITS reads, in order or as out of order as nbdcopy's
 * parallel requests come; its hints are disjoint, follow one another, stay
 * within one window of what was read and within the disk, and come at
 * most once per half window; random reads issue none (small ones) or
 * hint under 1% of what they read (large ones on a small disk), more
 * interleaved streams than it has slots none; at any time what is hinted and not yet
 * read is at most VC_PREFETCH_STREAMS windows.  And the hint batcher
 * merges adjacent file ranges.  (That hints never change what is read:
 * tests/integration/test-plugin-readahead.sh.)
 */
#include <fcntl.h>
#include <unistd.h>

#include "image/prefetch.h"
#include "tests.h"
#include "util/macro.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* What a test saw: hints, and the bound checked after every read. */
struct seen {
        unsigned hints;
        uint64_t hinted_end;    /* of the last hint (0: none yet) */
};

/* Hinted and not yet read, over every stream: the bookkeeping's bound. */
static uint64_t ahead(const struct vc_prefetch *pf)
{
        uint64_t sum = 0;

        for (size_t i = 0; i < ELEMENTSOF(pf->s); i++)
                if (pf->s[i].used && pf->s[i].hinted > pf->s[i].next)
                        sum += pf->s[i].hinted - pf->s[i].next;
        return sum;
}

static void note(struct vc_prefetch *pf, uint64_t off, uint64_t len, uint64_t size, struct seen *seen,
                 uint64_t furthest)
{
        uint64_t from, n;

        if (vc_prefetch_note(pf, off, len, size, &from, &n)) {
                ASSERT_TRUE(n > 0);
                ASSERT_TRUE(from + n <= size);
                /* never more than a window ahead of the furthest read */
                ASSERT_TRUE(from + n <= MAX(furthest, off + len) + VC_PREFETCH_WINDOW);
                /* never behind what was read */
                ASSERT_TRUE(from >= MIN(furthest, off + len));
                seen->hints++;
                seen->hinted_end = from + n;
        }
        ASSERT_TRUE(ahead(pf) <= (uint64_t) VC_PREFETCH_STREAMS * VC_PREFETCH_WINDOW);
}

static void test_sequential(void)
{
        struct vc_prefetch pf;
        struct seen seen = {};
        const uint64_t size = GiB + 12345, req = 256 << 10;
        uint64_t off = 0, from, n, last_end = 0;

        vc_prefetch_init(&pf);
        for (unsigned i = 0; off < size; i++) {
                uint64_t len = MIN(req, size - off);
                bool hint = vc_prefetch_note(&pf, off, len, size, &from, &n);
                if (i + 1 < VC_PREFETCH_HITS)
                        ASSERT_FALSE(hint);
                if (i + 1 == VC_PREFETCH_HITS) {
                        /* taken: the window after what was read */
                        ASSERT_TRUE(hint);
                        ASSERT_EQ_U64(from, off + len);
                        ASSERT_EQ_U64(n, VC_PREFETCH_WINDOW);
                }
                if (hint) {
                        /* each hint follows the last: nothing twice, no gap */
                        if (last_end)
                                ASSERT_EQ_U64(from, last_end);
                        ASSERT_TRUE(from + n <= off + len + VC_PREFETCH_WINDOW);
                        ASSERT_TRUE(from + n <= size);
                        last_end = from + n;
                        seen.hints++;
                }
                off += len;
        }
        /* the whole disk after the first reads, hinted exactly up to its end */
        ASSERT_EQ_U64(last_end, size);
        /* at most one hint per half window of progress (plus the first) */
        ASSERT_TRUE(seen.hints <= 1 + size / (VC_PREFETCH_WINDOW / 2) + 1);
        ASSERT_TRUE(seen.hints >= size / VC_PREFETCH_WINDOW);
        vc_prefetch_done(&pf);
}

/* nbdcopy: 64 requests of 256 KiB in flight, completing out of order. */
static void test_reordered(void)
{
        struct vc_prefetch pf;
        struct seen seen = {};
        const uint64_t size = 2 * GiB, req = 256 << 10, group = 64;
        uint64_t furthest = 0, x = 88172645463325252u;

        vc_prefetch_init(&pf);
        for (uint64_t g = 0; g * group * req < size; g++) {
                uint64_t idx[64];
                for (uint64_t k = 0; k < group; k++)
                        idx[k] = g * group + k;
                for (uint64_t k = group - 1; k > 0; k--) {
                        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                        uint64_t j = x % (k + 1), t = idx[k];
                        idx[k] = idx[j], idx[j] = t;
                }
                for (uint64_t k = 0; k < group; k++) {
                        note(&pf, idx[k] * req, req, size, &seen, furthest);
                        furthest = MAX(furthest, idx[k] * req + req);
                }
        }
        ASSERT_TRUE(seen.hints >= size / VC_PREFETCH_WINDOW);
        ASSERT_EQ_U64(seen.hinted_end, size);
        vc_prefetch_done(&pf);
}

/* Random reads of up to @maxlen over a disk of @size: the hints issued. */
static unsigned random_reads(uint64_t size, uint64_t maxlen)
{
        struct vc_prefetch pf;
        struct seen seen = {};
        uint64_t x = 2463534242u, furthest = 0, bytes = 0;

        vc_prefetch_init(&pf);
        for (unsigned i = 0; i < 200000; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                uint64_t len = (x >> 40) % maxlen + 1, off = (x % (size - len)) & ~UINT64_C(511);
                furthest = MAX(furthest, off + len);
                note(&pf, off, len, size, &seen, furthest);
                bytes += len;
        }
        vc_prefetch_done(&pf);
        printf("random reads of up to %" PRIu64 " bytes over %" PRIu64 " MiB: %u hints for %" PRIu64 " MiB read\n",
               maxlen, size / MiB, seen.hints, bytes / MiB);
        /* What a false stream may hint and nobody reads: under 1% of
         * what was read. */
        ASSERT_TRUE((uint64_t) seen.hints * VC_PREFETCH_WINDOW <= bytes / 100);
        return seen.hints;
}

static void test_random(void)
{
        /* reads of up to a few KiB never make a stream dense enough */
        ASSERT_EQ_INT(random_reads(256 * GiB, 4096), 0);
        ASSERT_EQ_INT(random_reads(3 * GiB, 4096), 0);
        ASSERT_EQ_INT(random_reads(256 * MiB, 4096), 0);
        ASSERT_EQ_INT(random_reads(256 * GiB, MiB), 0);
        /* large reads on a small disk land near one another now and then */
        random_reads(3 * GiB, MiB);
        random_reads(256 * MiB, 65536);
}

/* n sequential streams read round robin, each in its own GiB. */
static unsigned interleaved(unsigned n)
{
        struct vc_prefetch pf;
        struct seen seen = {};
        const uint64_t size = 64 * GiB, req = MiB;

        vc_prefetch_init(&pf);
        for (uint64_t step = 0; step < 256; step++)
                for (unsigned s = 0; s < n; s++) {
                        uint64_t off = s * GiB + step * req;
                        note(&pf, off, req, size, &seen, off + req);
                }
        vc_prefetch_done(&pf);
        return seen.hints;
}

static void test_streams(void)
{
        /* as many as the slots: each taken, the bound checked in note() */
        ASSERT_TRUE(interleaved(VC_PREFETCH_STREAMS) >= VC_PREFETCH_STREAMS * (256 * MiB / VC_PREFETCH_WINDOW));
        /* twice as many: each evicts another before its next read, none taken */
        ASSERT_EQ_INT(interleaved(2 * VC_PREFETCH_STREAMS), 0);
}

static void test_edges(void)
{
        struct vc_prefetch pf;
        uint64_t from = 7, n = 7;

        vc_prefetch_init(&pf);
        for (int i = 0; i < 8; i++) {
                ASSERT_FALSE(vc_prefetch_note(&pf, 0, 0, 100 * MiB, &from, &n));        /* empty */
                ASSERT_FALSE(vc_prefetch_note(&pf, 100 * MiB, 1, 100 * MiB, &from, &n)); /* past the end */
        }
        /* a disk read to its end: nothing left to hint */
        for (uint64_t off = 0; off < 4 * MiB; off += MiB)
                ASSERT_FALSE(vc_prefetch_note(&pf, off, MiB, 4 * MiB, &from, &n));
        ASSERT_EQ_U64(from, 7);         /* ret_ untouched */
        ASSERT_EQ_U64(n, 7);
        vc_prefetch_done(&pf);
}

static void test_willneed(void)
{
        char path[] = "/tmp/test-prefetch-XXXXXX";
        int fd = mkstemp(path);
        struct vc_willneed w;

        ASSERT_OK(fd);
        unlink(path);
        ASSERT_OK(ftruncate(fd, 16 * MiB));
        w = (struct vc_willneed) { .fd = fd };
        vc_willneed_add(&w, 0, MiB);
        vc_willneed_add(&w, MiB, MiB);          /* adjacent: merged */
        vc_willneed_add(&w, 5 * MiB, 0);        /* empty: nothing */
        vc_willneed_add(&w, 5 * MiB, MiB);      /* a gap: the first goes */
        ASSERT_EQ_INT(w.issued, 1);
        vc_willneed_add(&w, 3 * MiB, MiB);      /* before it: not merged */
        ASSERT_EQ_INT(w.issued, 2);
        vc_willneed_flush(&w);
        ASSERT_EQ_INT(w.issued, 3);
        vc_willneed_flush(&w);                  /* nothing pending */
        ASSERT_EQ_INT(w.issued, 3);
        close(fd);
}

int main(void)
{
        test_sequential();
        test_reordered();
        test_random();
        test_streams();
        test_edges();
        test_willneed();
        printf("test-prefetch: OK\n");
        return 0;
}
