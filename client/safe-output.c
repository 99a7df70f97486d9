/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The output filter (safe-output.h): stdout and stderr become fopencookie
 * streams over the original descriptors, escaping with text_stream_feed().
 * A character still cut short at exit is shown escaped.
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
        struct text_stream stream;
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

#define PIECE 4096

/* A stream may hand over any size at once (fwrite of a large buffer goes
 * straight through): escaped a piece at a time. */
static int filter_bytes(struct filter *f, const char *p, size_t n, bool at_end)
{
        char out[TEXT_STREAM_OUT_SIZE(PIECE)];

        do {
                size_t k = n < PIECE ? n : PIECE;
                size_t o = text_stream_feed(&f->stream, p, k, at_end && k == n, out);
                if (write_all(f->fd, out, o) < 0)
                        return -1;
                p += k, n -= k;
        } while (n > 0);
        return 0;
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
