/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-worker-msg: the daemon's side of the worker protocol
 * (daemon/worker-msg.c, daemon/rate.c) and the safe text its strings go
 * out as (lib/util/text.c).  The worker parses hostile disks; if one took
 * it over, these bytes are what it could send the daemon, which is root.
 * The same bytes go through text_stream_feed(), vhdctl's output filter.
 *
 * Input: one message as the daemon receives it (at most WORKER_MSG_MAX
 * bytes, cut at a NUL like the daemon's C string).  Its first 16 bytes are
 * also two numbers for the rate functions.
 *
 * Invariants: what parses round-trips (progress/planned print back to the
 * exact line; ok/open/fail texts are suffixes of the line; fail's errno is
 * in range and its id is "-" or [a-z0-9-]); a report value found is
 * printed in the report as key=value; rates are exact floors or saturated
 * (checked by multiplying back, in 128 bits); escaping makes safe text,
 * never more than 4 bytes per byte, and is idempotent; the stream form
 * (vhdctl's output filter) gives the same output in pieces of any size as
 * in one, safe but for newlines and tabs.
 */
#include <inttypes.h>

#include "fuzz-common.h"
#include "rate.h"
#include "util/text.h"
#include "worker-msg.h"
#include "worker-protocol.h"

static bool suffix_of(const char *text, const char *line)
{
        size_t n = strlen(line);
        return text >= line && text <= line + n && strlen(text) == n - (size_t) (text - line);
}

static void check_report(const char *report)
{
        static const char *const keys[] = { "size-before", "size-after", "blocks-allocated",
                                            "blocks-dropped-fs", "blocks-dropped-zero", "blocks-moved",
                                            "bytes-moved", "bytes-read", "bytes-written" };
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
                uint64_t v = worker_report_value(report, keys[i]);
                char kv[64];
                if (!v)
                        continue;
                snprintf(kv, sizeof kv, "%s=%" PRIu64, keys[i], v);
                const char *at = strstr(report, kv);
                /* It may also appear later; the first match by key is at a
                 * word start, which strstr may not find first. */
                bool found = false;
                for (; at; at = strstr(at + 1, kv))
                        if ((at == report || at[-1] == ' ') && (at[strlen(kv)] == ' ' || at[strlen(kv)] == 0))
                                found = true;
                FUZZ_CHECK(found);
        }
}

static void check_rates(uint64_t n, uint64_t d)
{
        unsigned __int128 m = (unsigned __int128) n * 1000000u;
        if (d) {
                uint64_t r = rate_per_second(n, d);
                if (r < UINT64_MAX)
                        FUZZ_CHECK((unsigned __int128) r * d <= m && m < ((unsigned __int128) r + 1) * d);
                else
                        FUZZ_CHECK(m / d >= UINT64_MAX);
                FUZZ_CHECK(rate_usec_for(n, d) == r);
        }
        uint64_t s = rate_add(n, d);
        FUZZ_CHECK(s == ((unsigned __int128) n + d > UINT64_MAX ? UINT64_MAX : n + d));
}

/* The stream form (vhdctl's output filter): pieces cut where the input's
 * own bytes say give the same output as one piece, and that output is
 * safe text but for newlines and tabs (text_escape's, when there are none). */
static size_t stream(const char *in, size_t n, const uint8_t *cuts, size_t n_cuts, char *out)
{
        struct text_stream st = { 0 };
        size_t o = 0, i = 0, c = 0;

        while (i < n) {
                size_t k = n_cuts ? 1 + cuts[c++ % n_cuts] % 7 : n;
                k = k < n - i ? k : n - i;
                o += text_stream_feed(&st, in + i, k, false, out + o);
                FUZZ_CHECK(st.n_held < 4);
                i += k;
        }
        o += text_stream_feed(&st, "", 0, true, out + o);
        FUZZ_CHECK(st.n_held == 0);
        out[o] = 0;
        return o;
}

static void check_stream(const char *line, const uint8_t *data, size_t size)
{
        size_t n = strlen(line);
        char *whole = malloc(TEXT_STREAM_OUT_SIZE(n) + 1), *pieces = malloc(TEXT_STREAM_OUT_SIZE(n) + 1);

        FUZZ_CHECK(whole && pieces);
        size_t o = stream(line, n, NULL, 0, whole);
        FUZZ_CHECK(stream(line, n, data, size < 32 ? size : 32, pieces) == o && !strcmp(pieces, whole));
        FUZZ_CHECK(o <= 4 * n);
        for (char *t = whole; (t = strpbrk(t, "\n\t")); t++)
                *t = ' ';
        FUZZ_CHECK(text_is_safe(whole));
        if (!strpbrk(line, "\n\t")) {
                char *e = text_escape_dup(line);
                FUZZ_CHECK(e && !strcmp(e, pieces));
                free(e);
        }
        free(whole);
        free(pieces);
}

static void check_text(const char *line)
{
        char *e = text_escape_dup(line);
        FUZZ_CHECK(e);
        FUZZ_CHECK(text_is_safe(e));
        FUZZ_CHECK(strlen(e) <= 4 * strlen(line));
        FUZZ_CHECK(text_is_safe(line) == (strcmp(e, line) == 0));
        if (utf8_is_valid(line) && text_is_safe(line))
                FUZZ_CHECK(!strcmp(e, line));
        char *e2 = text_escape_dup(e);
        FUZZ_CHECK(e2 && !strcmp(e2, e));
        free(e2);
        free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char line[WORKER_MSG_MAX + 1];
        struct worker_msg m;
        char back[128];

        if (size > WORKER_MSG_MAX)
                return 0;
        memcpy(line, data, size);
        line[size] = 0;
        if (size >= 16)
                check_rates(get_le64(data), get_le64(data + 8));

        worker_msg_parse(line, &m);
        switch (m.kind) {
        case WORKER_MSG_PHASE:
                FUZZ_CHECK(m.phase >= WORKER_PHASE_UNKNOWN && m.phase <= WORKER_PHASE_TRUNCATING);
                FUZZ_CHECK(!strncmp(line, "phase ", 6) && !m.text);
                break;
        case WORKER_MSG_PROGRESS:
        case WORKER_MSG_PLANNED:
                snprintf(back, sizeof back, "%s %" PRIu64 " %" PRIu64,
                         m.kind == WORKER_MSG_PROGRESS ? "progress" : "planned", m.a, m.b);
                FUZZ_CHECK(!strcmp(back, line) && !m.text);
                break;
        case WORKER_MSG_OPEN:
                FUZZ_CHECK(suffix_of(m.text, line) && m.text == line + 5);
                break;
        case WORKER_MSG_VOLUME: {
                char vb[WORKER_MSG_MAX + 64];
                snprintf(vb, sizeof vb,
                         "volume %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                         " %" PRIu64 " %d %d %s%s%s",
                         m.vol.partition, m.vol.start, m.vol.size, m.vol.cluster_size, m.vol.used, m.vol.free,
                         m.vol.fs_free, m.vol.reclaimable, m.vol.scanned, m.vol.clean, m.vol.fs[0] ? m.vol.fs : "-",
                         *m.text || line[strlen(line) - strlen(m.text) - 1] == ' ' ? " " : "", m.text);
                FUZZ_CHECK(suffix_of(m.text, line) && !strcmp(vb, line));
                FUZZ_CHECK(strlen(m.vol.fs) < sizeof m.vol.fs && strcmp(m.vol.fs, "-"));
                break;
        }
        case WORKER_MSG_OK:
                FUZZ_CHECK(suffix_of(m.text, line));
                FUZZ_CHECK(!strcmp(line, "result ok") || (m.text == line + 10 && !strncmp(line, "result ok ", 10)));
                check_report(m.text);
                break;
        case WORKER_MSG_FAIL:
                FUZZ_CHECK(suffix_of(m.text, line) && !strncmp(line, "result fail", 11));
                FUZZ_CHECK(m.error >= 1 && m.error <= WORKER_ERRNO_MAX);
                FUZZ_CHECK(strlen(m.id) < sizeof m.id && m.id[0]);
                FUZZ_CHECK(!strcmp(m.id, "-") || strspn(m.id, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(m.id));
                break;
        case WORKER_MSG_UNKNOWN:
                FUZZ_CHECK(!m.text);
                break;
        default:
                FUZZ_CHECK(!"a kind out of range");
        }
        check_report(line);
        check_text(line);
        check_stream(line, data, size);
        return 0;
}
