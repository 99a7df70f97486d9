/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The power-cut model; see powercut.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powercut.h"

int pc_log_read(const char *path, struct pc_log *ret)
{
        struct pc_log log = {};
        struct stat st;
        uint64_t dev = 0, ino = 0;
        size_t cap = 0, pos = 0, size;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        size = (size_t) st.st_size;
        log.raw = malloc(size ? size : 1);
        if (!log.raw) {
                close(fd);
                return -ENOMEM;
        }
        for (size_t got = 0; got < size;) {
                ssize_t n = read(fd, log.raw + got, size - got);
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
                got += (size_t) n;
        }
        close(fd);
        while (r == 0 && pos < size) {
                struct vc_power_rec rec;
                if (size - pos < sizeof rec) {
                        r = -EBADMSG;
                        break;
                }
                memcpy(&rec, log.raw + pos, sizeof rec);
                pos += sizeof rec;
                if (rec.magic != VC_POWER_MAGIC || rec.kind < VC_POWER_WRITE || rec.kind > VC_POWER_PUNCH ||
                    (rec.kind == VC_POWER_WRITE && rec.len > size - pos)) {
                        r = -EBADMSG;
                        break;
                }
                if (log.n == 0)
                        dev = rec.dev, ino = rec.ino;
                else if (rec.dev != dev || rec.ino != ino) {
                        r = -EXDEV;
                        break;
                }
                if (log.n == cap) {
                        cap = cap ? 2 * cap : 64;
                        struct pc_op *o = realloc(log.ops, cap * sizeof *o);
                        if (!o) {
                                r = -ENOMEM;
                                break;
                        }
                        log.ops = o;
                }
                struct pc_op *op = &log.ops[log.n++];
                *op = (struct pc_op) { .kind = rec.kind, .off = rec.off, .len = rec.len };
                memcpy(op->label, rec.label, sizeof op->label);
                op->label[sizeof op->label - 1] = 0;
                if (rec.kind == VC_POWER_WRITE) {
                        op->data = log.raw + pos;
                        pos += rec.len;
                }
        }
        if (r < 0) {
                pc_log_done(&log);
                return r;
        }
        *ret = log;
        return 0;
}

void pc_log_done(struct pc_log *log)
{
        free(log->ops);
        free(log->raw);
        *log = (struct pc_log) {};
}

/* Whether label is one of the '|'-separated labels of ignore. */
static bool ignored(const char *label, const char *ignore)
{
        size_t n = strlen(label);
        for (const char *p = ignore; p; p = strchr(p, '|') ? strchr(p, '|') + 1 : NULL) {
                size_t len = strcspn(p, "|");
                if (len == n && !strncmp(p, label, n))
                        return true;
        }
        return false;
}

bool pc_is_barrier(const struct pc_log *log, size_t i, const char *ignore)
{
        return log->ops[i].kind == VC_POWER_SYNC && !(ignore && ignored(log->ops[i].label, ignore));
}

static uint64_t mix(uint64_t x)
{
        /* splitmix64's finalizer */
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}

static uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
        return mix(a ^ mix(b ^ mix(c)));
}

static int write_at(int fd, const void *buf, size_t n, uint64_t off)
{
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t w = pwrite(fd, p, n, (off_t) off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t) w;
                off += (uint64_t) w;
        }
        return 0;
}

static int zero_at(int fd, uint64_t len, uint64_t off)
{
        static const uint8_t zeros[PC_PIECE];
        int r;

        while (len > 0) {
                size_t n = len < sizeof zeros ? (size_t) len : sizeof zeros;
                r = write_at(fd, zeros, n, off);
                if (r < 0)
                        return r;
                len -= n;
                off += n;
        }
        return 0;
}

/* Applies the part [a, b) of op (a write or a punch). */
static int apply_range(int fd, const struct pc_op *op, uint64_t a, uint64_t b)
{
        if (op->kind == VC_POWER_WRITE)
                return write_at(fd, op->data + (a - op->off), (size_t) (b - a), a);
        return zero_at(fd, b - a, a);
}

static int apply_whole(int fd, const struct pc_op *op)
{
        switch (op->kind) {
        case VC_POWER_WRITE:
        case VC_POWER_PUNCH:
                return apply_range(fd, op, op->off, op->off + op->len);
        case VC_POWER_TRUNCATE:
                return ftruncate(fd, (off_t) op->off) < 0 ? -errno : 0;
        case VC_POWER_SYNC:
                return 0;
        }
        return -EINVAL;
}

/* Pending pieces seen so far in this cut, by offset (an open-addressing
 * table): how many ops touched each, so that a piece's draw does not
 * depend on the order of the ops that touch other pieces. */
struct touch {
        uint64_t off;           /* UINT64_MAX - 1: empty; UINT64_MAX: the size */
        unsigned n;
};

#define EMPTY (UINT64_MAX - 1)

static unsigned touched(struct touch *t, size_t mask, uint64_t off)
{
        for (size_t i = (size_t) mix(off) & mask;; i = (i + 1) & mask) {
                if (t[i].off == off)
                        return t[i].n++;
                if (t[i].off == EMPTY) {
                        t[i] = (struct touch) { off, 1 };
                        return 0;
                }
        }
}

static int copy_file(const char *from, int to)
{
        uint8_t *buf = malloc(1 << 20);
        int fd = open(from, O_RDONLY | O_CLOEXEC), r = 0;
        uint64_t off = 0;

        if (fd < 0 || !buf) {
                r = fd < 0 ? -errno : -ENOMEM;
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, buf, 1 << 20);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : 0;
                        break;
                }
                r = write_at(to, buf, (size_t) n, off);
                if (r < 0)
                        break;
                off += (uint64_t) n;
        }
out:
        if (fd >= 0)
                close(fd);
        free(buf);
        return r;
}

int pc_apply(const char *orig, const struct pc_log *log, const struct pc_cut *cut, const char *out,
             struct pc_result *ret)
{
        static const unsigned rates[] = { 0, 100, 500, 900, 1000 };
        struct pc_result res = {};
        struct touch *t = NULL;
        size_t mask = 1, at = cut->at < log->n ? cut->at : log->n, durable = 0;
        int fd, r = 0;

        res.permille = cut->permille >= 0 ? (unsigned) cut->permille
                                          : rates[mix(cut->seed) % (sizeof rates / sizeof *rates)];
        for (size_t i = 0; i < at; i++)
                if (pc_is_barrier(log, i, cut->ignore))
                        durable = i + 1;
        res.durable = durable;
        /* The table: at least twice as many slots as pending pieces. */
        size_t slots = 0;
        for (size_t i = durable; i < at; i++)
                if (log->ops[i].kind != VC_POWER_SYNC)
                        slots += 2 * (size_t) (log->ops[i].len / PC_PIECE + 2);
        while (mask + 1 < slots)
                mask = 2 * mask + 1;
        t = malloc((mask + 1) * sizeof *t);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i <= mask; i++)
                t[i].off = EMPTY;
        unlink(out);
        fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                free(t);
                return -errno;
        }
        r = copy_file(orig, fd);
        for (size_t i = 0; r == 0 && i < durable; i++)
                r = apply_whole(fd, &log->ops[i]);
        for (size_t i = durable; r == 0 && i < at; i++) {
                const struct pc_op *op = &log->ops[i];
                if (op->kind == VC_POWER_SYNC)
                        continue;
                if (op->kind == VC_POWER_TRUNCATE) {
                        unsigned k = touched(t, mask, UINT64_MAX);
                        res.pending++;
                        if (hash3(cut->seed, UINT64_MAX, k) % 1000 < res.permille) {
                                res.kept++;
                                r = apply_whole(fd, op);
                        }
                        continue;
                }
                for (uint64_t a = op->off; r == 0 && a < op->off + op->len;) {
                        uint64_t piece = a / PC_PIECE * PC_PIECE, b = piece + PC_PIECE;
                        if (b > op->off + op->len)
                                b = op->off + op->len;
                        unsigned k = touched(t, mask, piece);
                        res.pending++;
                        if (hash3(cut->seed, piece, k) % 1000 < res.permille) {
                                res.kept++;
                                r = apply_range(fd, op, a, b);
                        }
                        a = b;
                }
        }
        free(t);
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                return r;
        if (ret)
                *ret = res;
        return 0;
}
