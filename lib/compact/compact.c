/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The compaction driver.  Everything that can refuse does so before the
 * first write: the image is opened read-write under an exclusive OFD lock
 * (another process holding it, qemu included, means "in use"), and fixed
 * disks, saved states and parents with children are refused with one
 * message.  Drop decisions:
 *   - file-system free (modes full, fs): every byte of the block is free in
 *     the merged view, so it may always go, in a differencing disk too;
 *   - zero (modes full, zero): the block reads as zeros, and in a
 *     differencing disk the parent range reads as zeros too, since after
 *     the drop the block shows the parent; or, for a format that asks it
 *     (drop_same_as_below: VHDX), the block reads exactly as the parent
 *     range does;
 *   - the combined rule (mode full only): every byte of the block that the
 *     file systems use reads as what the drop uncovers (zeros; in a
 *     differencing disk the parent's bytes, zeros past the parent's end).
 *     Only those in-use bytes are read, the first piece at most ZERO_PROBE
 *     bytes (and, for a block that passes, its free bytes).  A block whose
 *     free bytes would read differently after is a file-system drop
 *     (COMPACT_DROP_FS_ZERO), any other a zero drop (no read changes; in a
 *     differencing VHD too, which keeps such blocks in mode zero).
 * A sandboxed caller (the daemon's worker) hands in the image and its
 * folder as descriptors, reads the file systems in-process, and opens
 * everything else through the opener of its open context (image/open.h);
 * the decisions are the same.
 *
 * The plan is only as good as the file it was made from.  The OFD lock
 * keeps out every writer that takes locks (qemu, us), but not one that
 * ignores them; so right before the first write the format checks that
 * the file is still the one planned (for VHD: its size, footer and BAT,
 * lib/vhd/commit.c), and any difference refuses the run with
 * file-changed, nothing written.
 *
 * Nothing here knows a format: the image is a struct vc_image, and what
 * differs between formats (refusals, children, layout, commits) is its
 * vc_compact_ops.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "compact.h"
#include "move.h"
#include "plan.h"
#include "util/fault.h"
#include "util/fd-util.h"
#include "image/image.h"
#include "image/names.h"
#include "util/macro.h"
#include "util/zero.h"

const char *compact_mode_to_string(enum compact_mode m)
{
        static const char *const names[_COMPACT_MODE_MAX] = {
                [COMPACT_MODE_FULL] = "full", [COMPACT_MODE_FS] = "fs", [COMPACT_MODE_ZERO] = "zero",
        };
        return (unsigned) m < _COMPACT_MODE_MAX ? names[m] : NULL;
}

enum compact_mode compact_mode_from_string(const char *s)
{
        for (int m = 0; m < _COMPACT_MODE_MAX; m++)
                if (s && !strcmp(s, compact_mode_to_string(m)))
                        return m;
        return _COMPACT_MODE_INVALID;
}

const char *compact_phase_to_string(enum compact_phase p)
{
        static const char *const names[_COMPACT_PHASE_MAX] = {
                [COMPACT_PHASE_SCANNING] = "scanning",
                [COMPACT_PHASE_MOVING] = "moving",
                [COMPACT_PHASE_TRUNCATING] = "truncating",
        };
        return (unsigned) p < _COMPACT_PHASE_MAX ? names[p] : NULL;
}

/* The child-safety rule.  A file-system drop makes a block read as the
 * parent (or zeros) where it read free space before; a differencing child
 * of this disk would then read different data.  So before any such drop
 * the folder the disk really is in (not the one of the name given: a
 * symlink may live elsewhere) is searched for files with an image suffix
 * (image/names.h: .vhd, .avhd) that the format says are its children, and the search fails closed: a disk
 * with several names (hard links, whose folders cannot all be found), a
 * folder that cannot be listed, or a candidate that cannot be opened and
 * read refuses the drops, as a child found does, and so does one that our
 * parser refuses while a footer of it (or its copy, checksum or not) says
 * "differencing": a damaged child is still a child.  Only candidates that
 * are certainly not children are passed over: gone since the listing, not
 * a regular file or block device (opened without blocking on a FIFO), or
 * readable with no footer that says differencing.  Zero drops
 * need none of this: a zero block reads the same as the parent range it
 * uncovers. */

/* dir (of at most size bytes) is the folder part of path. */
static void dir_of(const char *path, char *dir, size_t size)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                snprintf(dir, size, ".");
        else if (slash == path)
                snprintf(dir, size, "/");
        else
                snprintf(dir, size, "%.*s", (int) (slash - path), path);
}

/* The folder to search: the open context's dir_fd when it has one (the
 * daemon checked that it holds the disk, and dir names it, from path),
 * else the folder of the name the kernel has for the open image, checked
 * to hold the disk.  Returns the listing, or NULL with a problem. */
static DIR *open_dir(struct vc_image *img, const struct stat *img_st, const struct vc_open_ctx *ctx, char *dir,
                     size_t size, struct vc_problems *problems, int *ret_err)
{
        char real[4096];
        struct stat st;
        DIR *d;
        int fd, r;

        if (ctx && ctx->dir_fd != VC_BY_NAME) {
                dir_of(vc_image_path(img), dir, size);
                if (ctx->dir_fd < 0) {
                        *ret_err = vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EACCES, NULL, 0,
                                                  "cannot list the folder '%s' to search it for differencing "
                                                  "children of this disk (it cannot be listed with the caller's "
                                                  "rights, or does not hold the disk); only --mode zero is "
                                                  "allowed (or force-children)", dir);
                        return NULL;
                }
                fd = fcntl(ctx->dir_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0 || !(d = fdopendir(fd))) {
                        r = -errno;
                        if (fd >= 0)
                                close(fd);
                        *ret_err = vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                                                  "cannot list the folder '%s' to search it for differencing "
                                                  "children of this disk: %s; only --mode zero is allowed "
                                                  "(or force-children)", dir, strerror(-r));
                        return NULL;
                }
                /* A duplicate shares the caller's position in the listing. */
                rewinddir(d);
                return d;
        }
        r = fd_real_path(vc_image_fd(img), real, sizeof real);
        if (r < 0) {
                *ret_err = vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                                          "cannot tell which folder the disk is in, to search it for "
                                          "differencing children (%s); only --mode zero is allowed "
                                          "(or force-children)", strerror(-r));
                return NULL;
        }
        dir_of(real, dir, size);
        d = opendir(dir);
        if (!d) {
                r = -errno;
                *ret_err = vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, r, NULL, 0,
                                          "cannot list the folder '%s' to search it for differencing children "
                                          "of this disk: %s; only --mode zero is allowed (or force-children)",
                                          dir, strerror(-r));
                return NULL;
        }
        /* Renamed away between the two looks: search nothing stale. */
        if (fstatat(dirfd(d), strrchr(real, '/') + 1, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            st.st_dev != img_st->st_dev || st.st_ino != img_st->st_ino) {
                closedir(d);
                *ret_err = vc_problem_add(problems, VC_PROBLEM_CHANGED, -ESTALE, NULL, 0,
                                          "the disk moved out of '%s' while its folder was searched for "
                                          "differencing children; nothing was written", dir);
                return NULL;
        }
        return d;
}

/* Applies the child-safety rule (above).  Returns 0 when no child can
 * exist, or a negative errno with a not-supported problem. */
static int check_no_child(struct vc_image *img, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        char dir[4096];
        struct stat st;
        int r = 0;

        if (fstat(vc_image_fd(img), &st) < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, -errno, NULL, 0, "fstat failed: %m");
        if (S_ISREG(st.st_mode) && st.st_nlink > 1)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EBUSY, NULL, 0,
                                      "the disk has %ju names (hard links): a differencing child may sit "
                                      "beside any of them, and their folders cannot be found; only --mode "
                                      "zero is allowed (or force-children)", (uintmax_t) st.st_nlink);
        DIR *d = open_dir(img, &st, ctx, dir, sizeof dir, problems, &r);
        if (!d)
                return r;
        errno = 0;
        for (struct dirent *e; (e = readdir(d)); errno = 0) {
                char p[4096 + 256];
                if (!vc_image_name_has_suffix(e->d_name))
                        continue;
                snprintf(p, sizeof p, "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
                r = vc_image_format(img)->compact->child_of(img, p, ctx, problems);
                if (r > 0)
                        r = vc_problem_add(problems, VC_PROBLEM_HAS_CHILDREN, -EBUSY, NULL, 0,
                                           "'%s' is a differencing child of this disk, which must keep reading "
                                           "the same; only --mode zero is allowed (or force it)", p);
                if (r < 0)
                        break;
        }
        if (r == 0 && errno)
                r = vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -errno, NULL, 0,
                                   "listing the folder '%s' for differencing children failed: %m; only --mode "
                                   "zero is allowed (or force-children)", dir);
        closedir(d);
        return r;
}

static int cmp_by_offset(const void *a, const void *b, void *userdata)
{
        const uint32_t *at = userdata;
        uint32_t x = at[*(const uint32_t *) a], y = at[*(const uint32_t *) b];
        return x < y ? -1 : x > y;
}

/* How the zero scan reads: the image itself, or what lies below it. */
typedef int (*read_fn)(struct vc_image *img, void *buf, size_t count, uint64_t offset);

/* Bytes of a block read first: real data is rarely zero for long, so a
 * block whose first 4 KiB hold a non-zero byte is known to be kept without
 * reading the rest.  The scan then reads a few MiB, not every kept block. */
#define ZERO_PROBE 4096u
/* Probes announced to the kernel ahead of the one being read, so that the
 * small reads are in flight together rather than one at a time. */
#define ZERO_READAHEAD 32u

/* Reads len bytes at start (virtual) and says whether they are all zero:
 * the first ZERO_PROBE bytes, then the rest only if those were. */
static int read_is_zero(struct vc_image *img, read_fn rd, uint8_t *buf, uint64_t start, uint64_t len,
                        struct compact_report *rep)
{
        uint64_t head = MIN(len, (uint64_t) ZERO_PROBE);
        int r;

        if (len == 0)
                return 1;
        r = rd(img, buf, head, start);
        if (r < 0)
                return r;
        rep->bytes_read += head;
        if (!mem_is_zero(buf, head))
                return 0;
        if (len > head) {
                r = rd(img, buf + head, len - head, start + head);
                if (r < 0)
                        return r;
                rep->bytes_read += len - head;
        }
        return mem_is_zero(buf + head, len - head);
}

/* Reads len bytes at start (virtual) of the image and below it and says
 * whether they are the same: the first ZERO_PROBE bytes, then the rest
 * only if those were, in pieces of half of buf (bs bytes). */
static int read_is_same(struct vc_image *img, read_fn below, uint8_t *buf, uint32_t bs, uint64_t start,
                        uint64_t len, struct compact_report *rep)
{
        const uint64_t piece = MAX((uint64_t) bs / 2, (uint64_t) 1);
        uint8_t *mine = buf, *theirs = buf + piece;
        int r;

        for (uint64_t done = 0; done < len;) {
                uint64_t n = MIN(len - done, done ? piece : MIN(piece, (uint64_t) ZERO_PROBE));
                r = vc_image_pread(img, mine, n, start + done);
                if (r == 0)
                        r = below(img, theirs, n, start + done);
                if (r < 0)
                        return r;
                rep->bytes_read += 2 * n;
                if (memcmp(mine, theirs, n))
                        return 0;
                done += n;
        }
        return 1;
}

/* A hint only: its failure changes nothing. */
static void announce(struct vc_image *img, uint64_t off, uint64_t len)
{
        (void) posix_fadvise(vc_image_fd(img), (off_t) off, (off_t) len, POSIX_FADV_WILLNEED);
}

/* The zero rule for the block [start, start+len): it reads as zeros and
 * so does what lies below it (below bytes); or, for a format that asks it
 * (drop_same_as_below), it reads exactly as what lies below.  1 yes, 0 no,
 * or a negative errno with a problem. */
static int zero_rule(struct vc_image *img, uint8_t *buf, uint32_t bs, uint64_t start, uint64_t len,
                     uint64_t below, struct compact_report *rep, struct vc_problems *problems)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        uint32_t b = (uint32_t) (start / bs);
        int r;

        r = read_is_zero(img, vc_image_pread, buf, start, len, rep);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, start,
                                      "scanning for zero blocks: reading block %" PRIu32 " failed: %s; "
                                      "nothing was written", b, strerror(-r));
        if (r && start < below) {
                r = read_is_zero(img, ops->read_below, buf, start, MIN(len, below - start), rep);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, start,
                                              "scanning for zero blocks: reading the parent's range of "
                                              "block %" PRIu32 " failed: %s; nothing was written",
                                              b, strerror(-r));
        } else if (!r && ops->drop_same_as_below && len > 0 && start + len <= below) {
                /* Reads as what it covers: dropping it changes no read. */
                r = read_is_same(img, ops->read_below, buf, bs, start, len, rep);
                if (r < 0)
                        return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, start,
                                              "scanning for blocks that read as the parent: reading "
                                              "block %" PRIu32 " failed: %s; nothing was written",
                                              b, strerror(-r));
        }
        return r;
}

/* The next piece [*pos, return) of [*pos, end) that lies inside (in_free)
 * or outside (!in_free) the ranges of fm, from range *i on; *pos moves past
 * what is skipped.  *pos == end: none left. */
static uint64_t next_piece(const struct vc_freemap *fm, size_t *i, uint64_t *pos, uint64_t end, bool in_free)
{
        while (*pos < end) {
                if (*i < fm->n && fm->v[*i].start + fm->v[*i].len <= *pos) {
                        (*i)++;
                        continue;
                }
                bool in = *i < fm->n && fm->v[*i].start <= *pos;
                uint64_t stop = end;
                if (in)
                        stop = MIN(end, fm->v[*i].start + fm->v[*i].len);
                else if (*i < fm->n)
                        stop = MIN(end, fm->v[*i].start);
                if (in == in_free)
                        return stop;
                *pos = stop;
        }
        return end;
}

/* The combined rule for the block [start, start+len): whether every byte
 * outside (with in_free: inside) the free ranges of fm reads as what the
 * block's drop uncovers, the bytes below the image (read with below, of
 * below_size bytes) and zeros past them.  Those bytes are read in order,
 * in pieces of at most half of buf (bs bytes), the first at most
 * ZERO_PROBE bytes. */
static int reads_as_below(struct vc_image *img, read_fn below, uint64_t below_size, uint8_t *buf, uint32_t bs,
                          const struct vc_freemap *fm, bool in_free, uint64_t start, uint64_t len,
                          struct compact_report *rep)
{
        const uint64_t piece = MAX((uint64_t) bs / 2, (uint64_t) 1), end = start + len;
        uint8_t *mine = buf, *theirs = buf + piece;
        size_t i = freemap_first(fm, start);
        bool first = true;
        int r;

        for (uint64_t pos = start, stop; (stop = next_piece(fm, &i, &pos, end, in_free)) > pos;) {
                uint64_t n = MIN(stop - pos, first ? MIN(piece, (uint64_t) ZERO_PROBE) : piece);
                uint64_t under = pos < below_size ? MIN(n, below_size - pos) : 0;

                first = false;
                r = vc_image_pread(img, mine, n, pos);
                if (r == 0 && under > 0)
                        r = below(img, theirs, under, pos);
                if (r < 0)
                        return r;
                rep->bytes_read += n + under;
                if (memcmp(mine, theirs, under) || !mem_is_zero(mine + under, n - under))
                        return 0;
                pos += n;
        }
        return 1;
}

/* Mode full's reason to drop the block [start, start+len), or
 * COMPACT_KEEP; a negative errno on a read error.  Its used bytes first
 * (most blocks fail at once); a block that passes and has free bytes
 * then has those read too: if they pass as well, no read changes and it
 * is a zero drop, else a file-system one. */
static int combined_rule(struct vc_image *img, uint8_t *buf, uint32_t bs, const struct vc_freemap *fm,
                         uint64_t start, uint64_t len, struct compact_report *rep)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        uint64_t below = ops->below_size(img);
        int r;

        r = reads_as_below(img, ops->read_below, below, buf, bs, fm, false, start, len, rep);
        if (r <= 0)
                return r;
        if (len == 0 || freemap_covered(fm, start, len) == 0)
                return COMPACT_DROP_ZERO;
        r = reads_as_below(img, ops->read_below, below, buf, bs, fm, true, start, len, rep);
        if (r < 0)
                return r;
        return r ? COMPACT_DROP_ZERO : COMPACT_DROP_FS_ZERO;
}

/* Marks found[b] (an enum compact_drop_reason) for allocated blocks not
 * yet dropped that read as zeros (and, in a differencing disk, whose
 * parent range does too: what lies below the image, per its format).
 * With fm (mode full: the file systems' free ranges), by the combined
 * rule instead (above).  Blocks are visited in file order, so the scan
 * streams through the file. */
static int scan_zero(struct vc_image *img, const struct compact_layout *l, const uint8_t *drop, uint8_t *found,
                     const struct vc_freemap *fm, const struct compact_opts *o, struct compact_report *rep,
                     struct vc_problems *problems)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        const uint32_t *at = l->at;
        /* The image's blocks only: objects of the format's own after them
         * (compact-ops.h) are not virtual data. */
        uint32_t n = MIN(l->n_objects, vc_image_n_blocks(img)), bs = vc_image_block_size(img), m = 0;
        uint64_t vsize = vc_image_virtual_size(img), done = 0, total = 0;
        uint64_t below = ops->below_size(img);
        _cleanup_free_ uint8_t *buf = malloc(bs);
        _cleanup_free_ uint32_t *order = NULL;
        int r;

        /* Sized by the blocks to scan, not the BAT: memory must not grow
         * with the virtual size. */
        for (uint32_t b = 0; b < n; b++)
                m += at[b] != COMPACT_ABSENT && !drop[b];
        order = malloc(((size_t) m + 1) * sizeof *order);
        if (!buf || !order)
                return -ENOMEM;
        m = 0;
        for (uint32_t b = 0; b < n; b++)
                if (at[b] != COMPACT_ABSENT && !drop[b])
                        order[m++] = b;
        qsort_r(order, m, sizeof *order, cmp_by_offset, (void *) at);
        total = (uint64_t) m * bs;
        for (uint32_t i = 0; i < m; i++) {
                uint32_t b = order[i];
                uint64_t start = (uint64_t) b * bs;
                uint64_t len = start < vsize ? MIN((uint64_t) bs, vsize - start) : 0;

                for (uint32_t j = i ? i + ZERO_READAHEAD - 1 : 0; j < MIN(m, i + ZERO_READAHEAD); j++)
                        announce(img, (uint64_t) at[order[j]] * l->unit,
                                 compact_object_size(l, order[j]) - bs + ZERO_PROBE);
                if (fm) {
                        r = combined_rule(img, buf, bs, fm, start, len, rep);
                        if (r < 0)
                                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, start,
                                                      "scanning for blocks whose used bytes read as zeros or "
                                                      "as the parent: reading block %" PRIu32 " failed: %s; "
                                                      "nothing was written", b, strerror(-r));
                        found[b] = (uint8_t) r;
                } else {
                        r = zero_rule(img, buf, bs, start, len, below, rep, problems);
                        if (r < 0)
                                return r;
                        found[b] = r ? COMPACT_DROP_ZERO : COMPACT_KEEP;
                }
                done += bs;
                if (o->progress && o->progress(o->userdata, COMPACT_PHASE_SCANNING, done, total))
                        return -ECANCELED;
        }
        return 0;
}

int compact_scan_full(struct vc_image *img, const struct vc_freemap *fm, uint8_t *drop, struct compact_report *rep,
                      struct vc_problems *problems)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        const struct compact_opts quiet = {};
        uint32_t n = vc_image_n_blocks(img);
        struct compact_layout l;
        int r;

        if (!ops)
                return -EOPNOTSUPP;
        /* Only the table is read: the image's own will do. */
        r = ops->layout(img, false, &l);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *found = calloc(n ? n : 1, sizeof *found);
        if (!found)
                return -ENOMEM;
        r = scan_zero(img, &l, drop, found, fm, &quiet, rep, problems);
        if (r < 0)
                return r;
        for (uint32_t b = 0; b < n; b++)
                if (found[b] && !drop[b]) {
                        drop[b] = found[b];
                        if (found[b] == COMPACT_DROP_FS_ZERO)
                                rep->dropped_fs_zero++;
                        else
                                rep->dropped_zero++;
                }
        return 0;
}

static double now_s(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int moving_progress(void *userdata, uint64_t done, uint64_t total)
{
        const struct compact_opts *o = userdata;
        return o->progress ? o->progress(o->userdata, COMPACT_PHASE_MOVING, done, total) : 0;
}

static void enter_phase(const struct compact_opts *o, enum compact_phase p)
{
        if (o->phase)
                o->phase(o->userdata, p);
}

static void truncating(void *userdata)
{
        enter_phase(userdata, COMPACT_PHASE_TRUNCATING);
}

/* Test hook: with VHDCOMPACT_TEST_MOVE_PAUSE=FILE, creates FILE once the
 * plan is made and waits (up to a minute) until someone removes it, so
 * that a test can change the image behind our back right then. */
static void test_pause_before_move(void)
{
        const char *flag = getenv("VHDCOMPACT_TEST_MOVE_PAUSE");
        int fd;

        if (!flag || !*flag)
                return;
        fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        close(fd);
        for (int i = 0; i < 6000 && access(flag, F_OK) == 0; i++)
                usleep(10000);
}

/* After a move failed: a file now shorter than when scanned, and not at the
 * size our own truncation gives it, was cut by another program.  The
 * io-error's "the image is valid: run again" would then be false (blocks
 * past the new end, and maybe the footer, are gone), so the problem
 * becomes file-truncated: damaged.  Returns r, or -EBADMSG. */
static int check_truncated(int fd, uint64_t size_before, uint64_t final_size, struct vc_problems *problems, int r)
{
        struct stat st;

        if (fstat(fd, &st) < 0 || (uint64_t) st.st_size >= size_before || (uint64_t) st.st_size == final_size)
                return r;
        if (problems) {
                bool collect = problems->collect;
                vc_problems_done(problems);
                *problems = (struct vc_problems) { .collect = collect };
        }
        return vc_problem_add(problems, VC_PROBLEM_TRUNCATED, -EBADMSG, NULL, (uint64_t) st.st_size,
                              "another program cut the file short during the run (%" PRIu64 " bytes when "
                              "scanned, %" PRIu64 " now): the image is damaged, what lay past the new end is "
                              "lost; restore it from a backup",
                              size_before, (uint64_t) st.st_size);
}

/* The file's allocation: st_blocks x 512 (0 when fstat fails). */
static uint64_t allocated_bytes(int fd)
{
        struct stat st;

        return fstat(fd, &st) < 0 ? 0 : (uint64_t) st.st_blocks * 512;
}

/* No moves: of the free ranges below the new end, only those that hold
 * data in whole blocks of the host file system need a punch (a range
 * already a hole is left alone, and so are the partial blocks at its
 * edges, which a punch only zeroes: a run after one that finished plans
 * nothing).  *ret_bytes: those data bytes, what the run gives back.  The
 * descriptor's position is put back. */
static void keep_punches_with_data(int fd, struct compact_plan *p, uint64_t *ret_bytes)
{
        off_t pos = lseek(fd, 0, SEEK_CUR);
        uint64_t bytes = 0, bs = 4096;
        uint32_t n = 0;
        struct stat st;

        if (fstat(fd, &st) == 0 && st.st_blksize > 0)
                bs = (uint64_t) st.st_blksize;
        for (uint32_t i = 0; i < p->n_punches; i++) {
                const struct compact_extent *e = &p->punches[i];
                uint64_t lo = ROUND_UP(e->off, bs), hi = (e->off + e->len) / bs * bs;
                uint64_t data = hi > lo ? hi - lo - MIN(hi - lo, compact_hole_bytes(fd, lo, hi - lo)) : 0;
                if (data == 0)
                        continue;
                bytes += data;
                p->punches[n++] = *e;
        }
        p->n_punches = n;
        if (pos >= 0)
                (void) lseek(fd, pos, SEEK_SET);
        *ret_bytes = bytes;
}

/* The image, from the caller's descriptor or by name; a read-only file,
 * or descriptor, while writing is asked is refused as access-denied. */
static int open_image(const char *path, const struct compact_opts *o, struct vc_problems *problems,
                      struct vc_image **ret)
{
        const struct vc_open_ctx *ctx = o->open;
        bool by_fd = ctx && ctx->fd != VC_BY_NAME;
        /* A dry run changes nothing, so it shares the image with others.
         * A run leaves the trailing space an interrupted run left to its
         * own step 4, which cuts it (its plan ends at or below where
         * finishing on open would), so that its report counts it. */
        unsigned flags = o->dry_run ? 0 : VC_OPEN_RDWR | VC_OPEN_NOFINISH;
        int r;

        /* Every in-place write through such a descriptor would land at the
         * end of the file, and the truncation would then cut the image. */
        if (by_fd && !o->dry_run && ctx->fd >= 0 && (r = fcntl(ctx->fd, F_GETFL)) >= 0 && (r & O_APPEND))
                return vc_problem_add(problems, VC_PROBLEM_ACCESS_DENIED, -EBADF, NULL, 0,
                                      "cannot write in place through the descriptor given: it is open for "
                                      "appending (O_APPEND), which would send every write to the end of the file");
        r = vc_image_open(path, ctx, flags, problems, ret);
        if (by_fd && r == -EBADF && !vc_problems_any(problems))
                return vc_problem_add(problems, VC_PROBLEM_ACCESS_DENIED, r, NULL, 0, "%s",
                                      ctx->fd < 0 || fcntl(ctx->fd, F_GETFD) < 0
                                              ? "the descriptor given is not open"
                                              : "cannot write through the descriptor given: it is read-only");
        if ((r == -EACCES || r == -EPERM || r == -EROFS) && !vc_problems_any(problems))
                return vc_problem_add(problems, VC_PROBLEM_ACCESS_DENIED, r, NULL, 0, "cannot open it for %s: %s",
                                      o->dry_run ? "reading" : "writing", strerror(-r));
        return r;
}

int compact_run(const char *path, const struct compact_opts *opts, struct compact_report *ret,
                struct vc_problems *problems)
{
        const struct compact_opts defaults = {};
        _cleanup_(vc_image_freep) struct vc_image *img = NULL;
        struct compact_report rep = {};
        struct compact_layout layout = {};
        struct compact_plan plan = {};
        double t0 = now_s();
        /* Every byte this run writes to the image, whichever part writes
         * it (opening, the format's ops, the executor): the report's
         * bytes_written. */
        const uint64_t written0 = vc_bytes_written();
        int r;

        if (!opts)
                opts = &defaults;
        if ((unsigned) opts->mode >= _COMPACT_MODE_MAX)
                return -EINVAL;
        rep.dry_run = opts->dry_run;
        r = open_image(path, opts, problems, &img);
        if (r < 0)
                return r;
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        if (!ops)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP, NULL, 0,
                                      "compacting %s images is not supported yet", vc_image_format(img)->name);
        r = ops->refuse(img, true, problems);
        if (r < 0)
                return r;
        bool fs_mode = opts->mode == COMPACT_MODE_FULL || opts->mode == COMPACT_MODE_FS;
        bool zero_mode = opts->mode == COMPACT_MODE_FULL || opts->mode == COMPACT_MODE_ZERO;
        if (fs_mode && !opts->force_children) {
                r = check_no_child(img, opts->open, problems);
                if (r < 0)
                        return r;
        }

        uint32_t n = vc_image_n_blocks(img);
        /* Per block: enum compact_drop_reason. */
        _cleanup_free_ uint8_t *drop = calloc(n ? n : 1, sizeof *drop);
        _cleanup_free_ uint8_t *found = calloc(n ? n : 1, sizeof *found);
        /* Mode full: the file systems' free ranges, for the combined rule. */
        _cleanup_(freemap_done) struct vc_freemap free_map = {};
        if (!drop || !found)
                return -ENOMEM;
        rep.size_before = vc_image_file_size(img);
        rep.no_block_moves = opts->no_block_moves;
        rep.allocated_before = allocated_bytes(vc_image_fd(img));
        rep.blocks_allocated = vc_image_blocks_allocated(img);

        enter_phase(opts, COMPACT_PHASE_SCANNING);
        if (fs_mode) {
                struct vc_analyze_opts ao = { .force_dirty = opts->force_dirty, .nolock = true,
                                              .in_process = opts->in_process, .dry_run = opts->dry_run };
                struct vc_analysis a;
                if (opts->progress && opts->progress(opts->userdata, COMPACT_PHASE_SCANNING, 0, 1))
                        return -ECANCELED;
                r = vc_analyze_image(img, &ao, &a, problems);
                if (r < 0)
                        return r;
                for (uint32_t b = 0; b < n; b++)
                        if (a.block_class[b] == VC_BLOCK_FREE) {
                                drop[b] = COMPACT_DROP_FS_FREE;
                                rep.dropped_fs++;
                        }
                rep.bytes_read += a.bytes_read;
                if (opts->analysed)
                        opts->analysed(opts->userdata, &a);
                if (zero_mode) {
                        free_map = a.free_map;
                        a.free_map = (struct vc_freemap) {};
                }
                vc_analysis_done(&a);
        }
        r = ops->layout(img, true, &layout);
        if (r < 0)
                return r;
        if (layout.n_objects > n) {
                /* Objects of the format's own after the blocks: kept. */
                uint8_t *v = realloc(drop, layout.n_objects);
                if (!v) {
                        r = -ENOMEM;
                        goto out;
                }
                memset(v + n, COMPACT_KEEP, layout.n_objects - n);
                drop = v;
        }
        if (zero_mode) {
                r = scan_zero(img, &layout, drop, found, fs_mode ? &free_map : NULL, opts, &rep, problems);
                if (r < 0)
                        goto out;
                for (uint32_t b = 0; b < n; b++)
                        if (found[b] && !drop[b]) {
                                drop[b] = found[b];
                                if (found[b] == COMPACT_DROP_FS_ZERO)
                                        rep.dropped_fs_zero++;
                                else
                                        rep.dropped_zero++;
                        }
        }

        if (ops->own_drops && layout.n_objects > n)
                ops->own_drops(img, &layout, drop);
        r = opts->no_block_moves ? compact_plan_build_in_place(&layout, drop, &plan)
                                 : compact_plan_build(&layout, drop, &plan);
        if (r < 0)
                goto out;
        if (opts->no_block_moves)
                keep_punches_with_data(vc_image_fd(img), &plan, &rep.bytes_punched);
        rep.moved = plan.n_moves;
        rep.bytes_moved = plan.bytes_moved;
        rep.size_after = plan.final_size;
        if (opts->planned)
                opts->planned(opts->userdata, rep.size_before, rep.size_after);

        bool nothing = plan.n_drops == 0 && plan.n_moves == 0 && plan.n_punches == 0 &&
                       plan.final_size == rep.size_before;
        if (!opts->dry_run && !nothing) {
                struct compact_exec_opts eo = { .queue_depth = opts->queue_depth,
                                                .progress = moving_progress,
                                                .truncating = truncating,
                                                .userdata = (void *) opts,
                                                .problems = problems,
                                                .ring = opts->ring };
                test_pause_before_move();
                /* The plan is only as good as the file it was made from. */
                r = ops->verify_unchanged(img, &layout, problems);
                if (r < 0)
                        goto out;
                enter_phase(opts, COMPACT_PHASE_MOVING);
                struct compact_exec_stats st = {};
                r = compact_execute(img, &layout, &plan, &eo, &st);
                rep.bytes_read += st.bytes_read;
                if (r < 0)
                        r = check_truncated(vc_image_fd(img), rep.size_before, plan.final_size, problems, r);
                if (r < 0) {
                        if (r == -ECANCELED)
                                vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                               "cancelled: the image is valid; run again to finish");
                        goto out;
                }
        }
        if (!opts->dry_run)
                rep.allocated_after = allocated_bytes(vc_image_fd(img));
        rep.bytes_written = vc_bytes_written() - written0;
        rep.seconds = now_s() - t0;
        *ret = rep;
        r = 0;
out:
        compact_plan_done(&plan);
        free(layout.at);
        return r;
}
