/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding and binding the parent of a differencing VHDX, as VHDX.md
 * section 4.4 recommends on Linux.
 *
 * Candidates, in order: relative_path joined to the directory of the
 * child's real path ('\' turned into '/', a leading ".\" dropped, ".."
 * left to the kernel); then the last component of every path key
 * (relative_path, volume_path, absolute_win32_path) in the child's
 * directory, which is what libvhdi does and what a copied pair of files
 * needs.  Drive letters and volume GUIDs mean nothing here, so absolute
 * paths are used only through their basename.  Each candidate is opened
 * through the open context's opener (lib/image/open.h: a sandboxed caller
 * sees exactly the files it is handed), must be a VHDX (the spec defines
 * only a VHDX parent: parent_linkage is the parent's DataWriteGuid, which
 * a VHD does not have; a VHD's parent is named by the parent's footer
 * unique id, which a VHDX has not, so chains never mix the two formats),
 * is opened read-only and validated whole (its own parent too), and binds
 * only when its current header's DataWriteGuid is parent_linkage or
 * parent_linkage2 and its logical sector size is the child's.  A
 * candidate that fails those is remembered and the next one tried: a
 * locator pointing at the wrong file can never bind.  The disk itself or
 * one below it in the chain (same st_dev and st_ino) is a loop, and the
 * chain is capped at VHDX_MAX_CHAIN_DEPTH (openvmm's 256).  Parents are
 * never written, and stale locator paths are never "fixed".
 *
 * An explicit user mapping (vhdctl --parent, the plugin's parent=; VHDX.md
 * section 4.4 step 2(b)) replaces the candidates for the immediate parent
 * only, and is checked exactly as they are: a wrong disk is
 * parent-mismatch naming it, the disk itself a loop, never accepted.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fd-util.h"
#include "vhdx.h"

#define MAX_CANDIDATES (1 + VHDX_LOC_N_PATHS)

/* The directory of the child: of its real path when it can be had. */
static void child_dir(const char *path, char *out, size_t size)
{
        char real[PATH_MAX];
        const char *p = realpath(path, real) ? real : path;
        const char *slash = strrchr(p, '/');

        if (!slash)
                snprintf(out, size, ".");
        else
                snprintf(out, size, "%.*s", (int) (slash == p ? 1 : slash - p), p);
}

static int add_candidate(char cand[][PATH_MAX], size_t *n, const char *dir, const char *rel)
{
        if (!*rel)
                return 0;
        int k = snprintf(cand[*n], PATH_MAX, "%s/%s", dir, rel);
        if (k < 0 || k >= PATH_MAX)
                return 0;
        for (size_t j = 0; j < *n; j++)
                if (!strcmp(cand[j], cand[*n]))
                        return 0;
        (*n)++;
        return 0;
}

static size_t candidates(const struct vhdx_locator *loc, const char *dir, char cand[][PATH_MAX])
{
        char buf[PATH_MAX];
        size_t n = 0;

        if (loc->path[VHDX_LOC_RELATIVE] && strlen(loc->path[VHDX_LOC_RELATIVE]) < sizeof buf) {
                strcpy(buf, loc->path[VHDX_LOC_RELATIVE]);
                for (char *c = buf; *c; c++)
                        if (*c == '\\')
                                *c = '/';
                const char *p = buf;
                while (!strncmp(p, "./", 2))
                        p += 2;
                /* A relative path it must be: an absolute one is not relative to the child. */
                if (p[0] != '/' && !(p[0] && p[1] == ':'))
                        add_candidate(cand, &n, dir, p);
        }
        for (int k = 0; k < VHDX_LOC_N_PATHS; k++) {
                const char *s = loc->path[k], *base;
                if (!s)
                        continue;
                base = s;
                for (const char *c = s; *c; c++)
                        if (*c == '\\' || *c == '/')
                                base = c + 1;
                if (strcmp(base, ".") && strcmp(base, ".."))
                        add_candidate(cand, &n, dir, base);
        }
        return n;
}

static bool is_vhd(int fd, uint64_t size)
{
        char c[8];
        return (pread_full(fd, c, 8, 0) == 0 && !memcmp(c, "conectix", 8)) ||
               (size >= 512 && pread_full(fd, c, 8, size - 512) == 0 && !memcmp(c, "conectix", 8));
}

int vhdx_parent_find(const char *child_path, const struct vc_open_ctx *ctx, const struct vhdx_locator *loc,
                     const struct vhdx_header *child_header, const struct vhdx_metadata *child_meta,
                     unsigned flags, int depth, const struct vhdx_chain *self, struct vhdx_report *rep,
                     struct vhdx_image **ret)
{
        char dir[PATH_MAX], cand[MAX_CANDIDATES][PATH_MAX], tried[2048] = "", why[1024] = "";
        uint64_t why_off = loc->offset;
        const char *why_field = "parent_locator.parent_linkage";
        enum vc_problem_id why_id = VC_PROBLEM_PARENT_MISMATCH;
        size_t nc;

        (void) child_header;
        if (depth + 1 >= VHDX_MAX_CHAIN_DEPTH)
                return vhdx_report(rep, VC_PROBLEM_PARENT_LOOP, -ELOOP, "parent_locator", loc->offset,
                                   "the parent chain is deeper than %d disks", VHDX_MAX_CHAIN_DEPTH), -ELOOP;
        child_dir(child_path, dir, sizeof dir);
        if (ctx && ctx->parent_path) {
                /* The user said where the parent is: that file only (open.h). */
                if (snprintf(cand[0], PATH_MAX, "%s", ctx->parent_path) >= PATH_MAX)
                        return vhdx_report(rep, VC_PROBLEM_PARENT_NOT_FOUND, -ENAMETOOLONG, "parent_locator",
                                           loc->offset, "the parent path given is too long"), -ENAMETOOLONG;
                nc = 1;
        } else
                nc = candidates(loc, dir, cand);

        for (size_t k = 0; k < nc; k++) {
                struct vc_problems quiet = { .collect = false };
                _cleanup_close_ int fd = -1;
                struct vhdx_image *p = NULL;
                struct stat st;
                char sig[8];
                int r;

                r = vc_open_path(ctx, cand[k], false);
                if (r == -ENOENT || r == -ENOTDIR)
                        continue;
                if (r < 0)
                        return vhdx_report(rep, VC_PROBLEM_PARENT_NOT_FOUND, r, "parent_locator", loc->offset,
                                           "parent '%s' cannot be opened: %s", cand[k], strerror(-r)), r;
                fd = r;
                if (fstat(fd, &st) < 0)
                        return -errno;
                for (const struct vhdx_chain *c = self; c; c = c->below)
                        if (c->dev == st.st_dev && c->ino == st.st_ino)
                                return vhdx_report(rep, VC_PROBLEM_PARENT_LOOP, -ELOOP, "parent_locator", loc->offset,
                                                   c == self ? "parent '%s' is the disk itself"
                                                             : "parent '%s' is a disk below it in the chain (a loop)",
                                                   cand[k]), -ELOOP;
                if (pread_full(fd, sig, 8, 0) < 0 || memcmp(sig, VHDX_IDENT_SIGNATURE, 8)) {
                        snprintf(why, sizeof why, is_vhd(fd, (uint64_t) st.st_size)
                                 ? "'%s' is a VHD; a VHDX's parent must be a VHDX (its parent_linkage names the "
                                   "parent's DataWriteGuid, which only a VHDX has)"
                                 : "'%s' is not a VHDX", cand[k]);
                        why_field = "parent_locator";
                        why_off = loc->offset;
                        continue;
                }
                r = vhdx_image_open_fd_depth(TAKE_FD(fd), cand[k], ctx, flags & ~VHDX_OPEN_RDWR, depth + 1, self,
                                             &quiet, &p);
                if (r < 0) {
                        char what[600] = "";
                        if (vc_problems_any(&quiet))
                                vc_problem_format(&quiet.first, what, sizeof what);
                        /* Keep the inner id: a grandparent's mismatch is still a mismatch. */
                        return vhdx_report(rep, vc_problems_any(&quiet) ? quiet.first.id : VC_PROBLEM_PARENT_NOT_FOUND,
                                           r, "parent_locator", loc->offset, "parent '%s' cannot be used: %s", cand[k],
                                           vc_problems_any(&quiet) ? what : strerror(-r)), r;
                }
                const struct vhdx_headers *ph = vhdx_image_headers(p);
                const uint8_t *dwg = ph->h[ph->current].data_write_guid;
                if (memcmp(dwg, loc->linkage, 16) && !(loc->has_linkage2 && !memcmp(dwg, loc->linkage2, 16))) {
                        char g1[37], g2[37];
                        vhdx_guid_format(dwg, g1);
                        vhdx_guid_format(loc->linkage, g2);
                        snprintf(why, sizeof why, "'%s' is not the parent: its DataWriteGuid {%s} is not the "
                                 "child's parent_linkage {%s} (the parent changed since the child was made, or "
                                 "it is another disk)", cand[k], g1, g2);
                        why_field = "parent_locator.parent_linkage";
                        why_off = loc->linkage_offset;
                        vhdx_image_free(p);
                        continue;
                }
                if (vhdx_image_metadata(p)->logical_sector_size != child_meta->logical_sector_size) {
                        snprintf(why, sizeof why, "'%s' has %" PRIu32 "-byte logical sectors, the child %" PRIu32,
                                 cand[k], vhdx_image_metadata(p)->logical_sector_size,
                                 child_meta->logical_sector_size);
                        why_field = "parent_locator";
                        why_off = loc->offset;
                        vhdx_image_free(p);
                        continue;
                }
                *ret = p;
                return 0;
        }
        if (why[0])
                return vhdx_report(rep, why_id, -EBADMSG, why_field, why_off, "%s", why), -EBADMSG;
        for (size_t k = 0; k < nc && strlen(tried) + strlen(cand[k]) + 4 < sizeof tried; k++)
                snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s'%s'", tried[0] ? ", " : "", cand[k]);
        return vhdx_report(rep, VC_PROBLEM_PARENT_NOT_FOUND, -ENOENT, "parent_locator", loc->offset,
                           "parent not found (tried %s)", nc ? tried : "no usable path"), -ENOENT;
}
