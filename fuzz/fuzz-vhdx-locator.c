/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-vhdx-locator: the parent locator item of a differencing VHDX
 * (lib/vhdx/locator.c) and the search for the parent that consumes it
 * (parent.c), through a full open of the child.
 *
 * The child (4 MiB disk of 1 MiB blocks: block 0 FULLY_PRESENT, block 2
 * PARTIALLY_PRESENT, the rest from the parent) is built once with the
 * tests' independent builder (tests/lib/vhdx-builder.c); only its locator
 * item changes per input.  The input:
 *
 *   byte 0   which files exist around the child (bits, see files[])
 *   byte 1   bit 0: the rest is the raw item; else records
 *            key (1), value length (1), value: an item the harness lays
 *            out (header, entries, UTF-16LE strings) so that the fuzzer
 *            spends its time on keys and paths, not on offsets:
 *              key & 7: parent_linkage, parent_linkage2, relative_path,
 *                       volume_path, absolute_win32_path, a key of the
 *                       input (value[0] = its length), an unknown key,
 *                       the previous record's key again (a duplicate)
 *              key & 0x80: the value's bytes are UTF-16LE as they are
 *                       (else UTF-8, converted; odd lengths stay odd)
 *              key & 0x40: the value is the GUID text of a known disk
 *                       (value[0] % 4: parent, other parent, loop disk,
 *                       the child), value[1] choosing braces and case
 *
 * Safety: parents are opened only through the open context's opener,
 * which serves a table of in-memory files (memfds) under a name rooted in
 * an empty temporary folder, resolving "." and ".." by hand; a name
 * outside the folder or not in the table is -ENOENT.  Nothing the input
 * says is ever opened on the host; the only file-system call with its
 * name is parent.c's realpath() of the child, which lies in the empty
 * folder.
 *
 * Invariants: the item parsed alone (vhdx_locator_parse) fails exactly
 * when the open fails with bad-locator; a refused open names a problem of
 * the parent family (bad-locator, parent-not-found, -mismatch, -loop); the
 * opener is never asked to write; a bound parent has the DataWriteGuid of
 * parent_linkage or parent_linkage2 and the child's sector size; then the
 * whole disk reads as the builder says it must.
 */
#include <fcntl.h>
#include <limits.h>

#include "fuzz-common.h"
#include "util/utf16.h"
#include "vhd-builder.h"
#include "vhdx-builder.h"
#include "vhdx/vhdx.h"

#define DISK (4u * VXB_MIB)
#define MAX_ITEM (64u * VXB_KIB)

struct vfile {
        const char *name;               /* under the root */
        int fd;                         /* -1: the child itself */
};

static char root[64];
static struct vxb_image *parent, *other, *sector4k, *loop, *child;
static uint64_t item_off, item_entry;
static uint8_t *expect, *got;
static int child_fd = -1;
static unsigned present;
static unsigned opener_calls;

static struct vfile files[9] = {
        { "d/parent.vhdx", -1 },        /* bit 0: the parent */
        { "d/other.vhdx", -1 },         /* bit 1: the same disk, another DataWriteGuid */
        { "parent.vhdx", -1 },          /* bit 2: the parent, one folder up */
        { "d/sub/parent.vhdx", -1 },    /* bit 3: the parent, one folder down */
        { "d/old.vhd", -1 },            /* bit 4: a VHD */
        { "d/child.vhdx", -1 },         /* bit 5: the child itself (a loop) */
        { "d/p4k.vhdx", -1 },           /* bit 6: the parent's GUID, 4096-byte sectors */
        { "d/junk.vhdx", -1 },          /* bit 7: not a disk */
        { "d/loop.vhdx", -1 },          /* always: a child of the child (a loop below) */
};

/* Which 64 KiB chunks of a buffer hold anything: scanned once per file
 * (the harness's own loops are instrumented too, and slow). */
#define CHUNK (64u * VXB_KIB)
static bool *nonzero_chunks(const uint8_t *buf, size_t len)
{
        bool *nz = calloc(len / CHUNK + 1, 1);

        if (!nz)
                abort();
        for (size_t o = 0; o < len; o += CHUNK) {
                size_t n = MIN(len - o, (size_t) CHUNK);
                static const uint8_t zeros[CHUNK];
                nz[o / CHUNK] = memcmp(buf + o, zeros, n) != 0;
        }
        return nz;
}

/* A memfd of buf: the chunks nz says (all when NULL), and [hot, hot+hot_len). */
static int image_memfd_nz(const uint8_t *buf, size_t len, const bool *nz, size_t hot, size_t hot_len)
{
        int fd = memfd_create("vfile", MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, (off_t) len) < 0)
                abort();
        for (size_t o = 0; o < len; o += CHUNK) {
                size_t n = MIN(len - o, (size_t) CHUNK);
                bool want = !nz || nz[o / CHUNK] || (o < hot + hot_len && o + n > hot);
                if (want && pwrite(fd, buf + o, n, (off_t) o) != (ssize_t) n)
                        abort();
        }
        return fd;
}

static int image_memfd(const uint8_t *buf, size_t len)
{
        _cleanup_free_ bool *nz = nonzero_chunks(buf, len);
        return image_memfd_nz(buf, len, nz, 0, 0);
}

static void rm_root(void)
{
        rmdir(root);
}

static void setup(void)
{
        struct vxb_params pp = { .type = VXB_DYNAMIC, .virtual_size = DISK };
        struct vxb_params cp = { .type = VXB_DIFFERENCING, .virtual_size = DISK };
        struct vxb_params p4 = { .type = VXB_DYNAMIC, .virtual_size = DISK, .logical_sector = 4096 };
        char path[128];

        snprintf(root, sizeof root, "/tmp/fuzz-vhdx-locator-XXXXXX");
        if (!mkdtemp(root))
                abort();
        atexit(rm_root);
        vxb_guid_seed(7);
        parent = vxb_new(&pp);
        for (uint64_t b = 1; b < 4; b++)
                vxb_alloc_block(parent, b, (int) (b + 0x10));
        other = vxb_new(&pp);
        for (uint64_t b = 1; b < 4; b++)
                vxb_alloc_block(other, b, (int) (b + 0x10));
        sector4k = vxb_new(&p4);
        for (int w = 1; w <= 2; w++)
                vxb_header_put(sector4k, w, VXB_HDR_DATA_WRITE_GUID, parent->data_write_guid, 16,
                               VXB_FIX_CHECKSUM);
        child = vxb_new(&cp);
        snprintf(path, sizeof path, "%s/d/parent.vhdx", root);
        vxb_set_parent_image(child, parent, path);
        vxb_alloc_block(child, 0, 0x21);
        vxb_alloc_partial(child, 2, 0x22);
        item_entry = vxb_metadata_entry(child, VXB_GUID_PARENT_LOCATOR);
        item_off = vxb_metadata_item(child, VXB_GUID_PARENT_LOCATOR);
        FUZZ_CHECK(item_entry && item_off && item_off + MAX_ITEM <= child->meta_off + VXB_MIB);
        /* One file for the child, for every input: only its metadata
         * table and locator item change (the open never writes). */
        child_fd = image_memfd(child->buf, child->len);
        loop = vxb_new(&cp);
        vxb_set_parent(loop, child->data_write_guid, "child.vhdx", NULL, NULL, DISK, NULL, NULL);

        files[0].fd = files[2].fd = files[3].fd = image_memfd(parent->buf, parent->len);
        files[1].fd = image_memfd(other->buf, other->len);
        {
                struct vb_image *v = vb_dynamic(DISK, 1 << 20, VHD_TYPE_DYNAMIC);
                files[4].fd = image_memfd(v->buf, v->len);
                vb_free(v);
        }
        files[6].fd = image_memfd(sector4k->buf, sector4k->len);
        {
                static const char junk[] = "not a VHDX, not a VHD either\n";
                files[7].fd = image_memfd((const uint8_t *) junk, sizeof junk);
        }
        files[8].fd = image_memfd(loop->buf, loop->len);
        expect = malloc(DISK);
        got = malloc(DISK);
        if (!expect || !got)
                abort();
        vxb_expected_read(child, VXB_VIEW_REPLAYED, 0, expect, DISK);
}

/* path, resolved lexically under root (nothing under it is a symbolic
 * link: it is all in memory); the file's index, or -1. */
static int lookup(const char *path)
{
        char buf[PATH_MAX], *comp[PATH_MAX / 2], *save = NULL;
        size_t rl = strlen(root), n = 0;

        if (strncmp(path, root, rl) || path[rl] != '/' || strlen(path + rl) >= sizeof buf)
                return -1;
        strcpy(buf, path + rl);
        for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..")) {
                        if (n == 0)
                                return -1;      /* above the root: never opened */
                        n--;
                        continue;
                }
                comp[n++] = c;
        }
        char norm[PATH_MAX] = "";
        for (size_t i = 0; i < n; i++) {
                if (strlen(norm) + strlen(comp[i]) + 2 >= sizeof norm)
                        return -1;
                if (i)
                        strcat(norm, "/");
                strcat(norm, comp[i]);
        }
        for (int i = 0; i < (int) ELEMENTSOF(files); i++)
                if (!strcmp(norm, files[i].name))
                        return (i == 8 || (present >> i & 1)) ? i : -1;
        return -1;
}

static int opener(const char *path, bool rdwr, void *userdata)
{
        (void) userdata;
        FUZZ_CHECK(!rdwr);                      /* parents are never written */
        FUZZ_CHECK(strlen(path) < PATH_MAX);
        opener_calls++;
        int i = lookup(path);
        if (i < 0)
                return -ENOENT;
        int fd = fcntl(i == 5 ? child_fd : files[i].fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                abort();
        return fd;
}

static const uint8_t *guid_of(unsigned k)
{
        switch (k % 4) {
        case 0: return parent->data_write_guid;
        case 1: return other->data_write_guid;
        case 2: return loop->data_write_guid;
        default: return child->data_write_guid;
        }
}

/* One string into the item at *at (UTF-16LE); its length. */
static size_t put_string(uint8_t *item, size_t *at, const uint8_t *v, size_t n, bool raw)
{
        size_t room = MAX_ITEM - *at;
        int k;

        if (raw || n == 0) {
                n = MIN(n, room);
                memcpy(item + *at, v, n);
                *at += n;
                return n;
        }
        char s[256];
        memcpy(s, v, n);
        s[n] = 0;
        k = utf8_to_utf16(s, false, item + *at, room);
        if (k < 0) {    /* not UTF-8 (or a NUL inside): the bytes as they are */
                n = MIN(n, room);
                memcpy(item + *at, v, n);
                *at += n;
                return n;
        }
        *at += (size_t) k;
        return (size_t) k;
}

static size_t build_item(const uint8_t *d, size_t size, uint8_t *item)
{
        static const uint8_t type[16] = { 0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
                                          0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };
        static const char *const keys[] = { "parent_linkage", "parent_linkage2", "relative_path", "volume_path",
                                            "absolute_win32_path" };
        size_t n = 0, at, i;
        uint32_t prev_ko = 0;
        uint16_t prev_kl = 0;

        /* Count the records first: the strings follow the entries. */
        for (i = 0; i + 2 <= size && n < 256; n++)
                i += 2 + d[i + 1];
        memset(item, 0, MAX_ITEM);
        memcpy(item, type, 16);
        put_le16(item + 18, (uint16_t) n);
        at = 20 + 12 * n;
        i = 0;
        for (size_t e = 0; e < n; e++) {
                uint8_t k = d[i], vl = d[i + 1];
                const uint8_t *v = d + i + 2;
                uint8_t *ent = item + 20 + 12 * e;
                size_t have = MIN((size_t) vl, size - i - 2), kl;
                i += 2 + vl;
                if (at + 2 * 256 + 600 > MAX_ITEM)
                        break;
                put_le32(ent, (uint32_t) at);
                switch (k & 7) {
                case 5: {
                        size_t m = have ? MIN((size_t) v[0], have - 1) : 0;
                        kl = put_string(item, &at, v + (have ? 1 : 0), m, k & 0x80);
                        v += m + (have ? 1 : 0);
                        have -= m + (have ? 1 : 0);
                        break;
                }
                case 6:
                        kl = put_string(item, &at, (const uint8_t *) "unknown_key", 11, false);
                        break;
                case 7:
                        put_le32(ent, prev_ko ? prev_ko : (uint32_t) at);
                        kl = prev_kl;
                        break;
                default:
                        kl = put_string(item, &at, (const uint8_t *) keys[k & 7], strlen(keys[k & 7]), false);
                }
                put_le16(ent + 8, (uint16_t) kl);
                prev_ko = get_le32(ent);
                prev_kl = (uint16_t) kl;
                put_le32(ent + 4, (uint32_t) at);
                if (k & 0x40) {
                        char g[39];
                        vxb_guid_format(guid_of(have ? v[0] : 0), g);
                        unsigned style = have > 1 ? v[1] : 0;
                        const char *t = style & 1 ? g + 1 : g;
                        size_t tl = style & 1 ? 36 : 38;
                        if (style & 2)
                                for (char *c = g; *c; c++)
                                        if (*c >= 'a' && *c <= 'f')
                                                *c = (char) (*c - 32);
                        put_le16(ent + 10, (uint16_t) put_string(item, &at, (const uint8_t *) t, tl, false));
                } else
                        put_le16(ent + 10, (uint16_t) put_string(item, &at, v, have, k & 0x80));
        }
        return at;
}

static bool parent_family(enum vc_problem_id id)
{
        return id == VC_PROBLEM_BAD_LOCATOR || id == VC_PROBLEM_PARENT_NOT_FOUND ||
               id == VC_PROBLEM_PARENT_MISMATCH || id == VC_PROBLEM_PARENT_LOOP;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t *item;
        struct vc_problems ps = { .collect = false }, lps = { .collect = false };
        struct vhdx_report lrep = { .ps = &lps };
        struct vhdx_locator loc = {};
        struct vhdx_image *img = NULL;
        char path[128];
        size_t len;

        if (!parent) {
                setup();
                item = malloc(MAX_ITEM);
                if (!item)
                        abort();
        }
        if (size < 2 || size > 2 + MAX_ITEM)
                return 0;
        present = data[0];
        if (data[1] & 1) {
                len = size - 2;
                if (len == 0)
                        return 0;       /* no item: metadata.c's to refuse, not ours */
                memset(item, 0, MAX_ITEM);
                memcpy(item, data + 2, len);
        } else
                len = build_item(data + 2, size - 2, item);

        /* The item alone. */
        int lr = vhdx_locator_parse(item, (uint32_t) len, item_off, &lrep, &loc);
        if (lr == 0) {
                bool any = false;
                for (int k = 0; k < VHDX_LOC_N_PATHS; k++)
                        if (loc.path[k]) {
                                any = true;
                                FUZZ_CHECK(strlen(loc.path[k]) <= len / 2 * 3);
                        }
                FUZZ_CHECK(any);
        } else if (lr != -ENOMEM)
                FUZZ_CHECK(vc_problems_any(&lps) && lps.first.id == VC_PROBLEM_BAD_LOCATOR);
        vc_problems_done(&lps);

        /* The child with it, opened as the engine does. */
        memcpy(child->buf + item_off, item, MAX_ITEM);
        put_le32(child->buf + item_entry + VXB_MTE_LENGTH, (uint32_t) len);
        if (pwrite(child_fd, child->buf + child->meta_off, item_off + MAX_ITEM - child->meta_off,
                   (off_t) child->meta_off) != (ssize_t) (item_off + MAX_ITEM - child->meta_off))
                abort();
        int fd = fcntl(child_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                abort();
        snprintf(path, sizeof path, "%s/d/child.vhdx", root);
        const struct vc_open_ctx ctx = { .opener = opener, .fd = VC_BY_NAME, .dir_fd = -1 };
        opener_calls = 0;
        int r = vhdx_image_open_fd_ctx(fd, path, &ctx, VHDX_OPEN_NOLOCK, &ps, &img);
        if (getenv("FUZZ_VERBOSE")) {   /* what a seed does, for whoever writes one */
                char what[600] = "bound";
                if (r < 0)
                        vc_problem_format(&ps.first, what, sizeof what);
                fprintf(stderr, "open: %d %s\n", r, what);
        }
        if (r == 0) {
                const struct vhdx_image *p = vhdx_image_parent(img);
                FUZZ_CHECK(lr == 0);
                FUZZ_CHECK(p);
                const struct vhdx_headers *ph = vhdx_image_headers(p);
                const uint8_t *dwg = ph->h[ph->current].data_write_guid;
                FUZZ_CHECK(!memcmp(dwg, loc.linkage, 16) || (loc.has_linkage2 && !memcmp(dwg, loc.linkage2, 16)));
                FUZZ_CHECK(vhdx_image_metadata(p)->logical_sector_size ==
                           vhdx_image_metadata(img)->logical_sector_size);
                /* Every bindable file holds the parent's bytes. */
                FUZZ_CHECK(vhdx_image_pread(img, got, DISK, 0) == 0);
                FUZZ_CHECK(memcmp(got, expect, DISK) == 0);
                vhdx_image_free(img);
        } else if (r != -ENOMEM) {
                FUZZ_CHECK(vc_problems_any(&ps));
                if (!parent_family(ps.first.id)) {
                        char what[600];
                        vc_problem_format(&ps.first, what, sizeof what);
                        fprintf(stderr, "unexpected problem: %s\n", what);
                        abort();
                }
                /* What the item alone refuses, the open refuses for it. */
                FUZZ_CHECK((lr < 0) == (ps.first.id == VC_PROBLEM_BAD_LOCATOR));
        }
        vhdx_locator_done(&loc);
        vc_problems_done(&ps);
        return 0;
}
