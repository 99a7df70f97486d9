/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the verbs of vhdctl: each cmd-*.c implements one verb.  Errors
 * are printed as one line, "vhdctl: 'FILE': <problem>", on stderr.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/problem.h"

int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_cancel(int argc, char **argv);

void print_problem(const char *file, const struct vc_problem *p);
/*
 * print_errno - the one error line for a failure that no problem
 * describes: "vhdctl: 'FILE': ID: WHAT: strerror", ID the problem id of
 * the errno r (vc_errno_problem_id, util/errno-id.h), WHAT optional.
 */
void print_errno(const char *file, int r, const char *what);
/* b bytes as "1.5 GiB" (binary units, one decimal; bytes whole). */
void human_size(uint64_t b, char out[24]);

/* Parses the common "FILE [--json]" arguments of read-only verbs. */
/* FILE [--json] [--parent PATH] (the user's mapping for the disk's parent, image/open.h). */
int parse_file_json(int argc, char **argv, const char *usage, const char **ret_file, bool *ret_json,
                    const char **ret_parent);
