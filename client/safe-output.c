/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The output filter (safe-output.h): stdout and stderr become fopencookie
 * streams over the original descriptors.  A stream hands us its buffer in
 * arbitrary pieces, so a character cut at the end of one piece is held
 * until the next; one still held at exit is shown escaped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "safe-output.h"
#include "util/text.h"

struct filter {
        int fd;
        char held[4];
        size_t n_held;
};

static struct filter filters[2] = { { .fd = STDOUT_FILENO }, { .fd = STDERR_FILENO } };
static FILE *terminal;

static int write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w, n -= (size_t) w;
        }
        return 0;
}

/* Filters n bytes of p (held bytes first), writing what is complete;
 * with at_end, a cut character is written escaped instead of held. */
static int filter_bytes(struct filter *f, const char *p, size_t n, bool at_end)
{
        char out[4096 + 64];
        size_t o = 0;

        while (n > 0 || (at_end && f->n_held > 0)) {
                /* The next character: held bytes, topped up from p. */
                char c4[4];
                size_t have = f->n_held, take = n < 4 - have ? n : 4 - have;
                memcpy(c4, f->held, have);
                memcpy(c4 + have, p, take);
                uint32_t c;
                int l = utf8_decode(c4, have + take, &c);
                if (l == 0 && !at_end) {
                        /* Cut short: hold it (it is all of p). */
                        memcpy(f->held + have, p, take);
                        f->n_held = have + take;
                        n = 0;
                        break;
                }
                if (l > 0 && (!text_is_control(c) || c == '\n' || c == '\t')) {
                        memcpy(out + o, c4, (size_t) l);
                        o += (size_t) l;
                } else {
                        l = 1;  /* one bad byte; the next may start a good character */
                        static const char hex[] = "0123456789abcdef";
                        unsigned char b = (unsigned char) c4[0];
                        out[o++] = '\\', out[o++] = 'x', out[o++] = hex[b >> 4], out[o++] = hex[b & 15];
                }
                /* Consume l bytes: held ones first. */
                size_t from_held = (size_t) l < have ? (size_t) l : have;
                memmove(f->held, f->held + from_held, have - from_held);
                f->n_held = have - from_held;
                p += (size_t) l - from_held, n -= (size_t) l - from_held;
                if (o >= 4096) {
                        if (write_all(f->fd, out, o) < 0)
                                return -1;
                        o = 0;
                }
        }
        return write_all(f->fd, out, o);
}

static ssize_t filter_write(void *cookie, const char *buf, size_t size)
{
        if (filter_bytes(cookie, buf, size, false) < 0)
                return -1;
        return (ssize_t) size;
}

static void finish(void)
{
        fflush(stdout);
        fflush(stderr);
        for (size_t i = 0; i < 2; i++)
                (void) filter_bytes(&filters[i], "", 0, true);
}

static FILE *filtered(struct filter *f, int mode)
{
        FILE *s = fopencookie(f, "w", (cookie_io_functions_t) { .write = filter_write });
        if (s)
                setvbuf(s, NULL, mode, 0);
        return s;
}

void safe_output_install(void)
{
        FILE *out = filtered(&filters[0], isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF);
        FILE *err = filtered(&filters[1], _IONBF);
        int tfd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);

        if (!out || !err || tfd < 0 || !(terminal = fdopen(tfd, "w"))) {
                /* Unfiltered is still output; never fail to report. */
                if (out)
                        fclose(out);
                if (err)
                        fclose(err);
                if (tfd >= 0 && !terminal)
                        close(tfd);
                terminal = NULL;
                return;
        }
        setvbuf(terminal, NULL, _IONBF, 0);
        fflush(stdout);
        fflush(stderr);
        stdout = out;
        stderr = err;
        atexit(finish);
}

FILE *safe_output_terminal(void)
{
        return terminal ? terminal : stderr;
}
