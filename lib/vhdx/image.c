/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VHDX image: open (read and validate everything, in file order of
 * dependence: identifier, headers, log fields, region table, metadata,
 * BAT), read, and the check.  What is refused, and why:
 *
 *   - a log that does not replay (log.c: no valid sequence, a descriptor
 *     aimed where it must not, a truncated file).  A log that replays is
 *     replayed in memory: the header section read is patched, the
 *     metadata and BAT regions are read from a private copy (a memfd, as
 *     sparse as the file) with the log's pages applied, and every payload
 *     read is patched too, so no read goes through the stale BAT.
 *   - a differencing disk (HasParent) whose parent locator is bad or
 *     whose parent cannot be found and bound (parent.c): bad-locator,
 *     parent-not-found, parent-mismatch, parent-loop.  Its blocks read
 *     from the child when FULLY_PRESENT, through the sector bitmap when
 *     PARTIALLY_PRESENT (bit set: the child; clear: the parent), from the
 *     parent when NOT_PRESENT, as zeros otherwise (ZERO, UNMAPPED and
 *     UNDEFINED, as 7-Zip and openvmm do).  Past the parent's end (a
 *     child larger than its parent) the parent reads as zeros.  Written
 *     by write.c and write-child.c; a read-write open of one without its
 *     parent (VHDX_OPEN_NOPARENT), or with LeaveBlockAllocated, is
 *     refused (not-supported).
 *   - anything VHDX.md section 5 calls hostile, each with its problem id.
 *
 * After open, nothing changes: reads are positional and the structures
 * read-only, so any number of threads may read at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "image-private.h"


const struct vhdx_image *vhdx_image_parent(const struct vhdx_image *img) { return img->parent; }
const struct vhdx_locator *vhdx_image_locator(const struct vhdx_image *img)
{
        return img->meta.has_parent ? &img->loc : NULL;
}

const char *vhdx_image_path(const struct vhdx_image *img) { return img->path; }
int vhdx_image_fd(const struct vhdx_image *img) { return img->fd; }
uint64_t vhdx_image_file_size(const struct vhdx_image *img) { return img->file_size; }
const struct vhdx_headers *vhdx_image_headers(const struct vhdx_image *img) { return &img->headers; }
const struct vhdx_regions *vhdx_image_regions(const struct vhdx_image *img) { return &img->regions; }
const struct vhdx_metadata *vhdx_image_metadata(const struct vhdx_image *img) { return &img->meta; }
const struct vhdx_bat *vhdx_image_bat(const struct vhdx_image *img) { return &img->bat; }

unsigned vhdx_image_block_state(const struct vhdx_image *img, uint64_t b)
{
        return vhdx_bat_entry_load(&img->bat, vhdx_bat_index(&img->bat, b)) & VHDX_BAT_STATE_MASK;
}

const char *vhdx_image_kind(const struct vhdx_image *img)
{
        if (img->meta.has_parent)
                return "differencing";
        return img->meta.leave_allocated ? "fixed" : "dynamic";
}

struct vhdx_image *vhdx_image_free(struct vhdx_image *img)
{
        if (!img)
                return NULL;
        if (img->rw)
                (void) vhdx_session_end(img);   /* best effort: the file is clean either way */
        pthread_mutex_destroy(&img->write_lock);
        if (img->fd >= 0)
                close(img->fd);
        free(img->path);
        vhdx_regions_done(&img->regions);
        free(img->bat.e);
        vhdx_occupancy_done(&img->occ);
        vhdx_log_replay_done(&img->log);
        vhdx_locator_done(&img->loc);
        vhdx_compact_state_free(img->compact);
        vhdx_image_free(img->parent);
        free(img);
        return NULL;
}

/* The log fields of the current header: the log lies inside the file, on
 * nothing else, and is empty. */
static int check_log(struct vhdx_image *img, struct vhdx_report *rep)
{
        const int cur = img->headers.current;
        const struct vhdx_header *h = &img->headers.h[cur];
        const uint64_t at = vhdx_header_offset(cur);
        const char *other;
        int r;

        if (h->log_length) {
                if (range_outside(h->log_offset, h->log_length, img->file_size)) {
                        r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, cur ? "header2.log_offset" : "header1.log_offset",
                                        at + VHDX_HEADER_OFF_LOG_OFFSET,
                                        "the log (%" PRIu32 " bytes at %" PRIu64 ") ends past the end of the file "
                                        "(%" PRIu64 " bytes)", h->log_length, h->log_offset, img->file_size);
                        if (r < 0)
                                return r;
                } else if (vhdx_occupancy_take_named(&img->occ, "the log", h->log_offset, h->log_length, &other)) {
                        r = vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, cur ? "header2.log_offset" : "header1.log_offset",
                                        at + VHDX_HEADER_OFF_LOG_OFFSET, "the log overlaps %s", other);
                        if (r < 0)
                                return r;
                }
        }
        if (vhdx_guid_is_zero(h->log_guid) || img->replayed)
                return 0;
        const char *field = cur ? "header2.log_guid" : "header1.log_guid";
        if (!h->log_length)
                return vhdx_report(rep, VC_PROBLEM_BAD_LOG, -EBADMSG, field, at + VHDX_HEADER_OFF_LOG_GUID,
                                   "the header names a log (LogGuid is set) but the file has none");
        if (h->log_version != 0)
                return vhdx_report(rep, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP,
                                   cur ? "header2.log_version" : "header1.log_version",
                                   at + VHDX_HEADER_OFF_LOG_VERSION,
                                   "the log has version %u, which we do not know", h->log_version);
        return vhdx_report(rep, VC_PROBLEM_LOG_REPLAY_NEEDED, -EOPNOTSUPP, field, at + VHDX_HEADER_OFF_LOG_GUID,
                           "the log is not empty (the disk was not closed cleanly); its BAT may be stale until "
                           "the log is replayed, which we do not do yet (qemu-img check -r all replays it, "
                           "but changes the disk's DataWriteGuid)");
}

/* A dirty log that can be replayed is found and checked (log.c), and
 * the header section read (sec) patched with it. */
static int replay_in_memory(struct vhdx_image *img, uint8_t *sec, struct vhdx_report *rep)
{
        const int cur = img->headers.current;
        const struct vhdx_header *h = &img->headers.h[cur];
        int r;

        /* What check_log() refuses for itself. */
        if (vhdx_guid_is_zero(h->log_guid) || !h->log_length || h->log_version != 0 ||
            range_outside(h->log_offset, h->log_length, img->disk_size))
                return 0;
        r = vhdx_log_find(img->fd, img->disk_size, h, vhdx_header_offset(cur), rep, &img->log);
        if (r < 0)
                return r;
        img->replayed = true;
        img->file_size = vhdx_log_replayed_size(&img->log, img->disk_size);
        return vhdx_log_overlay(img->fd, &img->log, sec, VHDX_HEADER_USED, 0);
}

/* The file's bytes [off, off + len) as replayed: zeros past the end of the
 * file (a replay extends it), then the log's pages. */
static int read_replayed(struct vhdx_image *img, uint8_t *buf, size_t len, uint64_t off)
{
        size_t have = off >= img->disk_size ? 0 : (size_t) MIN((uint64_t) len, img->disk_size - off);
        int r = 0;

        if (have)
                r = pread_full(img->fd, buf, have, off);
        if (r < 0)
                return r;
        memset(buf + have, 0, len - have);
        return vhdx_log_overlay(img->fd, &img->log, buf, len, off);
}

/* Payload and sector-bitmap bytes of the file, through the log replayed
 * in memory when there is one. */
static int read_payload(struct vhdx_image *img, uint8_t *buf, size_t len, uint64_t off)
{
        return img->replayed ? read_replayed(img, buf, len, off) : pread_full(img->fd, buf, len, off);
}

/* A private copy of the metadata and BAT regions with the log applied, in
 * a sparse memfd of the replayed file's size: what metadata.c and bat.c
 * read instead of the file.  Returns the memfd. */
static int replayed_shadow(struct vhdx_image *img)
{
        _cleanup_free_ uint8_t *buf = malloc(VHDX_MiB);
        const int idx[2] = { img->regions.meta, img->regions.bat };
        int mfd, r;

        if (!buf)
                return -ENOMEM;
        mfd = memfd_create("vhdx-replayed", MFD_CLOEXEC);
        if (mfd < 0)
                return -errno;
        if (ftruncate(mfd, (off_t) img->file_size) < 0) {
                r = -errno;
                goto fail;
        }
        for (int k = 0; k < 2; k++) {
                const struct vhdx_region *g = &img->regions.v[idx[k]];
                for (uint64_t done = 0; done < g->length;) {
                        size_t n = (size_t) MIN((uint64_t) g->length - done, (uint64_t) VHDX_MiB);
                        r = read_replayed(img, buf, n, g->offset + done);
                        /* Not pwrite_full: the memfd is no image, and
                         * the fault rules and the power-cut log are about
                         * images. */
                        for (size_t w = 0; r >= 0 && w < n;) {
                                ssize_t got = pwrite(mfd, buf + w, n - w, (off_t) (g->offset + done + w));
                                if (got < 0 && errno != EINTR)
                                        r = -errno;
                                else if (got == 0)
                                        r = -EIO;
                                else if (got > 0)
                                        w += (size_t) got;
                        }
                        if (r < 0)
                                goto fail;
                        done += n;
                }
        }
        return mfd;
fail:
        close(mfd);
        return r;
}

static int regions_occupy(struct vhdx_image *img, struct vhdx_report *rep)
{
        for (uint32_t i = 0; i < img->regions.n; i++) {
                const struct vhdx_region *g = &img->regions.v[i];
                const char *name = vhdx_region_name(g->guid), *other;
                name = !name ? "a region" : name[0] == 'B' ? "the BAT region" : "the metadata region";
                if (vhdx_occupancy_take_named(&img->occ, name, g->offset, g->length, &other)) {
                        int r = vhdx_report(rep, VC_PROBLEM_BAD_REGION_TABLE, -EBADMSG, "region.file_offset",
                                            g->entry_offset + VHDX_REGION_ENTRY_OFF_OFFSET,
                                            "%s (%" PRIu32 " bytes at %" PRIu64 ") overlaps %s", name, g->length,
                                            g->offset, other);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int parse(struct vhdx_image *img, unsigned flags, int depth, const struct vhdx_chain *below,
                 struct vhdx_report *rep)
{
        _cleanup_free_ uint8_t *sec = NULL;
        struct stat st;
        int r;

        if (fstat(img->fd, &st) < 0)
                return -errno;
        img->dev = st.st_dev;
        img->ino = st.st_ino;
        if (S_ISREG(st.st_mode))
                img->file_size = (uint64_t) st.st_size;
        else if (S_ISBLK(st.st_mode)) {
                if (ioctl(img->fd, BLKGETSIZE64, &img->file_size) < 0)
                        return -errno;
        } else
                return vhdx_report(rep, VC_PROBLEM_NOT_SUPPORTED, -EINVAL, NULL, 0, "not a regular file"), -EINVAL;
        if (!(flags & VHDX_OPEN_NOLOCK)) {
                r = fd_lock_ofd(img->fd, flags & VHDX_OPEN_RDWR);
                if (r == -EBUSY)
                        return vhdx_report(rep, VC_PROBLEM_IN_USE, r, NULL, 0,
                                           "image is in use by another process (conflicting lock)"), r;
                if (r < 0)
                        return r;
        }
        if (img->file_size < VHDX_HEADER_SECTION_SIZE)
                return vhdx_report(rep, VC_PROBLEM_TOO_SMALL, -EBADMSG, NULL, img->file_size,
                                   "file is %" PRIu64 " bytes, shorter than the 1 MiB header section of a VHDX",
                                   img->file_size), -EBADMSG;
        /* What the header section defines: identifier, headers, region
         * tables (the rest, to 1 MiB, is reserved). */
        sec = malloc(VHDX_HEADER_USED);
        if (!sec)
                return -ENOMEM;
        r = pread_full(img->fd, sec, VHDX_HEADER_USED, 0);
        if (r < 0)
                return vhdx_report(rep, VC_PROBLEM_IO, r, NULL, 0, "cannot read the header section"), r;
        if (memcmp(sec, VHDX_IDENT_SIGNATURE, 8))
                return vhdx_report(rep, VC_PROBLEM_BAD_COOKIE, -EBADMSG, "file_identifier.signature", 0,
                                   "the file does not start with \"vhdxfile\""), -EBADMSG;
        r = vhdx_headers_parse(sec, rep, &img->headers);
        if (r < 0)
                return r;
        img->disk_size = img->file_size;
        r = replay_in_memory(img, sec, rep);
        if (r < 0)
                return r;
        r = vhdx_regions_parse(sec, img->file_size, rep, &img->regions);
        if (r < 0)
                return r;
        r = vhdx_occupancy_init(&img->occ, img->file_size);
        if (r < 0)
                return r;
        vhdx_occupancy_take_named(&img->occ, "the header section", 0, VHDX_HEADER_SECTION_SIZE, NULL);
        r = check_log(img, rep);
        if (r < 0)
                return r;
        r = regions_occupy(img, rep);
        if (r < 0)
                return r;
        _cleanup_close_ int shadow = -1;
        if (img->replayed) {
                shadow = replayed_shadow(img);
                if (shadow < 0)
                        return vhdx_report(rep, VC_PROBLEM_IO, shadow, "log", img->log.log_offset,
                                           "cannot replay the log in memory"), shadow;
        }
        const int sfd = img->replayed ? shadow : img->fd;
        const struct vhdx_region *mr = &img->regions.v[img->regions.meta];
        r = vhdx_metadata_parse(sfd, mr->offset, mr->length, rep, &img->meta);
        if (r < 0)
                return r;
        r = vhdx_bat_load(sfd, img->file_size, &img->regions.v[img->regions.bat], &img->meta, &img->occ, rep,
                          &img->bat);
        if (r < 0)
                return r;
        if (img->meta.has_parent) {
                r = vhdx_locator_read(sfd, &img->meta, rep, &img->loc);
                if (r < 0)
                        return r;
                if (!(flags & VHDX_OPEN_NOPARENT) && !rep->err) {
                        const struct vhdx_chain self = { .below = below, .dev = img->dev, .ino = img->ino };
                        r = vhdx_parent_find(img->path, &img->ctx, &img->loc, &img->headers.h[img->headers.current],
                                             &img->meta, flags, depth, &self, rep, &img->parent);
                        if (r < 0)
                                return r;
                }
                img->no_parent = flags & VHDX_OPEN_NOPARENT;
        }
        if (rep->err || !(flags & VHDX_OPEN_RDWR))
                return rep->err;
        /* Read-write: everything checked; the log replayed on disk
         * (write.c), nothing else written until the first change. */
        const int cur = img->headers.current;
        /* A child is written through its parent (write-child.c): it must
         * be open; a fixed child is no shape we write. */
        if (img->meta.has_parent && (img->no_parent || img->meta.leave_allocated))
                return vhdx_report(rep, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP, "metadata.file_parameters_flags",
                                   img->meta.params_offset + 4,
                                   img->no_parent ? "writing a differencing VHDX without opening its parent is "
                                                    "not supported"
                                                  : "writing a differencing VHDX with LeaveBlockAllocated is not "
                                                    "supported"), -EOPNOTSUPP;
        if (img->headers.h[cur].sequence > UINT64_MAX - 1024)
                return vhdx_report(rep, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP,
                                   cur ? "header2.sequence_number" : "header1.sequence_number",
                                   vhdx_header_offset(cur) + VHDX_HEADER_OFF_SEQUENCE,
                                   "the header's sequence number is at its end (2^64-1): it cannot be updated "
                                   "without wrapping"), -EOPNOTSUPP;
        img->rw = true;
        r = vhdx_session_replay(img);
        if (r < 0)
                return vhdx_report(rep, VC_PROBLEM_IO, r, "log", img->log.log_offset,
                                   "cannot replay the log on disk"), r;
        return 0;
}

int vhdx_image_open_fd_depth(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                             const struct vhdx_chain *below, struct vc_problems *problems, struct vhdx_image **ret)
{
        _cleanup_(vhdx_image_freep) struct vhdx_image *img = calloc(1, sizeof *img);
        struct vhdx_report rep = { .ps = problems };
        int r;

        if (!img) {
                close(fd);
                return -ENOMEM;
        }
        img->fd = fd;
        pthread_mutex_init(&img->write_lock, NULL);
        img->path = strdup(path ? path : "");
        if (!img->path)
                return -ENOMEM;
        if (ctx)
                img->ctx = (struct vc_open_ctx) { .opener = ctx->opener, .userdata = ctx->userdata,
                                                  .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME,
                                                  .parent_path = depth == 0 ? ctx->parent_path : NULL };
        else
                img->ctx = (struct vc_open_ctx) VC_OPEN_CTX_INIT;
        r = parse(img, flags, depth, below, &rep);
        img->ctx.parent_path = NULL;    /* the caller's string: open time only */
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

int vhdx_image_open_fd_ctx(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                           struct vc_problems *problems, struct vhdx_image **ret)
{
        return vhdx_image_open_fd_depth(fd, path, ctx, flags, 0, NULL, problems, ret);
}

int vhdx_image_open_fd(int fd, const char *path, unsigned flags, struct vc_problems *problems,
                       struct vhdx_image **ret)
{
        return vhdx_image_open_fd_depth(fd, path, NULL, flags, 0, NULL, problems, ret);
}

int vhdx_check_fd(int fd, const char *path, struct vc_problems *problems)
{
        return vhdx_check_fd_ctx(fd, path, NULL, problems);
}

int vhdx_check_fd_ctx(int fd, const char *path, const struct vc_open_ctx *ctx, struct vc_problems *problems)
{
        _cleanup_(vhdx_image_freep) struct vhdx_image *img = NULL;
        int r;

        problems->collect = true;
        r = vhdx_image_open_fd_ctx(fd, path, ctx, VHDX_OPEN_NOLOCK, problems, &img);
        if (problems->oom)
                return -ENOMEM;
        if (r < 0 && !vc_problems_any(problems))
                return r;
        return vc_problems_any(problems) ? 1 : 0;
}

/* --- reading ---------------------------------------------------------------- */

/* What lies below the child at [offset, offset+len): the parent, zeros
 * past its end. */
static int read_below(struct vhdx_image *img, uint8_t *p, uint64_t len, uint64_t offset)
{
        if (!img->parent)
                return img->no_parent ? -EIO : (memset(p, 0, len), 0);
        uint64_t psize = img->parent->meta.virtual_size, n = 0;
        if (offset < psize) {
                int r;
                n = MIN(len, psize - offset);
                r = vhdx_image_pread(img->parent, p, n, offset);
                if (r < 0)
                        return r;
        }
        memset(p + n, 0, len - n);
        return 0;
}

/* VHDX sector bitmaps are LSB first (VHD's are MSB first): bit q is bit
 * q % 8 of byte q / 8. */
static inline bool sb_bit(const uint8_t *bits, uint64_t q)
{
        return bits[q / 8] >> (q % 8) & 1;
}

/* [in, in+len) of block b, PARTIALLY_PRESENT at data: runs of sectors
 * whose bits (LSB first, 1: here) agree, from the child or below. */
static int read_partial(struct vhdx_image *img, uint64_t b, uint64_t data, uint8_t *p, uint64_t in, uint64_t len)
{
        const uint64_t ss = img->meta.logical_sector_size, bs = img->meta.block_size;
        const struct vhdx_bat *bat = &img->bat;
        const uint64_t c = b / bat->chunk_ratio;
        const uint64_t sbe = vhdx_bat_entry_load(bat, c * (bat->chunk_ratio + 1) + bat->chunk_ratio);
        uint8_t bits[512];
        int r;

        if ((sbe & VHDX_BAT_STATE_MASK) != VHDX_SB_PRESENT)
                return -EIO;    /* refused at open (bat.c) */
        while (len > 0) {
                uint64_t vsec = (b * bs + in) / ss;                     /* virtual sector */
                uint64_t bit = vsec % VHDX_SECTORS_PER_CHUNK;
                uint64_t first = bit / 8, nsec = MIN((in % ss + len + ss - 1) / ss, (uint64_t) sizeof bits * 8 - bit % 8);
                uint64_t nbytes = (bit % 8 + nsec + 7) / 8;
                r = read_payload(img, bits, nbytes, (sbe & VHDX_BAT_OFFSET_MASK) + first);
                if (r < 0)
                        return r;
                for (uint64_t k = 0; k < nsec && len > 0;) {
                        uint64_t q = bit % 8 + k;
                        bool here = sb_bit(bits, q);
                        uint64_t run = 0;
                        /* Sectors k.. with the same bit, as bytes of this read. */
                        while (k < nsec) {
                                uint64_t qq = bit % 8 + k;
                                if (sb_bit(bits, qq) != here)
                                        break;
                                uint64_t l = MIN(len - run, ss - (in + run) % ss);
                                run += l;
                                k++;
                                if (run == len)
                                        break;
                        }
                        r = here ? read_payload(img, p, run, data + in) : read_below(img, p, run, b * bs + in);
                        if (r < 0)
                                return r;
                        p += run;
                        in += run;
                        len -= run;
                }
        }
        return 0;
}

int vhdx_image_pread(struct vhdx_image *img, void *buf, size_t count, uint64_t offset)
{
        const uint64_t bs = img->meta.block_size;
        uint8_t *p = buf;

        if (range_outside(offset, count, img->meta.virtual_size))
                return -EINVAL;
        while (count > 0) {
                uint64_t b = offset / bs, in = offset % bs, len = MIN((uint64_t) count, bs - in);
                uint64_t e = vhdx_bat_entry_load(&img->bat, vhdx_bat_index(&img->bat, b));
                int r;

                switch (img->meta.has_parent ? e & VHDX_BAT_STATE_MASK : (e & VHDX_BAT_STATE_MASK) | 8) {
                case VHDX_PAYLOAD_FULLY_PRESENT:
                case VHDX_PAYLOAD_FULLY_PRESENT | 8:
                        r = read_payload(img, p, len, (e & VHDX_BAT_OFFSET_MASK) + in);
                        break;
                case VHDX_PAYLOAD_PARTIALLY_PRESENT:
                        r = read_partial(img, b, e & VHDX_BAT_OFFSET_MASK, p, in, len);
                        break;
                case VHDX_PAYLOAD_NOT_PRESENT:
                        r = read_below(img, p, len, offset);
                        break;
                default:
                        /* ZERO, UNMAPPED, UNDEFINED; 0-3 in a disk without a parent */
                        memset(p, 0, len);
                        r = 0;
                }
                if (r < 0)
                        return r;
                p += len;
                offset += len;
                count -= len;
        }
        return 0;
}

int vhdx_image_extents(struct vhdx_image *img, uint64_t offset, uint64_t count, vc_extent_fn f, void *userdata)
{
        const uint64_t bs = img->meta.block_size;
        uint64_t end;

        if (ADD_OVERFLOW(offset, count, &end) || end > img->meta.virtual_size)
                return -EINVAL;
        while (offset < end) {
                enum vc_extent_kind kind = VC_EXTENT_HOLE_ZERO;
                uint64_t len = 0;

                /* Runs of blocks of one kind, merged. */
                while (offset + len < end) {
                        uint64_t at = offset + len, b = at / bs, l = MIN(end - at, bs - at % bs);
                        const unsigned st = vhdx_image_block_state(img, b);
                        /* A child's blocks that read from the parent are
                         * data, conservatively (the parent's holes too). */
                        enum vc_extent_kind k = st == VHDX_PAYLOAD_FULLY_PRESENT ||
                                                          (img->meta.has_parent && (st == VHDX_PAYLOAD_NOT_PRESENT ||
                                                                                    st == VHDX_PAYLOAD_PARTIALLY_PRESENT))
                                                          ? VC_EXTENT_DATA : VC_EXTENT_HOLE_ZERO;
                        if (len && k != kind)
                                break;
                        kind = k;
                        len += l;
                }
                int r = f(offset, len, kind, userdata);
                if (r != 0)
                        return r;
                offset += len;
        }
        return 0;
}
