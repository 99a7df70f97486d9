/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds-spoof: call vhd-compactd on a bus connection whose process, as
 * /proc shows it, runs a set-user-ID or set-group-ID program, for
 * tests/integration/test-daemon-creds.sh.
 *
 *     creds-spoof SOCKET PROGRAM METHOD TARGET
 *
 * The bus driver records the process that connect()ed a connection
 * (SO_PEERCRED: its pid, uid and gid at that moment).  A child connects a
 * socket to SOCKET (the bus's unix socket path) and then execs PROGRAM
 * (a set-ID copy of sleep(1); it is given the argument "1000"), so that
 * from then on /proc/PID/status of the pid the bus reports shows
 * PROGRAM's effective ids: root's, or a group's the caller is not in.  We,
 * the parent, hold the same socket: once the exec is done we authenticate
 * and say Hello on it and make the call, METHOD being one of
 *     AnalyzeFd  TARGET a file, passed open read-only;
 *     Analyze    TARGET a path;
 *     Cancel     TARGET a job's object path.
 * A daemon that reads the sender's ids from /proc (sd-bus's "augmented"
 * credentials) takes PROGRAM's; one that asks only the bus takes ours.
 *
 * Prints "ok" or "error NAME: MESSAGE" and exits 0 or 1; 2 on a usage or
 * connection error; 77 when the exec did not change the effective ids (the
 * file system is mounted nosuid, or PROGRAM is not set-ID).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

/* The effective uid and gid in /proc/PID/status. */
static int proc_ids(pid_t pid, unsigned *ret_euid, unsigned *ret_egid)
{
        char name[64], line[256];
        unsigned r_, e = 0, eg = 0;
        int found = 0;
        FILE *f;

        snprintf(name, sizeof name, "/proc/%d/status", (int) pid);
        f = fopen(name, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f)) {
                if (sscanf(line, "Uid: %u %u", &r_, &e) == 2)
                        found |= 1;
                else if (sscanf(line, "Gid: %u %u", &r_, &eg) == 2)
                        found |= 2;
        }
        fclose(f);
        if (found != 3)
                return -EBADMSG;
        *ret_euid = e;
        *ret_egid = eg;
        return 0;
}

int main(int argc, char **argv)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus = NULL;
        int s, sync_pipe[2], fd = -1, r;
        unsigned euid = 0, egid = 0;
        char c;
        pid_t pid;

        if (argc != 5 || strlen(argv[1]) >= sizeof sa.sun_path) {
                fprintf(stderr, "usage: creds-spoof SOCKET PROGRAM AnalyzeFd|Analyze|Cancel TARGET\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || pipe2(sync_pipe, O_CLOEXEC) < 0)
                return perror("creds-spoof: socket"), 2;
        pid = fork();
        if (pid < 0)
                return perror("creds-spoof: fork"), 2;
        if (pid == 0) {
                /* The pipe closes on a successful exec: that is the signal. */
                close(sync_pipe[0]);
                if (connect(s, (struct sockaddr *) &sa, sizeof sa) < 0) {
                        (void) !write(sync_pipe[1], "c", 1);
                        _exit(1);
                }
                execl(argv[2], argv[2], "1000", (char *) NULL);
                (void) !write(sync_pipe[1], "x", 1);
                _exit(1);
        }
        close(sync_pipe[1]);
        if (read(sync_pipe[0], &c, 1) != 0) {
                fprintf(stderr, "creds-spoof: the child could not connect to %s or exec %s\n", argv[1], argv[2]);
                waitpid(pid, NULL, 0);
                return 2;
        }
        close(sync_pipe[0]);
        r = proc_ids(pid, &euid, &egid);
        if (r < 0 || (euid == geteuid() && egid == getegid())) {
                fprintf(stderr, "creds-spoof: %s did not change the effective ids (nosuid?)\n", argv[2]);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 77;
        }
        fprintf(stderr, "creds-spoof: pid %d shows euid %u egid %u in /proc; we are %u/%u\n", (int) pid, euid,
                egid, (unsigned) geteuid(), (unsigned) getegid());

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_fd(bus, s, s);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                fprintf(stderr, "creds-spoof: cannot start the bus connection: %s\n", strerror(-r));
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return 2;
        }
        if (!strcmp(argv[3], "AnalyzeFd")) {
                fd = open(argv[4], O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = -errno;
                else
                        r = sd_bus_call_method(bus, "org.vhd.Compact", "/org/vhd/Compact",
                                               "org.vhd.Compact.Manager", "AnalyzeFd", &e, &reply, "ha{sv}", fd, 0);
        } else if (!strcmp(argv[3], "Analyze"))
                r = sd_bus_call_method(bus, "org.vhd.Compact", "/org/vhd/Compact", "org.vhd.Compact.Manager",
                                       "Analyze", &e, &reply, "sa{sv}", argv[4], 0);
        else if (!strcmp(argv[3], "Cancel"))
                r = sd_bus_call_method(bus, "org.vhd.Compact", argv[4], "org.vhd.Compact.Job", "Cancel", &e,
                                       &reply, "");
        else
                r = -EINVAL;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (r >= 0)
                printf("ok\n");
        else if (sd_bus_error_is_set(&e))
                printf("error %s: %s\n", e.name, e.message);
        else
                printf("error %s\n", strerror(-r));
        if (fd >= 0)
                close(fd);
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        return r >= 0 ? 0 : 1;
}
