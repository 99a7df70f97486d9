/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Formatting the result.  Problem messages may quote untrusted bytes (a
 * parent locator's path, say): control characters become '?', so that the
 * daemon's one line stays one line in logs and D-Bus errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "worker-protocol.h"
#include "worker-result.h"

int worker_result_ok(struct channel *c, enum compact_mode mode, const struct compact_report *rep)
{
        char punched[48] = "";

        if (rep->no_block_moves)
                snprintf(punched, sizeof punched, " bytes-punched=%" PRIu64, rep->bytes_punched);
        return channel_send(c,
                            "result ok mode=%s size-before=%" PRIu64 " size-after=%" PRIu64
                            " blocks-allocated=%" PRIu32 " blocks-dropped-fs=%" PRIu32
                            " blocks-dropped-zero=%" PRIu32 " blocks-dropped-fs-zero=%" PRIu32
                            " blocks-moved=%" PRIu32
                            " bytes-moved=%" PRIu64 " bytes-read=%" PRIu64 " bytes-written=%" PRIu64
                            " seconds=%.3f allocated-before=%" PRIu64 " allocated-after=%" PRIu64 "%s",
                            compact_mode_to_string(mode), rep->size_before, rep->size_after,
                            rep->blocks_allocated, rep->dropped_fs, rep->dropped_zero, rep->dropped_fs_zero,
                            rep->moved,
                            rep->bytes_moved, rep->bytes_read, rep->bytes_written, rep->seconds,
                            rep->allocated_before, rep->allocated_after, punched);
}

static void one_line(char *s)
{
        for (unsigned char *p = (unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        *p = '?';
}

int worker_result_fail(struct channel *c, int r, const struct vc_problems *problems, bool dry_run)
{
        /* Fits a message with "result fail ERRNO ID " in front. */
        char msg[WORKER_MSG_MAX - 128];
        const char *id = "-";

        if (r >= 0)
                r = -EIO;       /* a failure without a reason is still one */
        if (r == -ECANCELED)
                snprintf(msg, sizeof msg, "%s",
                         dry_run ? "cancelled: nothing was written"
                                 : "cancelled: the image is valid; run again to finish");
        else if (vc_problems_any(problems)) {
                id = vc_problem_id_to_string(problems->first.id);
                vc_problem_format(&problems->first, msg, sizeof msg);
        } else
                snprintf(msg, sizeof msg, "%s", strerror(-r));
        one_line(msg);
        return channel_send(c, "result fail %d %s %s", -r, id, msg);
}
