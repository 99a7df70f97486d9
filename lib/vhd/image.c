/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening, validating and reading a VHD image.
 *
 * Open reads the end footer (and for dynamic disks the copy at offset 0,
 * which must be byte-identical), the dynamic header and the BAT, and then
 * checks the file's layout as a whole: every structure inside the file, no
 * two of {footer copy, header, BAT, locator payloads, blocks, end footer}
 * sharing a byte.  Only then is the image used.  Problems go to an optional
 * sink; in collect mode (vhdctl check) validation goes on after a problem
 * wherever later checks still make sense.
 *
 * Reads merge the chain: an unallocated block, or a sector whose bitmap bit
 * is clear, comes from the parent (differencing) or reads as zeros (dynamic).
 * Dynamic blocks whose bitmap is all ones (what qemu and we write) are
 * remembered, so most reads cost one pread.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/overflow.h"
#include "image-internal.h"

uint64_t vhd_image_virtual_size(const struct vhd_image *img) { return img->virtual_size; }
uint64_t vhd_image_file_size(const struct vhd_image *img) { return img->file_size; }
const struct vhd_footer *vhd_image_footer(const struct vhd_image *img) { return &img->footer; }
const struct vhd_dyn_header *vhd_image_dyn_header(const struct vhd_image *img)
{
        return img->has_dyn ? &img->dyn : NULL;
}
const struct vhd_image *vhd_image_parent(const struct vhd_image *img) { return img->parent; }
const char *vhd_image_path(const struct vhd_image *img) { return img->path; }
uint32_t vhd_image_block_size(const struct vhd_image *img) { return img->block_size; }
uint32_t vhd_image_n_blocks(const struct vhd_image *img) { return img->n_entries; }
uint64_t vhd_image_block_stride(const struct vhd_image *img) { return img->stride; }
bool vhd_image_is_readonly(const struct vhd_image *img) { return img->readonly; }
int vhd_image_fd(const struct vhd_image *img) { return img->fd; }

const uint32_t *vhd_image_bat_table(const struct vhd_image *img)
{
        return img->bat;
}

uint32_t vhd_image_bat_entry(struct vhd_image *img, uint32_t n)
{
        uint32_t e;

        if (!img->bat || n >= img->n_entries)
                return VHD_BAT_UNUSED;
        pthread_rwlock_rdlock(&img->lock);
        e = bat_load(img, n);
        pthread_rwlock_unlock(&img->lock);
        return e;
}

uint32_t vhd_image_blocks_allocated(const struct vhd_image *img)
{
        uint32_t n = 0;

        /* Unlocked: each entry whole, old or new (a count needs no order). */
        for (uint32_t i = 0; img->bat && i < img->n_entries; i++)
                n += __atomic_load_n(&img->bat[i], __ATOMIC_RELAXED) != VHD_BAT_UNUSED;
        return n;
}

struct vhd_image *vhd_image_free(struct vhd_image *img)
{
        if (!img)
                return NULL;
        vhd_image_free(img->parent);
        if (img->fd >= 0)
                close(img->fd);
        if (img->lock_init)
                pthread_rwlock_destroy(&img->lock);
        free(img->bat);
        free(img->bitmap_state);
        free(img->path);
        free(img);
        return NULL;
}

/* One occupied byte range of the file, for the overlap check. */
struct range {
        uint64_t start, len;
        const char *what;       /* field name */
        uint64_t field_off;     /* where the pointer to it lives */
        int64_t index;          /* BAT index for blocks, else -1 */
};

static int range_cmp(const void *a, const void *b)
{
        const struct range *x = a, *y = b;
        /* Equal starts are ordered by where their pointers live, so that a
         * given file always blames the same field whatever qsort() does
         * with ties (it is not guaranteed to be stable). */
        if (x->start != y->start)
                return x->start < y->start ? -1 : 1;
        return x->field_off < y->field_off ? -1 : x->field_off > y->field_off;
}

static int read_footers(struct vhd_image *img, struct vc_problems *problems)
{
        uint8_t end[VHD_FOOTER_SIZE], copy[VHD_FOOTER_SIZE];
        bool collect = problems && problems->collect;
        int r, rend;

        if (img->file_size < VHD_FOOTER_SIZE)
                return vc_problem_add(problems, VC_PROBLEM_TOO_SMALL, -EBADMSG, NULL, 0,
                                      "file of %llu bytes is too small to be a VHD",
                                      (unsigned long long) img->file_size);
        if (img->file_size % VHD_SECTOR_SIZE != 0)
                /* Pre-2004 Virtual PC wrote a 511-byte footer; we do not guess. */
                /* Point at where the 512-byte grid breaks. */
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EOPNOTSUPP, NULL,
                                      img->file_size / VHD_SECTOR_SIZE * VHD_SECTOR_SIZE,
                                      "file size %llu is not a multiple of 512 (legacy 511-byte footer or truncated file)",
                                      (unsigned long long) img->file_size);
        img->footer_off = img->file_size - VHD_FOOTER_SIZE;
        r = pread_full(img->fd, end, sizeof end, img->footer_off);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, img->footer_off,
                                      "cannot read the footer: %s", strerror(-r));
        rend = vhd_footer_parse(end, img->footer_off, img->file_size, problems, &img->footer);
        if (rend < 0 && !collect)
                return rend;

        /* Dynamic disks carry an identical copy at offset 0.  Fixed disks have
         * guest data there. */
        if (rend == 0 && img->footer.disk_type == VHD_TYPE_FIXED)
                return 0;
        if (img->file_size < 2 * VHD_FOOTER_SIZE)
                return rend;
        r = pread_full(img->fd, copy, sizeof copy, 0);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, 0,
                                      "cannot read the footer copy: %s", strerror(-r));
        if (rend < 0) {
                /* Check mode: say whether the copy could repair the end footer,
                 * and go on with it so the rest of the file gets checked. */
                struct vc_problems quiet = { .collect = false };
                struct vhd_footer f;
                if (vhd_footer_parse(copy, 0, img->file_size, &quiet, &f) == 0 &&
                    f.disk_type != VHD_TYPE_FIXED) {
                        vc_problem_add(problems, VC_PROBLEM_FOOTER_MISMATCH, -EBADMSG, "footer",
                                       img->footer_off,
                                       "end footer is damaged but the copy at offset 0 is valid");
                        img->footer = f;
                        return rend;
                }
                return rend;
        }
        if (memcmp(copy, end, VHD_FOOTER_SIZE) != 0)
                return vc_problem_add(problems, VC_PROBLEM_FOOTER_MISMATCH, -EBADMSG, "footer_copy",
                                      0, "footer copy at offset 0 differs from the end footer");
        return 0;
}

/*
 * The BAT is read into memory sized by its entry count, which the header
 * gives; the file's size only bounds it when the file is not sparse.  A
 * hole can hold no valid entry (it reads as zeros, and an entry of 0 puts
 * a block over the footer copy at offset 0), so the BAT must lie wholly in
 * the file's data: memory then follows the bytes the file really holds,
 * not a count in a header over a hole.  A file system that cannot tell
 * holes (EINVAL) is taken as all data, as is a block device.  The file
 * position, which a caller's descriptor may share with us, is left as it was.
 */
static int bat_in_data(struct vhd_image *img, struct vc_problems *problems)
{
        uint64_t start = img->dyn.table_offset, end = start + (uint64_t) img->n_entries * 4;
        off_t pos, hole;

        if (img->n_entries == 0)
                return 0;
        pos = lseek(img->fd, 0, SEEK_CUR);
        hole = lseek(img->fd, (off_t) start, SEEK_HOLE);
        if (pos >= 0)
                (void) lseek(img->fd, pos, SEEK_SET);
        if (hole < 0 || (uint64_t) hole >= end)
                return 0;
        uint64_t first = ((uint64_t) hole - start) / 4;
        return vc_problem_add(problems, VC_PROBLEM_BAT_OVERLAP, -EBADMSG, "bat", start + 4 * first,
                              "BAT entries from %llu on (of %u) lie in a hole of the file: they read as 0, "
                              "which places their blocks over the footer copy at offset 0",
                              (unsigned long long) first, img->n_entries);
}

static int read_header_and_bat(struct vhd_image *img, struct vc_problems *problems)
{
        bool collect = problems && problems->collect;
        uint8_t raw[VHD_DYN_SIZE];
        uint64_t bat_bytes, need, vblocks;
        int r;

        r = pread_full(img->fd, raw, sizeof raw, img->footer.data_offset);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, img->footer.data_offset,
                                      "cannot read the dynamic header: %s", strerror(-r));
        r = vhd_dyn_header_parse(raw, img->footer.data_offset, img->footer.disk_type, problems,
                                 &img->dyn);
        if (r < 0)
                return r;
        img->has_dyn = true;
        img->block_size = img->dyn.block_size;
        img->bitmap_bytes = ROUND_UP(DIV_ROUND_UP(img->block_size / VHD_SECTOR_SIZE, 8),
                                     VHD_SECTOR_SIZE);
        img->stride = (uint64_t) img->bitmap_bytes + img->block_size;
        img->n_entries = img->dyn.max_entries;

        vblocks = DIV_ROUND_UP(img->virtual_size, img->block_size);
        if (img->n_entries < vblocks)
                return vc_problem_add(problems, VC_PROBLEM_BAD_MAX_ENTRIES, -EBADMSG,
                                      "header.max_table_entries",
                                      img->footer.data_offset + VHD_DYN_OFF_MAX_ENTRIES,
                                      "%u BAT entries of %u bytes cannot cover %llu bytes",
                                      img->n_entries, img->block_size,
                                      (unsigned long long) img->virtual_size);
        /* Cap before allocating: the BAT must fit in the file. */
        bat_bytes = ROUND_UP((uint64_t) img->n_entries * 4, VHD_SECTOR_SIZE);
        if (range_outside(img->dyn.table_offset, bat_bytes, img->footer_off))
                return vc_problem_add(problems, VC_PROBLEM_BAD_TABLE_OFFSET, -EBADMSG,
                                      "header.table_offset",
                                      img->footer.data_offset + VHD_DYN_OFF_TABLE_OFFSET,
                                      "BAT of %u entries at offset %llu does not fit before the footer at %llu",
                                      img->n_entries, (unsigned long long) img->dyn.table_offset,
                                      (unsigned long long) img->footer_off);
        if (img->n_entries > DIV_ROUND_UP(VHD_MAX_SIZE, img->block_size))
                return vc_problem_add(problems, VC_PROBLEM_BAD_MAX_ENTRIES, -EBADMSG,
                                      "header.max_table_entries",
                                      img->footer.data_offset + VHD_DYN_OFF_MAX_ENTRIES,
                                      "%u BAT entries describe more than 2040 GiB", img->n_entries);
        (void) need;
        (void) collect;
        r = bat_in_data(img, problems);
        if (r < 0)
                return r;

        /* Read straight into the table and convert in place: no second
         * copy of what is 16 MiB for a 2040 GiB disk of 512 KiB blocks. */
        img->bat = malloc(MAX((uint64_t) img->n_entries * sizeof(uint32_t), (uint64_t) 1));
        img->bitmap_state = calloc(img->n_entries ? img->n_entries : 1, 1);
        if (!img->bat || !img->bitmap_state)
                return -ENOMEM;
        r = pread_full(img->fd, img->bat, (uint64_t) img->n_entries * 4, img->dyn.table_offset);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, NULL, img->dyn.table_offset,
                                      "cannot read the BAT: %s", strerror(-r));
        for (uint32_t i = 0; i < img->n_entries; i++)
                img->bat[i] = get_be32((const uint8_t *) &img->bat[i]);
        return 0;
}

/* Every structure inside the file, none sharing a byte with another. */
static int validate_layout(struct vhd_image *img, struct vc_problems *problems)
{
        bool collect = problems && problems->collect;
        uint64_t hdr = img->footer.data_offset, n = 0, max_end = 0;
        int r = 0;

        /* The metadata's ranges, then the blocks', in that order. */
        struct range meta[4 + VHD_DYN_N_LOCATORS];
        size_t n_meta = 0;
        meta[n_meta++] = (struct range) { 0, VHD_FOOTER_SIZE, "footer_copy", 0, -1 };
        meta[n_meta++] = (struct range) { hdr, VHD_DYN_SIZE, "footer.data_offset",
                                          VHD_FOOTER_OFF_DATA_OFFSET, -1 };
        meta[n_meta++] = (struct range) { img->dyn.table_offset,
                                          ROUND_UP((uint64_t) img->n_entries * 4, VHD_SECTOR_SIZE),
                                          "header.table_offset", hdr + VHD_DYN_OFF_TABLE_OFFSET, -1 };
        meta[n_meta++] = (struct range) { img->footer_off, VHD_FOOTER_SIZE, "footer", img->footer_off, -1 };

        for (unsigned i = 0; i < VHD_DYN_N_LOCATORS; i++) {
                const struct vhd_locator *l = &img->dyn.locators[i];
                uint64_t field = hdr + VHD_DYN_OFF_LOCATORS + i * VHD_DYN_LOCATOR_SIZE;

                if (l->code == VHD_LOC_NONE || l->data_length == 0)
                        continue;
                if (range_outside(l->data_offset, l->data_length, img->footer_off)) {
                        r = vc_problem_add(problems, VC_PROBLEM_BAD_LOCATOR, -EBADMSG,
                                           "header.parent_locator.data_offset",
                                           field + VHD_LOC_OFF_DATA_OFFSET,
                                           "parent locator %u payload [%llu, +%u) lies outside the file",
                                           i, (unsigned long long) l->data_offset, l->data_length);
                        if (!collect)
                                return r;
                        continue;
                }
                meta[n_meta++] = (struct range) { l->data_offset, l->data_length,
                                                  "header.parent_locator.data_offset",
                                                  field + VHD_LOC_OFF_DATA_OFFSET, -1 };
        }

        /* At most fit = footer_off / stride blocks can lie apart inside
         * the file, so any fit + 1 of them include an overlap: the list
         * holds no more than that many, and its size follows the file's
         * (a BAT of millions of entries that are all 0 would otherwise
         * cost gigabytes).  Beyond them, overlaps go unlisted. */
        uint64_t in_file = 0, fit = img->footer_off / img->stride;
        for (uint32_t i = 0; i < img->n_entries; i++) {
                uint64_t start, field = img->dyn.table_offset + 4 * (uint64_t) i;

                if (img->bat[i] == VHD_BAT_UNUSED)
                        continue;
                start = (uint64_t) img->bat[i] * VHD_SECTOR_SIZE;
                if (range_outside(start, img->stride, img->footer_off)) {
                        r = vc_problem_add(problems, VC_PROBLEM_BAT_OUT_OF_FILE, -EBADMSG, "bat",
                                           field,
                                           "block %u at offset %llu (%llu bytes) extends past the footer at %llu",
                                           i, (unsigned long long) start,
                                           (unsigned long long) img->stride,
                                           (unsigned long long) img->footer_off);
                        if (!collect)
                                return r;
                        continue;
                }
                in_file++;
        }
        in_file = MIN(in_file, fit + 1);

        _cleanup_free_ struct range *v = malloc((in_file + n_meta) * sizeof *v);
        if (!v)
                return -ENOMEM;
        memcpy(v, meta, n_meta * sizeof *v);
        n = n_meta;
        for (uint32_t i = 0; i < img->n_entries && n < n_meta + in_file; i++) {
                uint64_t start = (uint64_t) img->bat[i] * VHD_SECTOR_SIZE;

                if (img->bat[i] == VHD_BAT_UNUSED || range_outside(start, img->stride, img->footer_off))
                        continue;       /* out of the file: reported above */
                v[n++] = (struct range) { start, img->stride, "bat",
                                          img->dyn.table_offset + 4 * (uint64_t) i, i };
        }

        qsort(v, n, sizeof *v, range_cmp);
        /* Sorted by start, an overlap always involves a range and one that
         * began before it; tracking the furthest end so far finds them all. */
        size_t furthest = 0;
        for (size_t k = 0; k < n; k++) {
                if (k > 0 && v[k].start < max_end) {
                        const struct range *a = &v[furthest], *b = &v[k];
                        /* Blame the pointer most likely to be wrong: a block's
                         * BAT entry, else a locator, else the later range. */
                        const struct range *blame = b->index >= 0 ? b : a->index >= 0 ? a :
                                                    strstr(a->what, "locator") ? a : b;
                        char an[48], bn[48];
                        if (a->index >= 0)
                                snprintf(an, sizeof an, "block %lld", (long long) a->index);
                        else
                                snprintf(an, sizeof an, "%s", a->what);
                        if (b->index >= 0)
                                snprintf(bn, sizeof bn, "block %lld", (long long) b->index);
                        else
                                snprintf(bn, sizeof bn, "%s", b->what);
                        r = vc_problem_add(problems, VC_PROBLEM_BAT_OVERLAP, -EBADMSG, blame->what,
                                           blame->field_off,
                                           "%s [%llu, +%llu) overlaps %s [%llu, +%llu)", bn,
                                           (unsigned long long) b->start,
                                           (unsigned long long) b->len, an,
                                           (unsigned long long) a->start,
                                           (unsigned long long) a->len);
                        if (!collect)
                                return r;
                }
                if (v[k].start + v[k].len > max_end) {
                        max_end = v[k].start + v[k].len;
                        furthest = k;
                }
        }
        return r;
}

int vhd_image_open_fd_depth(int fd, const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                            const struct vhd_chain *below, struct vc_problems *problems, struct vhd_image **ret)
{
        _cleanup_close_ int owned = fd;
        bool collect = problems && problems->collect;
        bool rdwr = flags & VHD_OPEN_RDWR;
        struct stat st;
        int r, fl, first_error = 0;

        _cleanup_(vhd_image_freep) struct vhd_image *img = calloc(1, sizeof *img);
        if (!img)
                return -ENOMEM;
        img->fd = TAKE_FD(owned);
        img->readonly = !rdwr;
        img->path = strdup(path);
        if (!img->path)
                return -ENOMEM;
        if (pthread_rwlock_init(&img->lock, NULL) != 0)
                return -ENOMEM;
        img->lock_init = true;
        if (ctx)
                img->ctx = (struct vc_open_ctx) { .opener = ctx->opener, .userdata = ctx->userdata,
                                                  .fd = VC_BY_NAME, .dir_fd = VC_BY_NAME,
                                                  .parent_path = depth == 0 ? ctx->parent_path : NULL };
        else
                img->ctx = (struct vc_open_ctx) VC_OPEN_CTX_INIT;

        /* A descriptor from a caller or an opener may not allow what
         * we are asked to do; say so now rather than fail the first write. */
        fl = fcntl(img->fd, F_GETFL);
        if (fl < 0)
                return -errno;
        if (rdwr && (fl & O_ACCMODE) == O_RDONLY)
                return -EBADF;
        if (fstat(img->fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, -EINVAL, NULL, 0,
                                      "not a regular file");
        img->dev = st.st_dev;
        img->ino = st.st_ino;
        img->file_size = (uint64_t) st.st_size;
        if (!(flags & VHD_OPEN_NOLOCK)) {
                r = fd_lock_ofd(img->fd, rdwr);
                if (r == -EBUSY)
                        return vc_problem_add(problems, VC_PROBLEM_IN_USE, r, NULL, 0,
                                              "image is in use by another process (conflicting lock)");
                if (r < 0)
                        return r;
        }

#define STEP(expr)                                   \
        do {                                         \
                r = (expr);                          \
                if (r < 0) {                         \
                        if (!collect || r == -ENOMEM) \
                                return r;            \
                        if (!first_error)            \
                                first_error = r;     \
                }                                    \
        } while (0)

        r = read_footers(img, problems);
        if (r < 0 && (!collect || img->footer.disk_type == 0))
                return r;
        if (r < 0)
                first_error = r;
        img->virtual_size = img->footer.current_size;

        if (img->footer.disk_type != VHD_TYPE_FIXED) {
                r = read_header_and_bat(img, problems);
                if (r < 0)
                        return r;
                STEP(validate_layout(img, problems));
                img->append_off = img->footer_off;
        }
        if (rdwr && img->footer.saved_state)
                STEP(vc_problem_add(problems, VC_PROBLEM_SAVED_STATE, -EPERM, "footer.saved_state",
                                    img->footer_off + VHD_FOOTER_OFF_SAVED_STATE,
                                    "the disk belongs to a saved virtual machine state; it must not be modified"));
        if (img->footer.disk_type == VHD_TYPE_DIFFERENCING && !(flags & VHD_OPEN_NOPARENT))
                STEP(vhd_parent_open(img, flags, depth, below, problems));
#undef STEP
        img->ctx.parent_path = NULL;    /* the caller's string: open time only */
        if (first_error < 0)
                return first_error;
        *ret = TAKE_PTR(img);
        return 0;
}

int vhd_image_open_depth(const char *path, const struct vc_open_ctx *ctx, unsigned flags, int depth,
                         const struct vhd_chain *below, struct vc_problems *problems, struct vhd_image **ret)
{
        int fd = vc_open_path(ctx, path, flags & VHD_OPEN_RDWR);

        /* A parent's caller says why it cannot be used (parent.c). */
        if (fd == -EBADFD && depth == 0)
                return vc_problem_add(problems, VC_PROBLEM_NOT_SUPPORTED, fd, NULL, 0,
                                      "not a regular file or block device (a folder, FIFO, socket or "
                                      "character device)");
        if (fd < 0)
                return fd;
        return vhd_image_open_fd_depth(fd, path, ctx, flags, depth, below, problems, ret);
}

int vhd_image_open_ctx(const char *path, const struct vc_open_ctx *ctx, unsigned flags,
                       struct vc_problems *problems, struct vhd_image **ret)
{
        int copy;

        if (!ctx || ctx->fd == VC_BY_NAME)
                return vhd_image_open_depth(path, ctx, flags, 0, NULL, problems, ret);
        if (!path)
                return -EINVAL;
        if (ctx->fd < 0)
                return -EBADF;
        /* Our own copy: the image closes it, the caller closes theirs. */
        copy = fcntl(ctx->fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        return vhd_image_open_fd_depth(copy, path, ctx, flags, 0, NULL, problems, ret);
}

int vhd_image_open(const char *path, unsigned flags, struct vc_problems *problems,
                   struct vhd_image **ret)
{
        return vhd_image_open_ctx(path, NULL, flags, problems, ret);
}

int vhd_image_open_fd(int fd, const char *path, unsigned flags, struct vc_problems *problems,
                      struct vhd_image **ret)
{
        const struct vc_open_ctx ctx = { .fd = fd < 0 ? -1 : fd, .dir_fd = VC_BY_NAME };

        return vhd_image_open_ctx(path, &ctx, flags, problems, ret);
}

/* Reads the merged view where this image has nothing of its own: the
 * parent for differencing disks, zeros otherwise (and past the parent's end). */
static int read_below(struct vhd_image *img, uint8_t *buf, uint64_t len, uint64_t off)
{
        struct vhd_image *p = img->parent;
        uint64_t have;

        if (img->footer.disk_type != VHD_TYPE_DIFFERENCING || !p || off >= p->virtual_size) {
                memset(buf, 0, len);
                return 0;
        }
        have = MIN(len, p->virtual_size - off);
        if (have < len)
                memset(buf + have, 0, len - have);
        return vhd_image_pread(p, buf, have, off);
}

int vhd_bitmap_learn(struct vhd_image *img, uint32_t blk, uint32_t e)
{
        uint64_t nbits = img->block_size / VHD_SECTOR_SIZE, nbytes = DIV_ROUND_UP(nbits, 8);
        uint8_t state = __atomic_load_n(&img->bitmap_state[blk], __ATOMIC_RELAXED);
        bool full;

        /* Differencing blocks are never treated as full: a set bit there
         * still has to be read per sector to honour the ones that are clear. */
        if (state != BITMAP_UNKNOWN || img->footer.disk_type != VHD_TYPE_DYNAMIC)
                return state == BITMAP_UNKNOWN ? BITMAP_PARTIAL : state;
        _cleanup_free_ uint8_t *bm = malloc(nbytes);
        full = bm && pread_full(img->fd, bm, nbytes, (uint64_t) e * VHD_SECTOR_SIZE) == 0;
        for (uint64_t i = 0; full && i < nbits; i++)
                full = bitmap_bit(bm, i);
        state = full ? BITMAP_FULL : BITMAP_PARTIAL;
        __atomic_store_n(&img->bitmap_state[blk], state, __ATOMIC_RELAXED);
        return state;
}

int vhd_block_read(struct vhd_image *img, uint32_t blk, uint32_t e, uint8_t *buf, uint64_t inoff,
                   uint64_t len)
{
        uint64_t base = (uint64_t) blk * img->block_size;
        uint64_t block_off = (uint64_t) e * VHD_SECTOR_SIZE;
        uint64_t data_off = block_off + img->bitmap_bytes;
        uint8_t state;
        int r;

        if (e == VHD_BAT_UNUSED)
                return read_below(img, buf, len, base + inoff);

        state = vhd_bitmap_learn(img, blk, e);
        if (state == BITMAP_FULL)
                return pread_full(img->fd, buf, len, data_off + inoff);

        /* Read just the bytes of the bitmap that cover this piece. */
        uint64_t s0 = inoff / VHD_SECTOR_SIZE, s1 = (inoff + len - 1) / VHD_SECTOR_SIZE;
        uint64_t b0 = s0 / 8, b1 = s1 / 8;
        _cleanup_free_ uint8_t *bm = malloc(b1 - b0 + 1);
        if (!bm)
                return -ENOMEM;
        r = pread_full(img->fd, bm, b1 - b0 + 1, block_off + b0);
        if (r < 0)
                return r;

        /* Runs of sectors with the same bit: ours from the file, the others
         * from below. */
        uint64_t pos = inoff, end = inoff + len;
        while (pos < end) {
                uint64_t s = pos / VHD_SECTOR_SIZE;
                bool present = bitmap_bit(bm, s - b0 * 8);
                uint64_t run_end = (s + 1) * VHD_SECTOR_SIZE;
                while (run_end < end && bitmap_bit(bm, run_end / VHD_SECTOR_SIZE - b0 * 8) == present)
                        run_end += VHD_SECTOR_SIZE;
                run_end = MIN(run_end, end);
                if (present)
                        r = pread_full(img->fd, buf + (pos - inoff), run_end - pos, data_off + pos);
                else
                        r = read_below(img, buf + (pos - inoff), run_end - pos, base + pos);
                if (r < 0)
                        return r;
                pos = run_end;
        }
        return 0;
}

int vhd_image_pread(struct vhd_image *img, void *buf, size_t count, uint64_t offset)
{
        uint8_t *p = buf;

        if (range_outside(offset, count, img->virtual_size))
                return -EINVAL;
        if (img->footer.disk_type == VHD_TYPE_FIXED)
                return pread_full(img->fd, buf, count, offset);

        while (count > 0) {
                uint32_t blk = (uint32_t) (offset / img->block_size);
                uint64_t inoff = offset % img->block_size;
                uint64_t len = MIN((uint64_t) count, img->block_size - inoff);
                uint32_t e;
                int r;

                pthread_rwlock_rdlock(&img->lock);
                e = bat_load(img, blk);
                pthread_rwlock_unlock(&img->lock);
                r = vhd_block_read(img, blk, e, p, inoff, len);
                if (r < 0)
                        return r;
                p += len;
                offset += len;
                count -= len;
        }
        return 0;
}
