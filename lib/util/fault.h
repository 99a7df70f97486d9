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
 *                    KIND eio | enospc | einval (fail it, with that errno,
 *                         without doing it; einval is what a file system
 *                         answers a direct I/O it will not do) | short (reads and writes: do only half
 *                         of it, at least one byte, as a short transfer)
 *                         | stall (the executor's reads and writes: it does
 *                         not complete until the executor wakes io-wq, as
 *                         the kernel's lost io-wq worker makes it; see
 *                         lib/compact/move.c; synchronous I/O ignores it)
 *
 * e.g. "write:3:eio".  A malformed rule is ignored (and said so on stderr).
 * The rule is per process: a child (nbdkit serving the attach) that inherits
 * the environment counts its own operations.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * transfer, VC_IO_STALL (below), or a negative errno to fail it without
 * doing it.  Disarmed, it
 * costs one atomic load. */
int vc_io_fault(enum vc_io_op op, size_t *len);
/* What vc_io_fault() returns for a stall: go ahead, but only once
 * vc_io_stall_fd() is readable, which vc_io_stall_wake() makes it (until
 * the rule is next set: a later stall of the same rule passes at once,
 * one of a new rule waits for a new wake). */
#define VC_IO_STALL 1
int vc_io_stall_fd(void);       /* an eventfd, or -errno */
void vc_io_stall_wake(void);    /* nothing when no stall was asked for */
/* Replaces the rule (NULL disarms) and restarts the counts; returns
 * -EINVAL for a malformed rule, which then disarms. */
int vc_io_fault_set(const char *rule);
/* Operations of kind op seen so far since the rule was last set. */
unsigned long vc_io_fault_count(enum vc_io_op op);

/*
 * Power-cut log.  A process killed keeps every write it made, since the
 * page cache survives it; a power cut keeps only what the last
 * fsync/fdatasync of the file made durable, plus any subset of the writes
 * made since, each possibly torn at 4 KiB.  To test that, the code that
 * changes an image reports every write, truncate, hole punch and sync of
 * it here once it has succeeded, in the order they happened: pwrite_full,
 * the executor's io_uring write completions, and vc_sync(),
 * vc_ftruncate() and vc_punch_hole() below.  With VHDCOMPACT_TEST_POWER_LOG=FILE in the
 * environment (or vc_power_log_set(FILE)), each becomes one record
 * appended to FILE: a struct vc_power_rec, then, for a write, the bytes
 * written.  A test then builds, from a copy of the file before the run and
 * any prefix of the log, every state a power cut at that point may leave
 * (tests/lib/powercut.c).  Disarmed, a report costs one atomic load.  A
 * record that cannot be written aborts the process: the log would lie.
 */
enum vc_power_kind {
        VC_POWER_WRITE = 1,     /* off, len; len bytes of data follow */
        VC_POWER_SYNC,          /* label: the step it ends */
        VC_POWER_TRUNCATE,      /* off: the new size */
        VC_POWER_PUNCH,         /* off, len: a hole punched (reads zeros) */
};

#define VC_POWER_MAGIC 0x4c504356u      /* "VCPL", host order */

/* One record, in host order: the log is read on the machine that wrote it. */
struct vc_power_rec {
        uint32_t magic, kind;
        uint64_t dev, ino;      /* the file, from fstat */
        uint64_t off, len;
        char label[32];
};

/* The calls themselves, logged once they succeed; -errno on failure.
 * Code that changes an image syncs, truncates and punches holes through
 * these, so that a barrier the code does not call is not in the log.
 * label: the step a sync ends (e.g. its fault point's name). */
int vc_sync(int fd, bool full, const char *label);     /* fsync if full, else fdatasync */
int vc_ftruncate(int fd, uint64_t size);
int vc_punch_hole(int fd, uint64_t off, uint64_t len); /* FALLOC_FL_PUNCH_HOLE | KEEP_SIZE */

/* path NULL stops logging (and closes the log).  Returns 0 or -errno. */
int vc_power_log_set(const char *path);
void vc_power_log_write(int fd, const void *buf, size_t n, uint64_t off);
/* The same, for a buffer an io_uring read filled (marked defined for
 * valgrind's memcheck, which cannot see the kernel write it). */
void vc_power_log_write_ring(int fd, const void *buf, size_t n, uint64_t off);
void vc_power_log_sync(int fd, const char *label);
void vc_power_log_truncate(int fd, uint64_t size);
void vc_power_log_punch(int fd, uint64_t off, uint64_t len);

/* Bytes the calling thread has written to images so far: every write
 * reported above (vc_power_log_write and _ring), logged or not.  A
 * compaction's report takes the difference across its run (copies, log
 * entries, pages written in place, headers, footer), which counts it
 * alone as long as one thread runs it, as compact_run() does. */
uint64_t vc_bytes_written(void);
