/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "util/bus-names.h"
#include "worker-msg.h"

/* A decimal number below 2^64 as printf writes it (no sign, no leading
 * zero); *p moves past it. */
static bool parse_u64(const char **p, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *p = s, *ret = v;
        return true;
}

/* "A B" and nothing after. */
static bool parse_pair(const char *s, uint64_t *a, uint64_t *b)
{
        return parse_u64(&s, a) && *s++ == ' ' && parse_u64(&s, b) && *s == 0;
}

static enum worker_phase phase_from_name(const char *s)
{
        static const char *const names[] = { VC_STATE_ATTACHING, VC_STATE_SCANNING, VC_STATE_MOVING,
                                              VC_STATE_TRUNCATING };
        for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
                if (!strcmp(s, names[i]))
                        return (enum worker_phase) i;
        return WORKER_PHASE_UNKNOWN;
}

/* "fail ERRNO ID MESSAGE", ERRNO and ID optional in practice: what is
 * missing or out of range reads as EIO and "-". */
static void parse_fail(const char *s, struct worker_msg *m)
{
        uint64_t e = 0;
        size_t n;

        m->kind = WORKER_MSG_FAIL;
        m->error = EIO;
        strcpy(m->id, "-");
        m->text = s + strlen(s);
        if (!parse_u64(&s, &e) || (*s != ' ' && *s != 0))
                return;
        if (e >= 1 && e <= WORKER_ERRNO_MAX)
                m->error = (int) e;
        if (*s == ' ')
                s++;
        n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");
        if (n > 0 && n < sizeof m->id && (s[n] == ' ' || s[n] == 0))
                memcpy(m->id, s, n), m->id[n] = 0;
        else
                n = strcspn(s, " ");
        s += n;
        m->text = *s == ' ' ? s + 1 : s;
}

static bool parse_flag(const char **p, bool *ret)
{
        if ((**p != '0' && **p != '1') || (*p)[1] != ' ')
                return false;
        *ret = **p == '1';
        *p += 2;
        return true;
}

/* "P START SIZE CLUSTER USED FREE FSFREE RECLAIM 0|1 0|1 FS[ NOTE]". */
static bool parse_volume(const char *s, struct worker_msg *m)
{
        struct worker_volume *v = &m->vol;
        uint64_t *n[] = { &v->partition, &v->start, &v->size, &v->cluster_size,
                          &v->used, &v->free, &v->fs_free, &v->reclaimable };

        for (size_t i = 0; i < sizeof n / sizeof *n; i++)
                if (!parse_u64(&s, n[i]) || *s++ != ' ')
                        return false;
        if (!parse_flag(&s, &v->scanned) || !parse_flag(&s, &v->clean))
                return false;
        size_t len = 0;
        while (s[len] > ' ' && s[len] < 0x7f)
                len++;
        if (len == 0 || len >= sizeof v->fs || (s[len] != ' ' && s[len] != 0))
                return false;
        if (!(len == 1 && s[0] == '-'))
                memcpy(v->fs, s, len);
        v->fs[len == 1 && s[0] == '-' ? 0 : len] = 0;
        m->text = s[len] ? s + len + 1 : s + len;
        return true;
}

void worker_msg_parse(const char *line, struct worker_msg *ret)
{
        struct worker_msg m = { .kind = WORKER_MSG_UNKNOWN, .phase = WORKER_PHASE_UNKNOWN, .id = "-" };

        if (!strncmp(line, "phase ", 6)) {
                m.kind = WORKER_MSG_PHASE;
                m.phase = phase_from_name(line + 6);
        } else if (!strncmp(line, "progress ", 9)) {
                if (parse_pair(line + 9, &m.a, &m.b))
                        m.kind = WORKER_MSG_PROGRESS;
        } else if (!strncmp(line, "planned ", 8)) {
                if (parse_pair(line + 8, &m.a, &m.b))
                        m.kind = WORKER_MSG_PLANNED;
        } else if (!strncmp(line, "volume ", 7)) {
                if (parse_volume(line + 7, &m))
                        m.kind = WORKER_MSG_VOLUME;
                else
                        m.text = NULL;
        } else if (!strncmp(line, "open ", 5)) {
                m.kind = WORKER_MSG_OPEN;
                m.text = line + 5;
        } else if (!strcmp(line, "result ok") || !strncmp(line, "result ok ", 10)) {
                m.kind = WORKER_MSG_OK;
                m.text = line[9] ? line + 10 : line + 9;
        } else if (!strcmp(line, "result fail") || !strncmp(line, "result fail ", 12))
                parse_fail(line[11] ? line + 12 : line + 11, &m);
        *ret = m;
}

uint64_t worker_report_value(const char *report, const char *key)
{
        size_t kl = strlen(key);

        for (const char *p = report; *p;) {
                uint64_t v;
                const char *s = p + kl + 1;
                if (!strncmp(p, key, kl) && p[kl] == '=' && parse_u64(&s, &v) && (*s == ' ' || *s == 0))
                        return v;
                p += strcspn(p, " ");
                p += *p == ' ';
        }
        return 0;
}
