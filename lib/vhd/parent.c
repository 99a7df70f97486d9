/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding and binding the parent of a differencing disk.
 *
 * Candidates come from the parent locators in a fixed order of preference:
 * relative UTF-16 (W2ru) first, then absolute UTF-16 (W2ku), file URL (MacX)
 * and the deprecated ANSI forms, and finally the header's parent name
 * looked up beside the child.  Windows paths are mapped by turning '\' into
 * '/' and resolving relative ones against the child's folder.  A candidate is
 * accepted only when its footer's unique id equals the child's parent unique
 * id, so a locator pointing at the wrong file can never bind.  The chain is
 * capped in depth and a file appearing twice is a loop.  Candidates are
 * opened through the opener of the image's open context (image/open.h):
 * a sandboxed caller then sees exactly the parents it is handed.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/fd-util.h"
#include "../util/utf16.h"
#include "image-internal.h"

#define MAX_CANDIDATES (VHD_DYN_N_LOCATORS + 1)

static int locator_rank(uint32_t code)
{
        switch (code) {
        case VHD_LOC_W2RU: return 0;
        case VHD_LOC_W2KU: return 1;
        case VHD_LOC_MACX: return 2;
        case VHD_LOC_WI2R: return 3;
        case VHD_LOC_WI2K: return 4;
        default: return -1;     /* "Mac " alias blobs cannot be resolved here */
        }
}

static void percent_decode(char *s)
{
        char *w = s;

        for (char *r = s; *r; r++) {
                if (r[0] == '%' && isxdigit((unsigned char) r[1]) && isxdigit((unsigned char) r[2])) {
                        char hex[3] = { r[1], r[2], 0 };
                        *w++ = (char) strtol(hex, NULL, 16);
                        r += 2;
                } else
                        *w++ = *r;
        }
        *w = 0;
}

/* Turns a locator's text into a Linux path, relative to dir when needed. */
static int locator_to_path(uint32_t code, const char *text, const char *dir, char *out,
                           size_t out_size)
{
        char buf[4096];
        const char *p;
        int n;

        snprintf(buf, sizeof buf, "%s", text);
        if (code == VHD_LOC_MACX) {
                if (strncmp(buf, "file://", 7) != 0)
                        return -EINVAL;
                percent_decode(buf);
                p = buf + 7;
                if (strncmp(p, "localhost/", 10) == 0)
                        p += 9;
        } else {
                for (char *c = buf; *c; c++)
                        if (*c == '\\')
                                *c = '/';
                p = buf;
                /* A drive letter means nothing here: try it beside the child. */
                if (isalpha((unsigned char) p[0]) && p[1] == ':') {
                        const char *slash = strrchr(p, '/');
                        p = slash ? slash + 1 : p + 2;
                }
                while (strncmp(p, "./", 2) == 0)
                        p += 2;
        }
        if (!*p)
                return -EINVAL;
        n = p[0] == '/' ? snprintf(out, out_size, "%s", p) : snprintf(out, out_size, "%s/%s", dir, p);
        return n < 0 || (size_t) n >= out_size ? -ENAMETOOLONG : 0;
}

static int read_locator_text(struct vhd_image *img, const struct vhd_locator *l, char *out,
                             size_t out_size)
{
        int r;

        if (l->data_length == 0 || l->data_length > VHD_MAX_LOCATOR_LENGTH)
                return -EBADMSG;
        _cleanup_free_ uint8_t *raw = malloc(l->data_length);
        if (!raw)
                return -ENOMEM;
        /* Bounds were checked against the file when the image was validated. */
        r = pread_full(img->fd, raw, l->data_length, l->data_offset);
        if (r < 0)
                return r;
        switch (l->code) {
        case VHD_LOC_W2RU:
        case VHD_LOC_W2KU:
                /* Windows and VirtualBox write these UTF-16 little-endian. */
                return utf16_to_utf8(raw, l->data_length, false, out, out_size) < 0 ? -EBADMSG : 0;
        default:
                if (l->data_length >= out_size)
                        return -ENAMETOOLONG;
                memcpy(out, raw, l->data_length);
                out[l->data_length] = 0;
                return 0;
        }
}

/* Whether path starts as a VHDX does (chains never mix the formats). */
static bool is_vhdx(const struct vc_open_ctx *ctx, const char *path)
{
        _cleanup_close_ int fd = vc_open_path(ctx, path, false);
        char sig[8];

        return fd >= 0 && pread_full(fd, sig, 8, 0) == 0 && memcmp(sig, "vhdxfile", 8) == 0;
}

int vhd_parent_open(struct vhd_image *img, unsigned flags, int depth, const struct vhd_chain *below,
                    struct vc_problems *problems)
{
        const struct vhd_chain self = { .below = below, .dev = img->dev, .ino = img->ino };
        char dir[4096], cand[MAX_CANDIDATES][4096], tried[1024] = "", mismatch[4096] = "";
        size_t nc = 0;
        const char *slash;
        int r;

        if (depth + 1 >= VHD_MAX_CHAIN_DEPTH)
                return vc_problem_add(problems, VC_PROBLEM_PARENT_LOOP, -ELOOP, NULL, 0,
                                      "parent chain is deeper than %d images", VHD_MAX_CHAIN_DEPTH);
        slash = strrchr(img->path, '/');
        if (slash)
                snprintf(dir, sizeof dir, "%.*s", (int) (slash - img->path == 0 ? 1 : slash - img->path),
                         img->path);
        else
                snprintf(dir, sizeof dir, ".");

        /* The user said where the parent is: that file only (open.h). */
        if (img->ctx.parent_path) {
                if (snprintf(cand[0], sizeof cand[0], "%s", img->ctx.parent_path) >= (int) sizeof cand[0])
                        return vc_problem_add(problems, VC_PROBLEM_PARENT_NOT_FOUND, -ENAMETOOLONG, NULL, 0,
                                              "the parent path given is too long");
                nc = 1;
        } else
        for (int rank = 0; rank <= 4; rank++)
                for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                        const struct vhd_locator *l = &img->dyn.locators[i];
                        char text[4096];
                        if (locator_rank(l->code) != rank)
                                continue;
                        if (read_locator_text(img, l, text, sizeof text) < 0 ||
                            locator_to_path(l->code, text, dir, cand[nc], sizeof cand[nc]) < 0)
                                continue;
                        nc++;
                }
        if (!img->ctx.parent_path && img->dyn.parent_name[0]) {
                char name[sizeof img->dyn.parent_name];
                snprintf(name, sizeof name, "%s", img->dyn.parent_name);
                for (char *c = name; *c; c++)
                        if (*c == '\\')
                                *c = '/';
                const char *base = strrchr(name, '/');
                base = base ? base + 1 : name;
                if (*base && snprintf(cand[nc], sizeof cand[nc], "%s/%s", dir, base) < (int) sizeof cand[nc])
                        nc++;
        }

        for (size_t k = 0; k < nc; k++) {
                struct vc_problems quiet = { .collect = false };
                struct vhd_image *p = NULL;
                _cleanup_close_ int fd = -1;
                int err = 0;
                struct stat st;
                bool dup = false;

                for (size_t j = 0; j < k; j++)
                        dup |= strcmp(cand[j], cand[k]) == 0;
                if (dup)
                        continue;
                if (img->ctx.opener) {
                        /* Whoever opens for us may see files we cannot even
                         * stat: ask, and look at what we were given.  Only
                         * "no such file" moves on to the next candidate;
                         * any other refusal is this parent's problem, as
                         * when open(2) fails below. */
                        r = vc_open_path(&img->ctx, cand[k], false);
                        if (r == -ENOENT || r == -ENOTDIR)
                                continue;
                        if (r < 0)
                                err = r;
                        else {
                                fd = r;
                                if (fstat(fd, &st) < 0)
                                        err = -errno;
                        }
                } else if (stat(cand[k], &st) < 0)
                        continue;
                /* The disk itself, or one below it: a loop, found before
                 * the parent's lock (see struct vhd_chain). */
                for (const struct vhd_chain *c = &self; err == 0 && c; c = c->below)
                        if (c->dev == st.st_dev && c->ino == st.st_ino)
                                return vc_problem_add(problems, VC_PROBLEM_PARENT_LOOP, -ELOOP, NULL, 0,
                                                      c == &self ? "parent '%s' is the disk itself"
                                                                 : "parent '%s' is a disk below it in the chain (a loop)",
                                                      cand[k]);
                /* Parents are only ever read. */
                if (err < 0)
                        r = err;
                else if (fd >= 0)
                        r = vhd_image_open_fd_depth(TAKE_FD(fd), cand[k], &img->ctx, flags & ~VHD_OPEN_RDWR,
                                                    depth + 1, &self, &quiet, &p);
                else
                        r = vhd_image_open_depth(cand[k], &img->ctx, flags & ~VHD_OPEN_RDWR, depth + 1, &self,
                                                 &quiet, &p);
                if (r < 0 && quiet.first.id == VC_PROBLEM_BAD_COOKIE && is_vhdx(&img->ctx, cand[k]))
                        return vc_problem_add(problems, VC_PROBLEM_PARENT_MISMATCH, -EBADMSG, "header.parent_locator",
                                              img->footer.data_offset + VHD_DYN_OFF_LOCATORS,
                                              "'%s' is a VHDX; a VHD's parent must be a VHD (it is named by its "
                                              "footer's unique id, which a VHDX has not)", cand[k]);
                if (r < 0) {
                        char what[300] = "";
                        if (vc_problems_any(&quiet))
                                vc_problem_format(&quiet.first, what, sizeof what);
                        /* Keep the inner id: a grandparent's mismatch is still a mismatch. */
                        return vc_problem_add(problems, vc_problems_any(&quiet) ? quiet.first.id :
                                              VC_PROBLEM_PARENT_NOT_FOUND, r, NULL, 0,
                                              "parent '%s' cannot be used: %s", cand[k],
                                              vc_problems_any(&quiet) ? what :
                                              r == -EBADFD ? "not a regular file" : strerror(-r));
                }
                if (memcmp(p->footer.unique_id, img->dyn.parent_uuid, 16) != 0) {
                        memcpy(mismatch, cand[k], sizeof mismatch);
                        vhd_image_free(p);
                        continue;
                }
                img->parent = p;
                return 0;
        }
        if (mismatch[0])
                return vc_problem_add(problems, VC_PROBLEM_PARENT_MISMATCH, -EBADMSG,
                                      "header.parent_unique_id",
                                      img->footer.data_offset + VHD_DYN_OFF_PARENT_UUID,
                                      "'%s' is not the parent: its unique id differs from the one recorded in the child",
                                      mismatch);
        for (size_t k = 0; k < nc && strlen(tried) + strlen(cand[k]) + 4 < sizeof tried; k++) {
                bool dup = false;
                for (size_t j = 0; j < k; j++)
                        dup |= strcmp(cand[j], cand[k]) == 0;
                if (!dup)
                        snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s'%s'",
                                 tried[0] ? ", " : "", cand[k]);
        }
        return vc_problem_add(problems, VC_PROBLEM_PARENT_NOT_FOUND, -ENOENT,
                              "header.parent_locator",
                              img->footer.data_offset + VHD_DYN_OFF_LOCATORS,
                              "parent not found (tried %s)", nc ? tried : "no usable locator");
}
