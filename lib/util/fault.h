/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deterministic faults, for tests.
 *
 * Crash points.  Code that changes an image calls vc_fault_point() after
 * every write and every sync.  When armed (vc_fault_arm(n), or
 * VHDCOMPACT_FAULT_AT=n in the environment) the n-th point reached ends the
 * process at once with _exit(VC_FAULT_EXIT), as a crash would: no cleanup,
 * no further writes.  Disarmed, a point costs one relaxed atomic increment.
 * A process death keeps everything already written, so these tests prove
 * that every ordering of the writes leaves a valid image; the fdatasync
 * barriers between them are what carries that over to power loss.
 *
 * I/O faults.  Every read, write, sync and truncate of an image file asks
 * vc_io_fault() first (pread_full/pwrite_full, the executor's io_uring
 * submissions, its fdatasync/fsync/ftruncate).  One rule, from
 * vc_io_fault_set() or VHDCOMPACT_IO_FAULT in the environment, of the form
 *
 *     OP:N:KIND      OP   read | write | sync | truncate
 *                    N    the N-th such operation of this process (from 1),
 *                         or '*' for every one
 *                    KIND eio | enospc (fail it, with that errno, without
 *                         doing it) | short (reads and writes: do only half
 *                         of it, at least one byte, as a short transfer)
 *
 * e.g. "write:3:eio".  A malformed rule is ignored (and said so on stderr).
 * The rule is per process: a child (nbdkit serving the attach) that inherits
 * the environment counts its own operations.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define VC_FAULT_EXIT 86

/* what: a short static label, printed to stderr when the point fires. */
void vc_fault_point(const char *what);
void vc_fault_arm(unsigned long n);
/* Points reached so far in this process. */
unsigned long vc_fault_count(void);
/* Whether a child's wait status is that of a crash point: exit status
 * VC_FAULT_EXIT; or, when this process runs under valgrind, also
 * valgrind_exitcode (its --error-exitcode), which memcheck's leak check
 * gives a process that exits with allocations live, as a crash does.  A
 * point reached after memcheck reported a memory error aborts instead. */
bool vc_fault_exited(int status, int valgrind_exitcode);

enum vc_io_op {
        VC_IO_READ,
        VC_IO_WRITE,
        VC_IO_SYNC,
        VC_IO_TRUNCATE,
        _VC_IO_OP_MAX,
};

/* Before an operation of kind op on len bytes (len NULL for sync and
 * truncate): returns 0 to go ahead, with *len possibly reduced to a short
 * transfer, or a negative errno to fail it without doing it.  Disarmed, it
 * costs one atomic load. */
int vc_io_fault(enum vc_io_op op, size_t *len);
/* Replaces the rule (NULL disarms) and restarts the counts; returns
 * -EINVAL for a malformed rule, which then disarms. */
int vc_io_fault_set(const char *rule);
/* Operations of kind op seen so far since the rule was last set. */
unsigned long vc_io_fault_count(enum vc_io_op op);
