/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl analyze`: what a compaction in fs mode, and one in full mode,
 * would do, changing nothing.  The pipeline in order and stopped before
 * the moves: open the image, scan it (analyze.h: volumes, free map, block
 * classes), run a compaction's zero scan by the combined rule
 * (compact_scan_full), then ask the planner for the exact final sizes.
 * The scan never calls the planner.
 */
#pragma once

#include "analyze.h"
#include "util/problem.h"

/* vc_analyze_image() on the image at @path (opened read-only, locked
 * unless opts->nolock), with ret->final_size the planner's size after
 * dropping the blocks the scan found free, ret->final_size_full and the
 * full_dropped_* counts those of mode full.  Untrusted input throughout.
 * On failure (the image itself is invalid or cannot be attached) problems
 * says why and *ret is untouched. */
int compact_preview(const char *path, const struct vc_analyze_opts *opts, struct vc_analysis *ret,
                    struct vc_problems *problems);
