/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deterministic crash points, for tests of crash safety.  Code that changes
 * an image calls vc_fault_point() after every write and every sync.  When
 * armed (vc_fault_arm(n), or VHDCOMPACT_FAULT_AT=n in the environment) the
 * n-th point reached ends the process at once with _exit(VC_FAULT_EXIT), as
 * a crash would: no cleanup, no further writes.  Disarmed, a point costs one
 * relaxed atomic increment.
 *
 * A process death keeps everything already written, so these tests prove
 * that every ordering of the writes leaves a valid image; the fdatasync
 * barriers between them are what carries that over to power loss.
 */
#pragma once

#define VC_FAULT_EXIT 86

/* what: a short static label, printed to stderr when the point fires. */
void vc_fault_point(const char *what);
void vc_fault_arm(unsigned long n);
/* Points reached so far in this process. */
unsigned long vc_fault_count(void);
