/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash points, injected I/O faults and the power-cut log; see fault.h.  Counters are atomic
 * because the plugin's threads share them; tests arm them before any I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

#if defined __has_include
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#define HAVE_VALGRIND 1
#endif
#endif

/* Under valgrind, a crash point's _exit() leaves every allocation live,
 * as a crash does, and memcheck's leak check then makes the process exit
 * with its --error-exitcode instead of VC_FAULT_EXIT.  A leak there means
 * nothing; a memory error before it does: so a point that finds memcheck
 * has reported errors aborts instead, which no test takes for a crash
 * point.  See vc_fault_exited(). */
static bool under_valgrind(void)
{
#ifdef HAVE_VALGRIND
        return RUNNING_ON_VALGRIND;
#else
        return false;
#endif
}

static unsigned valgrind_errors(void)
{
#ifdef HAVE_VALGRIND
        return VALGRIND_COUNT_ERRORS;
#else
        return 0;
#endif
}

bool vc_fault_exited(int status, int valgrind_exitcode)
{
        if (!WIFEXITED(status))
                return false;
        return WEXITSTATUS(status) == VC_FAULT_EXIT ||
               (under_valgrind() && WEXITSTATUS(status) == valgrind_exitcode);
}

static unsigned long counter, armed_at;
static int env_read;

void vc_fault_arm(unsigned long n)
{
        __atomic_store_n(&armed_at, n, __ATOMIC_SEQ_CST);
        __atomic_store_n(&env_read, 1, __ATOMIC_SEQ_CST);
}

unsigned long vc_fault_count(void)
{
        return __atomic_load_n(&counter, __ATOMIC_SEQ_CST);
}

void vc_fault_point(const char *what)
{
        unsigned long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);

        if (!__atomic_load_n(&env_read, __ATOMIC_ACQUIRE)) {
                const char *e = getenv("VHDCOMPACT_FAULT_AT");
                if (e)
                        __atomic_store_n(&armed_at, strtoul(e, NULL, 10), __ATOMIC_SEQ_CST);
                __atomic_store_n(&env_read, 1, __ATOMIC_RELEASE);
        }
        if (n == __atomic_load_n(&armed_at, __ATOMIC_SEQ_CST)) {
                fprintf(stderr, "vhdcompact: fault point %lu (%s): exiting\n", n, what);
                if (under_valgrind() && valgrind_errors() > 0) {
                        fprintf(stderr, "vhdcompact: memcheck found errors before this point: aborting\n");
                        abort();
                }
                _exit(VC_FAULT_EXIT);
        }
}

enum io_kind { KIND_NONE, KIND_ERROR, KIND_SHORT, KIND_STALL };

/* The rule; io_state: 0 environment not read yet, 1 disarmed, 2 armed. */
static int io_state;
static enum vc_io_op io_op;
static unsigned long io_nth;    /* 0: every one */
static enum io_kind io_kind;
static int io_errno;
static unsigned long io_counts[_VC_IO_OP_MAX];

static int parse_rule(const char *rule)
{
        static const char *const ops[_VC_IO_OP_MAX] = { "read", "write", "sync", "truncate" };
        const char *c1 = strchr(rule, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        char *end;
        int op = -1;

        if (!c2)
                return -EINVAL;
        for (int i = 0; i < _VC_IO_OP_MAX; i++)
                if ((size_t) (c1 - rule) == strlen(ops[i]) && !strncmp(rule, ops[i], (size_t) (c1 - rule)))
                        op = i;
        if (op < 0)
                return -EINVAL;
        if (c1[1] == '*' && c1 + 2 == c2)
                io_nth = 0;
        else {
                errno = 0;
                io_nth = strtoul(c1 + 1, &end, 10);
                if (errno || end != c2 || io_nth == 0)
                        return -EINVAL;
        }
        if (!strcmp(c2 + 1, "eio"))
                io_kind = KIND_ERROR, io_errno = EIO;
        else if (!strcmp(c2 + 1, "enospc"))
                io_kind = KIND_ERROR, io_errno = ENOSPC;
        else if (!strcmp(c2 + 1, "einval"))
                io_kind = KIND_ERROR, io_errno = EINVAL;
        else if (!strcmp(c2 + 1, "short") && (op == VC_IO_READ || op == VC_IO_WRITE))
                io_kind = KIND_SHORT;
        else if (!strcmp(c2 + 1, "stall") && (op == VC_IO_READ || op == VC_IO_WRITE))
                io_kind = KIND_STALL;
        else
                return -EINVAL;
        io_op = (enum vc_io_op) op;
        return 0;
}

/* The stand-in for io-wq's lost worker: an eventfd that turns readable at
 * the first kick and stays so until the rule is set again. */
static int stall_fd = -1;

int vc_io_fault_set(const char *rule)
{
        int r = 0;

        memset(io_counts, 0, sizeof io_counts);
        /* A new rule's stall waits for a kick of its own. */
        if (stall_fd >= 0) {
                eventfd_t v;
                (void) eventfd_read(stall_fd, &v);      /* non-blocking: 0 is fine */
        }
        io_kind = KIND_NONE;
        if (rule && *rule)
                r = parse_rule(rule);
        __atomic_store_n(&io_state, r == 0 && io_kind != KIND_NONE ? 2 : 1, __ATOMIC_RELEASE);
        return r;
}

int vc_io_fault(enum vc_io_op op, size_t *len)
{
        int state = __atomic_load_n(&io_state, __ATOMIC_ACQUIRE);

        if (state == 0) {
                const char *e = getenv("VHDCOMPACT_IO_FAULT");
                if (vc_io_fault_set(e) < 0)
                        fprintf(stderr, "vhdcompact: VHDCOMPACT_IO_FAULT='%s' is not OP:N:KIND, ignoring\n", e);
                state = __atomic_load_n(&io_state, __ATOMIC_ACQUIRE);
        }
        if (state != 2 || (unsigned) op >= _VC_IO_OP_MAX)
                return 0;
        unsigned long n = __atomic_add_fetch(&io_counts[op], 1, __ATOMIC_SEQ_CST);
        if (op != io_op || (io_nth && n != io_nth))
                return 0;
        if (io_kind == KIND_ERROR)
                return -io_errno;
        if (io_kind == KIND_STALL)
                return VC_IO_STALL;
        if (len && *len > 1)
                *len /= 2;
        return 0;
}

int vc_io_stall_fd(void)
{
        if (stall_fd < 0) {
                stall_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (stall_fd < 0)
                        return -errno;
        }
        return stall_fd;
}

void vc_io_stall_wake(void)
{
        if (stall_fd >= 0)
                (void) eventfd_write(stall_fd, 1);
}

unsigned long vc_io_fault_count(enum vc_io_op op)
{
        return (unsigned) op < _VC_IO_OP_MAX ? __atomic_load_n(&io_counts[op], __ATOMIC_SEQ_CST) : 0;
}

/* The power-cut log; plog_state: 0 environment not read yet, 1 off, 2 on. */
static int plog_state;
static int plog_fd = -1;
static pthread_mutex_t plog_lock = PTHREAD_MUTEX_INITIALIZER;

static int plog_open(const char *path)
{
        if (plog_fd >= 0)
                close(plog_fd);
        plog_fd = -1;
        if (path && *path) {
                plog_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (plog_fd < 0) {
                        int r = -errno;
                        __atomic_store_n(&plog_state, 1, __ATOMIC_RELEASE);
                        return r;
                }
        }
        __atomic_store_n(&plog_state, plog_fd >= 0 ? 2 : 1, __ATOMIC_RELEASE);
        return 0;
}

int vc_power_log_set(const char *path)
{
        pthread_mutex_lock(&plog_lock);
        int r = plog_open(path);
        pthread_mutex_unlock(&plog_lock);
        return r;
}

static bool plog_on(void)
{
        int state = __atomic_load_n(&plog_state, __ATOMIC_ACQUIRE);

        if (state == 0) {
                pthread_mutex_lock(&plog_lock);
                if (__atomic_load_n(&plog_state, __ATOMIC_ACQUIRE) == 0 &&
                    plog_open(getenv("VHDCOMPACT_TEST_POWER_LOG")) < 0) {
                        fprintf(stderr, "vhdcompact: cannot open VHDCOMPACT_TEST_POWER_LOG: %m\n");
                        abort();
                }
                pthread_mutex_unlock(&plog_lock);
                state = __atomic_load_n(&plog_state, __ATOMIC_ACQUIRE);
        }
        return state == 2;
}

static void plog_add(int fd, enum vc_power_kind kind, uint64_t off, uint64_t len, const void *data,
                     const char *label)
{
        struct vc_power_rec rec = { .magic = VC_POWER_MAGIC, .kind = kind, .off = off, .len = len };
        struct stat st;

        if (fstat(fd, &st) < 0) {
                fprintf(stderr, "vhdcompact: power log: fstat: %m\n");
                abort();
        }
        rec.dev = st.st_dev;
        rec.ino = st.st_ino;
        if (label)
                snprintf(rec.label, sizeof rec.label, "%s", label);
        /* One write per record (O_APPEND): records of threads, or of a
         * child sharing the log, never interleave. */
        size_t total = sizeof rec + (data ? len : 0);
        uint8_t *p = malloc(total);
        if (!p) {
                fprintf(stderr, "vhdcompact: power log: out of memory\n");
                abort();
        }
        memcpy(p, &rec, sizeof rec);
        if (data)
                memcpy(p + sizeof rec, data, len);
        pthread_mutex_lock(&plog_lock);
        ssize_t w = plog_fd >= 0 ? write(plog_fd, p, total) : (ssize_t) total;
        pthread_mutex_unlock(&plog_lock);
        free(p);
        if (w != (ssize_t) total) {
                fprintf(stderr, "vhdcompact: power log: short or failed write: %m\n");
                abort();
        }
}

static _Thread_local uint64_t thread_written;

uint64_t vc_bytes_written(void)
{
        return thread_written;
}

void vc_power_log_write(int fd, const void *buf, size_t n, uint64_t off)
{
        thread_written += n;
        if (n > 0 && plog_on())
                plog_add(fd, VC_POWER_WRITE, off, n, buf, NULL);
}

void vc_power_log_write_ring(int fd, const void *buf, size_t n, uint64_t off)
{
        thread_written += n;
        if (n == 0 || !plog_on())
                return;
#ifdef HAVE_VALGRIND
        /* The kernel filled buf through the ring, which memcheck cannot
         * see (tests/valgrind.supp): to it the bytes are undefined. */
        VALGRIND_MAKE_MEM_DEFINED(buf, n);
#endif
        plog_add(fd, VC_POWER_WRITE, off, n, buf, NULL);
}

void vc_power_log_sync(int fd, const char *label)
{
        if (plog_on())
                plog_add(fd, VC_POWER_SYNC, 0, 0, NULL, label);
}

void vc_power_log_truncate(int fd, uint64_t size)
{
        if (plog_on())
                plog_add(fd, VC_POWER_TRUNCATE, size, 0, NULL, NULL);
}

void vc_power_log_punch(int fd, uint64_t off, uint64_t len)
{
        if (len > 0 && plog_on())
                plog_add(fd, VC_POWER_PUNCH, off, len, NULL, NULL);
}

int vc_sync(int fd, bool full, const char *label)
{
        if ((full ? fsync(fd) : fdatasync(fd)) < 0)
                return -errno;
        vc_power_log_sync(fd, label);
        return 0;
}

int vc_ftruncate(int fd, uint64_t size)
{
        if (size > INT64_MAX)
                return -EFBIG;
        if (ftruncate(fd, (off_t) size) < 0)
                return -errno;
        vc_power_log_truncate(fd, size);
        return 0;
}

int vc_punch_hole(int fd, uint64_t off, uint64_t len)
{
        if (off > INT64_MAX || len > INT64_MAX - off)
                return -EFBIG;
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off, (off_t) len) < 0)
                return -errno;
        vc_power_log_punch(fd, off, len);
        return 0;
}
