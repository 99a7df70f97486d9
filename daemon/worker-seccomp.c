/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's seccomp filter, a classic BPF program written here (no
 * libseccomp): load the architecture, refuse any other than the one we
 * were built for (and on x86-64 the x32 numbers), then compare the
 * system-call number with each allowed one; anything else is
 * SECCOMP_RET_KILL_PROCESS.
 *
 * Why kill rather than fail with EPERM: the worker's needs are few and
 * known (below), so a call outside them means the worker was taken over
 * by a hostile image, or a new code path nobody reviewed.  Either way it
 * should stop at once rather than carry on with an error it might
 * misread; a killed worker leaves a valid image (docs/design.md, pipeline step 6) and its
 * job fails with "killed by signal 31 (SIGSYS)", which says what
 * happened.  Tests run every path of the worker in both build trees, so a
 * missing entry shows up there, not in the field.
 *
 * What a worker needs, after main() starts (the dynamic loader's calls
 * come before the filter): reading, writing and syncing the disk and its
 * parents through the descriptors it is handed (pread/pwrite, fdatasync,
 * ftruncate, fallocate, fadvise), the moves' io_uring (io_uring_enter
 * only: the ring is made before the filter, see below), listing the
 * disk's folder (getdents64 on fd 5) for the search for children, the
 * control socket (sendto/sendmsg/recvmsg, poll), memory (mmap, brk,
 * madvise...), time and sleeping (the progress rate, test pauses),
 * signals and exit.  openat and faccessat stay (the test hook
 * VHDCOMPACT_TEST_MOVE_PAUSE creates a file; the sanitizers read /proc):
 * a worker's uid is its own and in no group, so it opens only what any
 * user may.  Not allowed, among everything else: socket, connect, ptrace,
 * process_vm_*, pidfd_*, kill of others, execve, fork/clone, ioctl,
 * prctl, mount, bpf, io_uring_setup and io_uring_register.
 *
 * io_uring runs its operations in the kernel, past seccomp: with a ring
 * of its own a hostile worker could queue any io_uring operation (open,
 * connect...).  So the worker sets up its one ring before the filter,
 * restricted (IORING_REGISTER_RESTRICTIONS, lib/compact/move-ring.c) to
 * the read, write and no-op the moves submit, with IOSQE_ASYNC as the only
 * flag; any other operation on it completes with -EACCES, and the filter
 * refuses io_uring_setup (no second ring) and io_uring_register (no
 * change to it).  Behind that, the worker's credentials bound what is
 * left: a uid of its own in no group, no capabilities, no_new_privs, and
 * the unit's PrivateNetwork=.  That identity is what keeps one worker
 * from another's process and disk: ptrace, pidfd_getfd and process_vm_*
 * have no io_uring operation, and the kernel refuses them across uids and
 * to a non-dumpable target.
 *
 * Sanitizer builds need more at exit and on a report: LeakSanitizer
 * stops the world with a ptrace-ing clone (and makes the process dumpable
 * for that), and reports are symbolized by a forked llvm-symbolizer.
 * Those calls are allowed in those builds only (VC_SANITIZER_BUILD),
 * which are never installed.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker-seccomp.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#  define VC_SANITIZER_BUILD 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#    define VC_SANITIZER_BUILD 1
#  endif
#endif
#ifndef VC_SANITIZER_BUILD
#  define VC_SANITIZER_BUILD 0
#endif

#if defined(__x86_64__) && defined(__ILP32__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_X86_64    /* x32: refused below */
#elif defined(__x86_64__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__) && defined(__AARCH64EB__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_AARCH64BE
#elif defined(__aarch64__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__) && defined(__ARMEB__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_ARMEB
#elif defined(__arm__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__riscv) && __riscv_xlen == 64
#  define VC_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#  define VC_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__powerpc64__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_PPC64
#elif defined(__s390x__)
#  define VC_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

/* Every call here is allowed; a number this libc's headers do not define
 * is left out (that architecture does not have the call). */
static const int allowed[] = {
        /* the disk, its parents, the folder */
        __NR_read, __NR_write, __NR_pread64, __NR_pwrite64, __NR_readv, __NR_writev,
#ifdef __NR_preadv
        __NR_preadv, __NR_pwritev,
#endif
#ifdef __NR_preadv2
        __NR_preadv2, __NR_pwritev2,
#endif
#ifdef __NR_lseek
        __NR_lseek,
#endif
#ifdef __NR__llseek
        __NR__llseek,
#endif
        __NR_close, __NR_fcntl,
#ifdef __NR_fcntl64
        __NR_fcntl64,
#endif
#ifdef __NR_fstat
        __NR_fstat,
#endif
#ifdef __NR_fstat64
        __NR_fstat64,
#endif
#ifdef __NR_newfstatat
        __NR_newfstatat,
#endif
#ifdef __NR_fstatat64
        __NR_fstatat64,
#endif
#ifdef __NR_statx
        __NR_statx,
#endif
        __NR_fdatasync, __NR_fsync, __NR_ftruncate,
#ifdef __NR_ftruncate64
        __NR_ftruncate64,
#endif
        __NR_fallocate,
        /* free space on the host file system, for moves in rounds */
        __NR_fstatfs,
#ifdef __NR_fstatfs64
        __NR_fstatfs64,
#endif
#ifdef __NR_fadvise64
        __NR_fadvise64,
#endif
#ifdef __NR_fadvise64_64
        __NR_fadvise64_64,
#endif
#ifdef __NR_arm_fadvise64_64
        __NR_arm_fadvise64_64,
#endif
        __NR_getdents64, __NR_openat,
#ifdef __NR_open
        __NR_open,
#endif
        __NR_faccessat,
#ifdef __NR_faccessat2
        __NR_faccessat2,
#endif
#ifdef __NR_access
        __NR_access,
#endif
        /* the moves, on the ring set up (restricted) before the filter */
        __NR_io_uring_enter,
        /* the control socket */
        __NR_sendto, __NR_sendmsg, __NR_recvfrom, __NR_recvmsg,
#ifdef __NR_poll
        __NR_poll,
#endif
        __NR_ppoll,
        /* memory */
        __NR_brk, __NR_mmap, __NR_munmap, __NR_mremap, __NR_mprotect, __NR_madvise,
#ifdef __NR_mmap2
        __NR_mmap2,
#endif
        /* time, sleeping, the C library */
        __NR_clock_gettime, __NR_clock_nanosleep, __NR_nanosleep, __NR_gettimeofday,
#ifdef __NR_clock_gettime64
        __NR_clock_gettime64, __NR_clock_nanosleep_time64,
#endif
        __NR_sysinfo, __NR_getrandom, __NR_futex,
#ifdef __NR_futex_time64
        __NR_futex_time64,
#endif
        __NR_getpid, __NR_gettid, __NR_getuid, __NR_geteuid, __NR_getgid, __NR_getegid,
        __NR_sched_yield,
        /* signals and the end: abort() signals itself (a worker's uid is
         * its own, so tgkill reaches no one else) */
        __NR_rt_sigaction, __NR_rt_sigprocmask, __NR_rt_sigreturn, __NR_sigaltstack,
        __NR_tgkill, __NR_restart_syscall, __NR_exit, __NR_exit_group,
#if VC_SANITIZER_BUILD
        /* LeakSanitizer's stop-the-world and the symbolizer (see above) */
        __NR_clone, __NR_ptrace, __NR_wait4, __NR_prctl, __NR_getppid, __NR_kill, __NR_tkill,
        __NR_readlinkat, __NR_execve, __NR_pipe2, __NR_dup3, __NR_prlimit64, __NR_uname,
        __NR_sched_getaffinity, __NR_getrlimit, __NR_setrlimit, __NR_getpgid,
#  ifdef __NR_readlink
        __NR_readlink,
#  endif
#  ifdef __NR_getdents
        __NR_getdents,
#  endif
#  ifdef __NR_dup2
        __NR_dup2,
#  endif
#  ifdef __NR_pipe
        __NR_pipe,
#  endif
#  ifdef __NR_fork
        __NR_fork, __NR_vfork,
#  endif
#  ifdef __NR_clone3
        __NR_clone3,
#  endif
#  ifdef __NR_waitid
        __NR_waitid,
#  endif
        __NR_ioctl, __NR_dup, __NR_socketpair,
#endif
};

int worker_seccomp_install(void)
{
#ifndef VC_AUDIT_ARCH
        return -EOPNOTSUPP;
#else
        /* Two instructions per allowed call, plus the head and the end. */
        struct sock_filter prog[8 + 2 * sizeof allowed / sizeof *allowed];
        size_t n = 0;

        prog[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
        prog[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VC_AUDIT_ARCH, 1, 0);
        prog[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
        prog[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
        /* The x32 numbers share the architecture: none is allowed. */
        prog[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
        prog[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
                prog[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned) allowed[i], 0, 1);
                prog[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        }
        prog[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);

        struct sock_fprog fprog = { .len = (unsigned short) n, .filter = prog };
        /* No core dumps, no ptrace or /proc/PID/mem by the same uid, and
         * /proc/PID/ belongs to root from now on.  no_new_privs is the
         * daemon's already; set here too so that a filter can always be
         * installed without CAP_SYS_ADMIN. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) < 0)
                return -errno;
        return 0;
#endif
}

/* IORING_OP_OPENAT of "/" on ring: its result (-EACCES when restricted). */
static int ring_openat(struct io_uring *ring)
{
        struct io_uring_sqe *sqe = ring ? io_uring_get_sqe(ring) : NULL;
        struct io_uring_cqe *cqe;
        int r;

        if (!sqe)
                return -EBADF;
        io_uring_prep_openat(sqe, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        r = io_uring_submit_and_wait(ring, 1);
        if (r < 0)
                return r;
        r = io_uring_peek_cqe(ring, &cqe);
        if (r < 0)
                return r;
        r = cqe->res;
        io_uring_cqe_seen(ring, cqe);
        return r;
}

int worker_seccomp_test_hook(struct io_uring *ring, const char **ret_what)
{
        const char *what = getenv("VHDCOMPACT_TEST_WORKER_FORBIDDEN");
        int fd;

        if (!what || !*what)
                return 0;
        if (!strcmp(what, "ring-openat")) {
                *ret_what = "IORING_OP_OPENAT on the worker's ring";
                fd = ring_openat(ring);
                if (fd == -EACCES)
                        return 2;
        } else if (!strcmp(what, "io_uring_setup")) {
                struct io_uring_params p = {};
                *ret_what = "io_uring_setup";
                fd = (int) syscall(__NR_io_uring_setup, 4, &p);
        } else if (!strcmp(what, "io_uring_register")) {
                *ret_what = "io_uring_register";
                fd = (int) syscall(__NR_io_uring_register, ring ? ring->ring_fd : -1, IORING_REGISTER_PROBE, NULL, 0);
                if (fd == 0)
                        fd = dup(2);    /* it succeeded: something to close */
        } else if (!strcmp(what, "socket")) {
                *ret_what = "socket(AF_INET)";
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        } else if (!strcmp(what, "pidfd")) {
                *ret_what = "pidfd_open of pid 1";
                fd = (int) syscall(__NR_pidfd_open, 1, 0);
                if (fd >= 0) {
                        int got = (int) syscall(__NR_pidfd_getfd, fd, 0, 0);
                        if (got >= 0)
                                close(got);
                }
        } else {
                *ret_what = "an unknown VHDCOMPACT_TEST_WORKER_FORBIDDEN";
                return -EINVAL;
        }
        if (fd < 0)
                return -errno;
        close(fd);
        return 1;
}
