/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan.  The caller's open image is read here only for its BAT;
 * the guest's partition table and file systems are read through the
 * read-only NBD attach, so a differencing disk is seen merged, exactly as a
 * VM sees it.  The attach is closed before we return: no caller may move
 * blocks while a reader with a cached BAT is alive.  A caller that cannot
 * attach (the daemon's worker: nbdkit could not open the path) reads the
 * same merged view in-process through the open image instead.  Nothing
 * here calls the planner: scan -> plan -> execute runs one way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze.h"
#include "attach.h"
#include "fs/freemap.h"
#include "fs/fs.h"
#include "image/image.h"
#include "util/log.h"

const char *vc_block_class_to_string(enum vc_block_class c)
{
        static const char *const names[_VC_BLOCK_CLASS_MAX] = {
                [VC_BLOCK_UNALLOCATED] = "unallocated",
                [VC_BLOCK_FREE] = "free",
                [VC_BLOCK_PARTIAL] = "partial",
                [VC_BLOCK_USED] = "used",
        };
        return (unsigned) c < _VC_BLOCK_CLASS_MAX ? names[c] : "unknown";
}

void vc_analysis_done(struct vc_analysis *a)
{
        if (!a)
                return;
        free(a->path);
        free(a->block_class);
        free(a->volumes);
        freemap_done(&a->free_map);
        *a = (struct vc_analysis) {};
}

/* The first problem a step reported, or its errno when it named none. */
static void describe_failure(const struct vc_problems *ps, int r, char *buf, size_t size)
{
        if (vc_problems_any(ps))
                vc_problem_format(&ps->first, buf, size);
        else
                snprintf(buf, size, "%s", strerror(-r));
}

/* The registry's best guess for the volume, hints included, or NULL. */
static const struct vc_fs_type *probe_volume(struct vc_source *src, const struct vc_volume *v)
{
        uint8_t buf[VC_FS_PROBE_SIZE];
        struct span head;

        if (v->start >= src->size)
                return NULL;
        head = SPAN(buf, (size_t) MIN((uint64_t) sizeof buf, src->size - v->start));
        if (vc_source_pread(src, buf, head.len, v->start) < 0)
                return NULL;
        return vc_fs_probe(&head, v->size, VC_FS_PROBE_HINT, NULL);
}

static void scan_volume(struct vc_source *src, struct vc_volume *v, bool force_dirty, bool offline,
                        struct vc_freemap *free_map)
{
        const struct vc_fs_scan_opts opts = { .force_dirty = force_dirty, .offline = offline };
        const struct vc_fs_type *type = probe_volume(src, v);
        struct vc_problems ps = {};
        int r;

        v->fs = type ? type->name : NULL;
        if (!type || !type->scan) {
                snprintf(v->note, sizeof v->note, "%s: not scanned, counted as in use",
                         type ? type->name : "no recognised file system");
                return;
        }
        uint64_t before = freemap_total(free_map);
        r = vc_fs_scan(type, src, v->start, v->size, &opts, free_map, &v->fs_info, NULL, &ps);
        if (r < 0) {
                char what[240];
                describe_failure(&ps, r, what, sizeof what);
                snprintf(v->note, sizeof v->note, "not scanned, counted as in use: %s", what);
                return;
        }
        if (!v->fs_info.clean && !force_dirty) {
                snprintf(v->note, sizeof v->note,
                         "not cleanly shut down (%s): counted as in use (force-dirty overrides)",
                         v->fs_info.not_clean_reason);
                return;
        }
        v->scanned = true;
        v->free_bytes = freemap_total(free_map) - before;
}

/* The volumes to look at: every partition, or the whole disk without a table. */
static int list_volumes(struct vc_source *src, uint32_t sector_size, struct vc_analysis *a)
{
        struct vc_partition_table t = {};
        struct vc_problems ps = {};
        int r;

        r = vc_partition_table_read(src, sector_size, &t, &ps);
        if (r < 0) {
                char what[240];
                describe_failure(&ps, r, what, sizeof what);
                snprintf(a->table_note, sizeof a->table_note,
                         "partition table not usable, whole disk counted as in use: %s", what);
                return 0;
        }
        a->scheme = t.scheme;
        a->used_backup_gpt = t.used_backup_gpt;
        if (t.scheme == VC_PART_NONE) {
                a->volumes = calloc(1, sizeof *a->volumes);
                if (!a->volumes) {
                        vc_partition_table_done(&t);
                        return -ENOMEM;
                }
                a->n_volumes = 1;
                a->volumes[0] = (struct vc_volume) { .partition = 0, .start = 0, .size = src->size };
                snprintf(a->volumes[0].type_name, sizeof a->volumes[0].type_name, "whole disk");
        } else if (t.n > 0) {
                a->volumes = calloc(t.n, sizeof *a->volumes);
                if (!a->volumes) {
                        vc_partition_table_done(&t);
                        return -ENOMEM;
                }
                a->n_volumes = t.n;
                for (size_t i = 0; i < t.n; i++) {
                        a->volumes[i] = (struct vc_volume) { .partition = t.v[i].number,
                                                             .start = t.v[i].start,
                                                             .size = t.v[i].size };
                        snprintf(a->volumes[i].type_name, sizeof a->volumes[i].type_name, "%s",
                                 t.v[i].type_name);
                }
        }
        vc_partition_table_done(&t);
        return 0;
}

/* The read-only attach of img's path, checked against img. */
static int attach(struct vc_image *img, struct vc_attach **ret, struct vc_source *ret_src,
                  struct vc_problems *problems)
{
        _cleanup_(vc_attach_closep) struct vc_attach *att = NULL;
        struct vc_source src;
        int r;

        /* The image's own open holds the lock; the server must not take another. */
        r = vc_attach_open(vc_image_path(img), true, &att, &src);
        if (r == -ELIBACC || r == -ELIBBAD)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                      "cannot attach the disk read-only: libnbd (%s) cannot be loaded: %s; "
                                      "install it (Debian: libnbd0)", VC_LIBNBD_SONAME, strerror(-r));
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                      "cannot attach the disk read-only through nbdkit-vhd-plugin ('%s'): %s",
                                      vc_attach_plugin_path(), strerror(-r));
        /* Test hook: hold the attach open so a test can signal us mid-run
         * and check that no nbdkit outlives us. */
        const char *pause_s = getenv("VHDCOMPACT_TEST_ATTACH_PAUSE");
        if (pause_s)
                sleep((unsigned) atoi(pause_s));
        if (src.size != vc_image_virtual_size(img))
                return vc_problem_add(problems, VC_PROBLEM_IO, -EIO, NULL, 0,
                                      "the attached disk has %llu bytes, the image says %llu",
                                      (unsigned long long) src.size,
                                      (unsigned long long) vc_image_virtual_size(img));
        *ret_src = src;
        *ret = TAKE_PTR(att);
        return 0;
}

int vc_analyze_image(struct vc_image *img, const struct vc_analyze_opts *opts,
                     struct vc_analysis *ret, struct vc_problems *problems)
{
        const struct vc_analyze_opts defaults = {};
        _cleanup_(vc_attach_closep) struct vc_attach *att = NULL;
        const char *path = vc_image_path(img);
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        struct vc_analysis a = {};
        struct vc_freemap free_map = {};
        struct vc_source src;
        bool offline = false;
        int r;

        if (!opts)
                opts = &defaults;
        /* The scan only reads, so it takes any format; a format without
         * compaction (VHDX, for now) is analysed and said so. */
        if (ops) {
                struct vc_problems quiet = {};

                r = ops->refuse(img, false, problems);
                if (r < 0)
                        return r;
                /* The disk provably is not running (swap may be dropped)
                 * only when we hold it for writing, which is an exclusive
                 * lock, and it is no saved state: what a compaction holds.
                 * A read-only analysis counts swap as in use; a compaction's dry run
                 * judges it as the real run will. */
                offline = (!vc_image_is_readonly(img) || opts->dry_run) && ops->refuse(img, true, &quiet) >= 0;
                vc_problems_done(&quiet);
        } else
                a.compaction_unsupported = true;

        if (opts->in_process)
                vc_source_image(&src, img);
        else {
                r = attach(img, &att, &src, problems);
                if (r < 0)
                        return r;
        }

        a.path = strdup(path);
        a.type = vc_image_kind(img);
        a.format = vc_image_format(img)->name;
        a.virtual_size = vc_image_virtual_size(img);
        a.file_size = vc_image_file_size(img);
        a.block_size = vc_image_block_size(img);
        a.n_blocks = vc_image_n_blocks(img);
        a.block_class = calloc(a.n_blocks ? a.n_blocks : 1, 1);
        if (!a.path || !a.block_class) {
                r = -ENOMEM;
                goto fail;
        }

        r = list_volumes(&src, vc_image_logical_sector_size(img), &a);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < a.n_volumes; i++)
                scan_volume(&src, &a.volumes[i], opts->force_dirty, offline, &free_map);
        /* A damaged structure makes its volume count as in use; a disk
         * that cannot be read stops here: nothing about it can be trusted,
         * and a compaction would go on to write to it. */
        if (src.medium_error) {
                r = vc_problem_add(problems, VC_PROBLEM_IO, src.medium_error, NULL, 0,
                                   "scanning the file systems: reading the disk failed (%s); nothing was written",
                                   strerror(-src.medium_error));
                goto fail;
        }
        freemap_normalize(&free_map);
        a.free_bytes = freemap_total(&free_map);

        for (uint32_t b = 0; b < a.n_blocks; b++) {
                uint64_t start = (uint64_t) b * a.block_size;
                uint64_t len = start < a.virtual_size ? MIN((uint64_t) a.block_size, a.virtual_size - start) : 0;
                enum vc_block_class c;

                if (!vc_image_block_allocated(img, b))
                        c = VC_BLOCK_UNALLOCATED;
                else {
                        uint64_t covered = len ? freemap_covered(&free_map, start, len) : 0;
                        /* A block wholly past the virtual end holds nothing. */
                        c = covered == len ? VC_BLOCK_FREE : covered ? VC_BLOCK_PARTIAL : VC_BLOCK_USED;
                        a.blocks_allocated++;
                }
                a.block_class[b] = c;
                a.blocks_by_class[c]++;
        }
        a.reclaimable_bytes = (uint64_t) a.blocks_by_class[VC_BLOCK_FREE] * vc_image_block_file_bytes(img);
        a.bytes_read = src.bytes_read;
        a.free_map = free_map;
        *ret = a;
        return 0;
fail:
        freemap_done(&free_map);
        vc_analysis_done(&a);
        return r;
}
