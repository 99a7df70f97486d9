/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * analyzecmp: analyses one image both ways the library can read a guest's
 * disk, through the read-only nbdkit attach (what vhdctl does) and
 * in-process through the open image (what the daemon's worker does), and
 * compares every field of the two analyses.
 *
 *     analyzecmp [--force-dirty] IMAGE
 *
 * Prints the analysis as "key value" lines, then "same" (exit 0), or the
 * lines that differ (exit 1).  Exit 2 when an analysis fails or on bad
 * usage.  The attach needs $VHDCOMPACT_PLUGIN, as vhdctl does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "compact/preview.h"
#include "util/macro.h"

/* Every field, one "key value" line each, into a malloc'ed string. */
static char *dump(const struct vc_analysis *a)
{
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        fprintf(f, "path %s\ndisk-type %s\nvirtual-size %" PRIu64 "\nfile-size %" PRIu64 "\n",
                a->path, a->type, a->virtual_size, a->file_size);
        fprintf(f, "block-size %" PRIu32 "\nblocks %" PRIu32 "\nallocated %" PRIu32 "\n",
                a->block_size, a->n_blocks, a->blocks_allocated);
        for (int c = 0; c < _VC_BLOCK_CLASS_MAX; c++)
                fprintf(f, "class-%s %" PRIu32 "\n", vc_block_class_to_string(c), a->blocks_by_class[c]);
        fprintf(f, "block-classes ");
        for (uint32_t b = 0; b < a->n_blocks; b++)
                fputc(".FPU"[a->block_class[b] & 3], f);
        fprintf(f, "\nscheme %s\nbackup-gpt %d\ntable-note %s\nvolumes %zu\n",
                vc_part_scheme_to_string(a->scheme), a->used_backup_gpt, a->table_note, a->n_volumes);
        for (size_t i = 0; i < a->n_volumes; i++) {
                const struct vc_volume *v = &a->volumes[i];
                const struct vc_fs_info *n = &v->fs_info;
                fprintf(f, "volume %zu partition %u start %" PRIu64 " size %" PRIu64 " type %s fs %s scanned %d free %" PRIu64 "\n",
                        i, v->partition, v->start, v->size, v->type_name, v->fs ? v->fs : "-", v->scanned,
                        v->free_bytes);
                fprintf(f, "volume %zu note %s\n", i, v->note);
                fprintf(f, "volume %zu fs-info cluster %" PRIu32 " clusters %" PRIu64 " free %" PRIu64
                        " clean %d reason %s label %s\n",
                        i, n->cluster_size, n->total_clusters, n->free_clusters, n->clean,
                        n->not_clean_reason, n->label);
        }
        fprintf(f, "free-bytes %" PRIu64 "\nreclaimable-bytes %" PRIu64 "\nfinal-size %" PRIu64 "\nbytes-read %" PRIu64 "\n",
                a->free_bytes, a->reclaimable_bytes, a->final_size, a->bytes_read);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s;
}

static int analyze(const char *path, bool force_dirty, bool in_process, char **ret)
{
        struct vc_analyze_opts o = { .force_dirty = force_dirty, .in_process = in_process };
        struct vc_problems problems = {};
        struct vc_analysis a;
        int r;

        r = compact_preview(path, &o, &a, &problems);
        if (r < 0) {
                char buf[512];
                if (vc_problems_any(&problems))
                        vc_problem_format(&problems.first, buf, sizeof buf);
                else
                        snprintf(buf, sizeof buf, "%s", strerror(-r));
                fprintf(stderr, "analyzecmp: '%s' (%s): %s\n", path, in_process ? "in-process" : "attach", buf);
                return r;
        }
        *ret = dump(&a);
        vc_analysis_done(&a);
        return *ret ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
        _cleanup_free_ char *attached = NULL, *in_process = NULL;
        bool force_dirty = argc == 3 && !strcmp(argv[1], "--force-dirty");
        const char *path = argv[argc - 1];

        if (argc != 2 && !force_dirty) {
                fprintf(stderr, "usage: analyzecmp [--force-dirty] IMAGE\n");
                return 2;
        }
        if (analyze(path, force_dirty, false, &attached) < 0 || analyze(path, force_dirty, true, &in_process) < 0)
                return 2;
        fputs(attached, stdout);
        if (!strcmp(attached, in_process)) {
                printf("same\n");
                return 0;
        }
        /* Line by line: both dumps have the same keys in the same order. */
        char *sa, *sb, *la = strtok_r(attached, "\n", &sa), *lb = strtok_r(in_process, "\n", &sb);
        for (; la || lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb))
                if (!la || !lb || strcmp(la, lb))
                        printf("differs: attach '%s', in-process '%s'\n", la ? la : "", lb ? lb : "");
        return 1;
}
