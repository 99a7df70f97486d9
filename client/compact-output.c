/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The end of `vhdctl compact`: one summary line, or one JSON object with
 * the same keys whichever engine ran.  A number the engine did not report
 * is left out of the line and is null in JSON, never made up.
 */
#include <inttypes.h>
#include <stdio.h>

#include "compact-client.h"
#include "json.h"

void compact_summary_init(struct compact_summary *s, const char *file, const char *mode, bool dry_run)
{
        *s = (struct compact_summary) {
                .file = file, .mode = mode, .dry_run = dry_run,
                .size_before = COMPACT_UNKNOWN, .size_after = COMPACT_UNKNOWN,
                .blocks_allocated = COMPACT_UNKNOWN, .dropped_fs = COMPACT_UNKNOWN,
                .dropped_zero = COMPACT_UNKNOWN, .dropped_fs_zero = COMPACT_UNKNOWN, .moved = COMPACT_UNKNOWN,
                .bytes_moved = COMPACT_UNKNOWN, .bytes_read = COMPACT_UNKNOWN,
                .bytes_written = COMPACT_UNKNOWN, .seconds = -1,
                .allocated_before = COMPACT_UNKNOWN, .allocated_after = COMPACT_UNKNOWN,
                .bytes_punched = COMPACT_UNKNOWN,
        };
}

static void json_num(struct json *j, const char *key, uint64_t v)
{
        if (v == COMPACT_UNKNOWN)
                json_null(j, key);
        else
                json_u64(j, key, v);
}

static void print_json(const struct compact_summary *s)
{
        struct json j = { .f = stdout };

        json_begin_object(&j, NULL);
        json_string(&j, "file", s->file);
        json_string(&j, "mode", s->mode);
        json_bool(&j, "dry-run", s->dry_run);
        json_num(&j, "size-before", s->size_before);
        json_num(&j, "size-after", s->size_after);
        json_num(&j, "blocks-allocated", s->blocks_allocated);
        json_num(&j, "blocks-dropped-fs", s->dropped_fs);
        json_num(&j, "blocks-dropped-zero", s->dropped_zero);
        json_num(&j, "blocks-dropped-fs-zero", s->dropped_fs_zero);
        json_num(&j, "blocks-moved", s->moved);
        json_num(&j, "bytes-moved", s->bytes_moved);
        json_num(&j, "bytes-read", s->bytes_read);
        json_num(&j, "bytes-written", s->bytes_written);
        json_bool(&j, "no-block-moves", s->no_block_moves);
        json_num(&j, "allocated-before", s->allocated_before);
        json_num(&j, "allocated-after", s->allocated_after);
        json_num(&j, "bytes-punched", s->bytes_punched);
        json_end_object(&j);
}

void compact_summary_print(const struct compact_summary *s, bool json)
{
        if (json) {
                print_json(s);
                return;
        }
        printf("%s: %s", s->file, s->dry_run ? "would go " : "");
        if (s->size_before != COMPACT_UNKNOWN && s->size_after != COMPACT_UNKNOWN)
                printf("%" PRIu64 " -> %" PRIu64 " bytes", s->size_before, s->size_after);
        else
                printf("size unknown");
        if (s->dropped_fs != COMPACT_UNKNOWN && s->dropped_zero != COMPACT_UNKNOWN) {
                /* The combined rule's part only when it dropped something
                 * (an engine that does not report it: none). */
                uint64_t fz = s->dropped_fs_zero == COMPACT_UNKNOWN ? 0 : s->dropped_fs_zero;
                printf("; dropped %" PRIu64 " blocks (%" PRIu64 " free in the file system, %" PRIu64 " zero",
                       s->dropped_fs + s->dropped_zero + fz, s->dropped_fs, s->dropped_zero);
                if (fz)
                        printf(", %" PRIu64 " partly free with the rest zero or as the parent", fz);
                putchar(')');
        }
        if (s->moved != COMPACT_UNKNOWN && s->bytes_moved != COMPACT_UNKNOWN)
                printf("; moved %" PRIu64 " blocks (%" PRIu64 " bytes)", s->moved, s->bytes_moved);
        if (!s->dry_run && s->bytes_written != COMPACT_UNKNOWN)
                printf("; wrote %" PRIu64 " bytes", s->bytes_written);
        if (s->no_block_moves && s->bytes_punched != COMPACT_UNKNOWN)
                printf("; %s %" PRIu64 " bytes", s->dry_run ? "would punch" : "punched", s->bytes_punched);
        /* The allocation is what --no-block-moves changes at once; the
         * line of a run that moves stays as it was (JSON has both). */
        if (s->no_block_moves && s->allocated_before != COMPACT_UNKNOWN && s->allocated_after != COMPACT_UNKNOWN)
                printf("; allocated %" PRIu64 " -> %" PRIu64 " bytes", s->allocated_before, s->allocated_after);
        else if (s->no_block_moves && s->allocated_before != COMPACT_UNKNOWN)
                printf("; allocated %" PRIu64 " bytes", s->allocated_before);
        if (s->seconds >= 0)
                printf("; %.2f s", s->seconds);
        putchar('\n');
}
