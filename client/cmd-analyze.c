/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl analyze FILE [--json] [--force-dirty]`: what compaction would
 * reclaim, without changing anything.  Per partition: scheme, type, offset,
 * size, file system, and what its scanner reported (struct vc_fs_info:
 * cluster size, clusters used and free, clean or why not, label; the same
 * for every file system, none is named here); per block class:
 * counts; and the exact file size compaction would produce.  The JSON
 * schema is documented in docs/vhdctl-analyze.md and only ever grows.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze.h"
#include "compact/preview.h"
#include "json.h"
#include "vhdctl.h"

static void print_text(const struct vc_analysis *a)
{
        char s1[24], s2[24], s3[24];

        human_size(a->virtual_size, s1);
        human_size(a->file_size, s2);
        printf("%s: %s, %s virtual, file %s\n", a->path, a->type, s1, s2);
        printf("partition table: %s%s\n", vc_part_scheme_to_string(a->scheme),
               a->used_backup_gpt ? " (primary GPT damaged: backup used)" : "");
        if (a->table_note[0])
                printf("  %s\n", a->table_note);
        if (a->n_volumes)
                printf("  %-3s %14s %14s  %-22s %-9s %8s %14s %14s\n", "#", "offset", "size", "type",
                       "fs", "cluster", "clusters used", "clusters free");
        for (size_t i = 0; i < a->n_volumes; i++) {
                const struct vc_volume *v = &a->volumes[i];
                const struct vc_fs_info *info = &v->fs_info;
                char num[8];
                snprintf(num, sizeof num, "%u", v->partition);
                if (v->fs && info->cluster_size)
                        printf("  %-3s %14" PRIu64 " %14" PRIu64 "  %-22.22s %-9s %8u %14" PRIu64 " %14" PRIu64 "\n",
                               v->partition ? num : "-", v->start, v->size, v->type_name, v->fs,
                               info->cluster_size, info->total_clusters - info->free_clusters,
                               info->free_clusters);
                else
                        printf("  %-3s %14" PRIu64 " %14" PRIu64 "  %-22.22s %-9s %8s %14s %14s\n",
                               v->partition ? num : "-", v->start, v->size, v->type_name,
                               v->fs ? v->fs : "-", "-", "-", "-");
                if (info->label[0])
                        printf("      label '%s'\n", info->label);
                if (v->note[0])
                        printf("      %s\n", v->note);
                else if (info->cluster_size && !info->clean)
                        printf("      not cleanly shut down (%s): scanned anyway (force-dirty)\n",
                               info->not_clean_reason);
        }
        human_size(a->block_size, s1);
        printf("blocks: %u allocated of %u (%s each)\n", a->blocks_allocated, a->n_blocks, s1);
        human_size(a->reclaimable_bytes, s1);
        printf("  free in the file system:  %8u  (%s reclaimable)\n",
               a->blocks_by_class[VC_BLOCK_FREE], s1);
        printf("  partly free:              %8u  (kept)\n", a->blocks_by_class[VC_BLOCK_PARTIAL]);
        printf("  in use:                   %8u  (kept)\n", a->blocks_by_class[VC_BLOCK_USED]);
        if (a->compaction_unsupported) {
                printf("compaction of %s images is not supported yet: nothing can be reclaimed from this file "
                       "by vhdctl compact for now\n", a->format ? a->format : "these");
                return;
        }
        human_size(a->file_size, s1);
        human_size(a->final_size, s2);
        human_size(a->file_size > a->final_size ? a->file_size - a->final_size : 0, s3);
        printf("compaction (file-system mode) would make the file %" PRIu64 " bytes (%s, now %s: %s less)\n",
               a->final_size, s2, s1, s3);
        human_size(a->final_size_full, s2);
        human_size(a->file_size > a->final_size_full ? a->file_size - a->final_size_full : 0, s3);
        printf("compaction (full mode) would make the file %" PRIu64 " bytes (%s: %s less), dropping %u blocks "
               "(%u free in the file system, %u zero, %u partly free with the rest zero or as the parent)\n",
               a->final_size_full, s2, s3, a->full_dropped_fs + a->full_dropped_zero + a->full_dropped_fs_zero,
               a->full_dropped_fs, a->full_dropped_zero, a->full_dropped_fs_zero);
}

static void print_json(const struct vc_analysis *a)
{
        struct json j = { .f = stdout };

        json_begin_object(&j, NULL);
        json_string(&j, "file", a->path);
        json_string(&j, "type", a->type);
        json_u64(&j, "virtual-size", a->virtual_size);
        json_u64(&j, "file-size", a->file_size);
        json_u64(&j, "block-size", a->block_size);
        json_string(&j, "partition-scheme", vc_part_scheme_to_string(a->scheme));
        json_bool(&j, "backup-gpt-used", a->used_backup_gpt);
        if (a->table_note[0])
                json_string(&j, "partition-table-problem", a->table_note);
        json_begin_array(&j, "volumes");
        for (size_t i = 0; i < a->n_volumes; i++) {
                const struct vc_volume *v = &a->volumes[i];
                const struct vc_fs_info *info = &v->fs_info;
                json_begin_object(&j, NULL);
                json_u64(&j, "partition", v->partition);
                json_u64(&j, "offset", v->start);
                json_u64(&j, "size", v->size);
                json_string(&j, "type", v->type_name);
                if (v->fs)
                        json_string(&j, "filesystem", v->fs);
                else
                        json_null(&j, "filesystem");
                json_bool(&j, "scanned", v->scanned);
                /* What the file system's scanner reported, whichever it is. */
                if (v->fs && info->cluster_size) {
                        json_u64(&j, "cluster-size", info->cluster_size);
                        json_u64(&j, "clusters-total", info->total_clusters);
                        json_u64(&j, "clusters-used", info->total_clusters - info->free_clusters);
                        json_u64(&j, "clusters-free", info->free_clusters);
                        json_bool(&j, "clean", info->clean);
                        if (!info->clean)
                                json_string(&j, "not-clean-reason", info->not_clean_reason);
                        json_string(&j, "label", info->label);
                }
                json_u64(&j, "free-bytes", v->free_bytes);
                if (v->note[0])
                        json_string(&j, "note", v->note);
                json_end_object(&j);
        }
        json_end_array(&j);
        json_begin_object(&j, "blocks");
        json_u64(&j, "total", a->n_blocks);
        json_u64(&j, "allocated", a->blocks_allocated);
        for (int c = VC_BLOCK_FREE; c < _VC_BLOCK_CLASS_MAX; c++)
                json_u64(&j, vc_block_class_to_string(c), a->blocks_by_class[c]);
        json_end_object(&j);
        /* One character per block, for tools: '.' unallocated, 'F' free,
         * 'P' partly free, 'U' used. */
        _cleanup_free_ char *classes = malloc((size_t) a->n_blocks + 1);
        if (classes) {
                for (uint32_t b = 0; b < a->n_blocks; b++)
                        classes[b] = ".FPU"[a->block_class[b]];
                classes[a->n_blocks] = 0;
                json_string(&j, "block-classes", classes);
        }
        json_u64(&j, "free-bytes", a->free_bytes);
        json_u64(&j, "reclaimable-bytes", a->reclaimable_bytes);
        json_u64(&j, "final-size", a->final_size);
        json_bool(&j, "compaction-supported", !a->compaction_unsupported);
        /* Mode full (the combined rule): its size and drops by reason. */
        json_u64(&j, "final-size-full", a->final_size_full);
        json_begin_object(&j, "full-drops");
        json_u64(&j, "fs", a->full_dropped_fs);
        json_u64(&j, "zero", a->full_dropped_zero);
        json_u64(&j, "fs-zero", a->full_dropped_fs_zero);
        json_end_object(&j);
        json_u64(&j, "bytes-read", a->bytes_read);
        json_end_object(&j);
}

int cmd_analyze(int argc, char **argv)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "force-dirty", no_argument, NULL, 'f' },
                { "parent", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *usage = "vhdctl analyze FILE [--json] [--force-dirty] [--parent PATH]";
        struct vc_analyze_opts o = {};
        struct vc_problems problems = {};
        struct vc_analysis a;
        bool json = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "jfh", opts, NULL)) != -1)
                switch (c) {
                case 'j': json = true; break;
                case 'f': o.force_dirty = true; break;
                case 'p':
                        /* nbdkit could not find the parent: read in-process. */
                        o.parent_path = optarg;
                        o.in_process = true;
                        break;
                case 'h': printf("Usage: %s\n", usage); return 0;
                default: fprintf(stderr, "Usage: %s\n", usage); return 2;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", usage);
                return 2;
        }
        r = compact_preview(argv[optind], &o, &a, &problems);
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(argv[optind], &problems.first);
                else
                        print_errno(argv[optind], r, NULL);
                return 1;
        }
        if (json)
                print_json(&a);
        else
                print_text(&a);
        vc_analysis_done(&a);
        return 0;
}
