/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * timeit -- COMMAND [ARGS...]: runs a command and prints, on stderr, one
 * line "wall=SECONDS maxrss_kib=N status=S".  Wall time is CLOCK_MONOTONIC
 * (not the settable realtime clock); maxrss is the largest resident set of
 * any waited-for descendant (getrusage RUSAGE_CHILDREN).  The benchmarks use
 * it so that every measurement is taken the same way.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        struct timespec a, b;
        struct rusage ru;
        int status, first = 1;
        pid_t pid;

        if (argc > 1 && strcmp(argv[1], "--") == 0)
                first = 2;
        if (first >= argc) {
                fprintf(stderr, "usage: timeit -- COMMAND [ARGS...]\n");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid = fork();
        if (pid < 0) {
                perror("timeit: fork");
                return 2;
        }
        if (pid == 0) {
                execvp(argv[first], argv + first);
                perror("timeit: exec");
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0) {
                perror("timeit: waitpid");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        getrusage(RUSAGE_CHILDREN, &ru);
        fprintf(stderr, "wall=%.6f maxrss_kib=%ld status=%d\n",
                (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9,
                ru.ru_maxrss, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
