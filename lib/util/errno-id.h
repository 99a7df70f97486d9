/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The problem id a bare errno stands for, when a failure came without a
 * problem (an open, a bus call): one table for vhdctl's error lines and
 * the daemon's D-Bus error names, so that the two never disagree.
 */
#pragma once

/* err: an errno, either sign.  Never NULL: "failed" when nothing fits. */
const char *vc_errno_problem_id(int err);
