/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One identity per worker, as systemd's DynamicUser= gives a service.
 *
 * Workers parse untrusted disks, so one may be taken over by a hostile
 * image.  Were all workers the same user (nobody, as before), such a
 * worker could ptrace or pidfd_getfd the worker of another job, root's
 * included, and hold that disk read-write; and any other service running
 * as nobody could do the same.  So each running worker gets a uid and a
 * gid (the same number) that nothing else on the system has: taken from a
 * reserved range (--worker-uids), with no passwd or group entry, not used
 * by any process at the moment it is taken, and not given to a second
 * worker until the first has exited.  The worker also makes itself
 * non-dumpable and installs a system-call filter (worker-seccomp.c).
 *
 * The check against running processes reads /proc/PID/status (Uid: and
 * Gid: lines, all four ids), once per worker started: a process that outlived a daemon killed
 * with SIGKILL, or anything else that chose the same number, keeps its
 * id out of use.  Files are no concern: a worker creates none (it is
 * handed its descriptors), and an id without an entry owns nothing.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker-ids.h"

int worker_ids_parse(const char *s, struct worker_ids *ret)
{
        unsigned long long first, last;
        char *end;

        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        first = strtoull(s, &end, 10);
        if (errno || *end != '-' || !isdigit((unsigned char) end[1]))
                return -EINVAL;
        last = strtoull(end + 1, &end, 10);
        if (errno || *end || first == 0 || last < first || last >= INT32_MAX ||
            last - first + 1 > WORKER_IDS_MAX_COUNT)
                return -EINVAL;
        /* 65534 is nobody's and 65535 the 16-bit (uid_t) -1. */
        if (first <= 65535 && last >= 65534)
                return -EINVAL;
        *ret = (struct worker_ids) { .first = (uid_t) first, .count = (unsigned) (last - first + 1) };
        return 0;
}

static bool has_entry(uid_t id)
{
        return getpwuid(id) || getgrgid((gid_t) id);
}

int worker_ids_check(const struct worker_ids *ids, char *why, size_t size)
{
        for (unsigned i = 0; i < ids->count; i++) {
                uid_t id = ids->first + i;
                struct passwd *pw = getpwuid(id);
                struct group *gr = pw ? NULL : getgrgid((gid_t) id);
                if (pw || gr) {
                        snprintf(why, size, "%u is %s '%s'", (unsigned) id, pw ? "user" : "group",
                                 pw ? pw->pw_name : gr->gr_name);
                        return -EEXIST;
                }
        }
        return 0;
}

/* Marks in @busy every id of the range that some process runs with, as
 * any of its uids or gids: one pass over /proc, whatever the range.
 * Returns false when /proc cannot be listed (then nothing may be taken). */
static bool ids_running(const struct worker_ids *ids, unsigned char *busy)
{
        DIR *proc = opendir("/proc");
        struct dirent *de;

        if (!proc)
                return false;
        while ((de = readdir(proc))) {
                char path[300], line[256];
                FILE *f;
                if (!isdigit((unsigned char) de->d_name[0]))
                        continue;
                snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;       /* gone meanwhile */
                while (fgets(line, sizeof line, f)) {
                        unsigned long v[4];
                        if ((strncmp(line, "Uid:", 4) && strncmp(line, "Gid:", 4)) ||
                            sscanf(line + 4, "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
                                continue;
                        for (int k = 0; k < 4; k++)
                                if (v[k] >= ids->first && v[k] - ids->first < ids->count) {
                                        unsigned n = (unsigned) (v[k] - ids->first);
                                        busy[n / 8] |= (unsigned char) (1u << (n % 8));
                                }
                }
                fclose(f);
        }
        closedir(proc);
        return true;
}

int worker_ids_take(struct worker_ids *ids, uid_t *ret)
{
        unsigned char busy[WORKER_IDS_MAX_COUNT / 8] = {};

        if (!ids_running(ids, busy))
                return -EAGAIN;         /* cannot tell: take none */
        for (unsigned i = 0; i < ids->count; i++) {
                uid_t id = ids->first + i;
                if ((ids->used[i / 8] | busy[i / 8]) & (1u << (i % 8)))
                        continue;
                if (has_entry(id))
                        continue;
                ids->used[i / 8] |= (unsigned char) (1u << (i % 8));
                *ret = id;
                return 0;
        }
        return -EAGAIN;
}

void worker_ids_give_back(struct worker_ids *ids, uid_t id)
{
        if (id < ids->first || id - ids->first >= ids->count)
                return;
        unsigned i = id - ids->first;
        ids->used[i / 8] &= (unsigned char) ~(1u << (i % 8));
}
