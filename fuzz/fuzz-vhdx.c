/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-vhdx: lib/vhdx's open (header, region table, metadata, BAT and the
 * occupancy map), read, extents and check.
 *
 * A VHDX is at least 4 MiB of mostly zeros, too big for libFuzzer to
 * mutate as a whole, so the input is a list of patches over a valid base
 * image built here (header section; log at 1 MiB; BAT at 2 MiB; metadata
 * at 3 MiB; 8 MiB disk of 1 MiB blocks, block 0 at 4 MiB and block 3 at
 * 5 MiB, block 1 ZERO; file 6 MiB):
 *
 *   byte 0       flags: bit 0 keep the checksums as patched (else the
 *                CRC-32C of both headers and both region tables are
 *                recomputed after patching), bits 1-3 the file size
 *   then records target (1), offset (2, LE), length (1), bytes
 *
 * A record's target picks where its offset counts from (identifier,
 * header 1 or 2, region table 1 or 2, metadata table, metadata items,
 * BAT, or the whole file), so that mutations land on structures.  The
 * file is opened read-only through a memfd as production does, then in
 * collect mode as `vhdctl check` does.
 *
 * Invariants after a successful open: reads inside the disk succeed and
 * give what the file says (data at the BAT's offset for a fully present
 * block, else zeros); reads past the end fail; extents are contiguous and
 * say data exactly for fully present blocks; every fully present block
 * lies inside the file past the header section; a refused open names a
 * problem, and check (0 clean, 1 problems) lists something for it.
 */
#include <fcntl.h>

#include "fuzz-common.h"
#include "util/crc32c.h"
#include "vhdx/vhdx.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define BASE_SIZE (6 * MiB)
#define MAX_SIZE (10 * MiB)
#define BAT_AT (2 * MiB)
#define META_AT (3 * MiB)

static uint8_t *base, *raw;

static void put_guid(uint8_t *p, const uint8_t g[16]) { memcpy(p, g, 16); }

static void meta_entry(uint8_t *t, unsigned i, const uint8_t g[16], uint32_t off, uint32_t len, uint32_t flags)
{
        uint8_t *e = t + 32 + 32 * i;
        put_guid(e, g);
        put_le32(e + 16, off);
        put_le32(e + 20, len);
        put_le32(e + 24, flags);
}

static void fix_crcs(uint8_t *b)
{
        static const uint32_t at[4][2] = { { 64 * KiB, 4 * KiB }, { 128 * KiB, 4 * KiB },
                                           { 192 * KiB, 64 * KiB }, { 256 * KiB, 64 * KiB } };
        for (int i = 0; i < 4; i++) {
                put_le32(b + at[i][0] + 4, 0);
                put_le32(b + at[i][0] + 4, crc32c(0, b + at[i][0], at[i][1]));
        }
}

static void make_base(void)
{
        static const uint8_t g_bat[16] = VHDX_GUID_BAT, g_meta[16] = VHDX_GUID_METADATA,
                             g_par[16] = VHDX_GUID_FILE_PARAMETERS, g_size[16] = VHDX_GUID_VIRTUAL_DISK_SIZE,
                             g_83[16] = VHDX_GUID_PAGE83, g_log[16] = VHDX_GUID_LOGICAL_SECTOR,
                             g_phys[16] = VHDX_GUID_PHYSICAL_SECTOR;
        uint8_t *b = calloc(1, MAX_SIZE);

        raw = malloc(MAX_SIZE);
        if (!b || !raw)
                abort();
        memset(raw, 0, MAX_SIZE);
        memcpy(b, "vhdxfile", 8);
        for (int s = 0; s < 2; s++) {
                uint8_t *h = b + (s ? 128 : 64) * KiB;
                memcpy(h, "head", 4);
                put_le64(h + 8, 10 + s);
                memset(h + 16, 0x11, 16);
                memset(h + 32, 0x22, 16);
                put_le16(h + 66, 1);
                put_le32(h + 68, MiB);
                put_le64(h + 72, MiB);
        }
        for (int c = 0; c < 2; c++) {
                uint8_t *r = b + (c ? 256 : 192) * KiB;
                memcpy(r, "regi", 4);
                put_le32(r + 8, 2);
                put_guid(r + 16, g_bat);
                put_le64(r + 32, BAT_AT);
                put_le32(r + 40, MiB);
                put_le32(r + 44, 1);
                put_guid(r + 48, g_meta);
                put_le64(r + 64, META_AT);
                put_le32(r + 72, MiB);
                put_le32(r + 76, 1);
        }
        uint8_t *t = b + META_AT, *it = t + 64 * KiB;
        memcpy(t, "metadata", 8);
        put_le16(t + 10, 5);
        meta_entry(t, 0, g_par, 64 * KiB, 8, 4);
        meta_entry(t, 1, g_size, 64 * KiB + 8, 8, 6);
        meta_entry(t, 2, g_83, 64 * KiB + 16, 16, 6);
        meta_entry(t, 3, g_log, 64 * KiB + 32, 4, 6);
        meta_entry(t, 4, g_phys, 64 * KiB + 36, 4, 6);
        put_le32(it, MiB);
        put_le64(it + 8, 8 * MiB);
        memset(it + 16, 0x83, 16);
        put_le32(it + 32, 512);
        put_le32(it + 36, 4096);
        put_le64(b + BAT_AT, 4ull * MiB | 6);
        put_le64(b + BAT_AT + 8, 2);
        put_le64(b + BAT_AT + 24, 5ull * MiB | 6);
        /* Data in the first 64 KiB of each block only: the file is
         * written as segments (below), the rest stays a hole. */
        for (uint32_t i = 0; i < 64 * KiB; i += 512) {
                b[4 * MiB + i] = (uint8_t) (i >> 9 | 1);
                b[5 * MiB + i] = (uint8_t) (i >> 9 | 0x80);
        }
        fix_crcs(b);
        base = b;
        memcpy(raw, base, MAX_SIZE);
}

static const uint32_t sizes[8] = { BASE_SIZE, BASE_SIZE, MiB - 1, 512 * KiB, 3 * MiB, 5 * MiB + 512 * KiB,
                                   7 * MiB, MAX_SIZE };
static const uint32_t targets[9] = { 0, 64 * KiB, 128 * KiB, 192 * KiB, 256 * KiB, META_AT, META_AT + 64 * KiB,
                                     BAT_AT, 0 };

/* The parts of the file that may be non-zero: the base's, then the
 * patches of the input. */
#define MAX_SEGS 4096
static struct seg { uint64_t off, len; } segs[MAX_SEGS];
static unsigned n_segs;
static const struct seg base_segs[] = {
        { 0, 320 * KiB }, { BAT_AT, 4 * KiB }, { META_AT, 68 * KiB }, { 4 * MiB, 64 * KiB }, { 5 * MiB, 64 * KiB },
};

static void add_seg(uint64_t off, uint64_t len)
{
        if (n_segs < MAX_SEGS)
                segs[n_segs++] = (struct seg) { off, len };
}

/* raw back to the base where the last input changed it. */
static void restore(void)
{
        for (unsigned i = 0; i < n_segs; i++)
                memcpy(raw + segs[i].off, base + segs[i].off, segs[i].len);
        n_segs = 0;
        for (size_t i = 0; i < ELEMENTSOF(base_segs); i++)
                add_seg(base_segs[i].off, base_segs[i].len);
}

/* A memfd of @size bytes: zeros but for the segments, taken from raw. */
static int write_file(size_t size)
{
        int fd = memfd_create("vhdx", MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, (off_t) size) < 0)
                abort();
        for (unsigned i = 0; i < n_segs; i++) {
                if (segs[i].off >= size)
                        continue;
                size_t n = (size_t) MIN(segs[i].len, size - segs[i].off);
                if (pwrite(fd, raw + segs[i].off, n, (off_t) segs[i].off) != (ssize_t) n)
                        abort();
        }
        return fd;
}

struct ext_ctx {
        struct vhdx_image *img;
        uint64_t next, calls;
};

static int on_extent(uint64_t off, uint64_t len, enum vc_extent_kind kind, void *userdata)
{
        struct ext_ctx *c = userdata;
        uint64_t bs = vhdx_image_metadata(c->img)->block_size;

        FUZZ_CHECK(off == c->next);
        FUZZ_CHECK(len > 0);
        for (uint64_t b = off / bs; b * bs < off + len; b++)
                FUZZ_CHECK((vhdx_image_block_state(c->img, b) == VHDX_PAYLOAD_FULLY_PRESENT) ==
                           (kind == VC_EXTENT_DATA));
        c->next = off + len;
        return ++c->calls > 4096;
}

static void read_through(struct vhdx_image *img, size_t size)
{
        const struct vhdx_metadata *m = vhdx_image_metadata(img);
        const struct vhdx_bat *bat = vhdx_image_bat(img);
        uint64_t bs = m->block_size, vsize = m->virtual_size;
        static uint8_t buf[1024];

        FUZZ_CHECK(bs >= MiB && (bs & (bs - 1)) == 0);
        for (uint64_t b = 0; b < bat->data_blocks; b++) {
                uint64_t e = bat->e[vhdx_bat_index(bat, b)];
                if ((e & 7) != VHDX_PAYLOAD_FULLY_PRESENT)
                        continue;
                FUZZ_CHECK((e & VHDX_BAT_OFFSET_MASK) >= MiB);
                FUZZ_CHECK((e & VHDX_BAT_OFFSET_MASK) + bs <= size);
        }
        for (uint64_t b = 0; b < 16 && b * bs < vsize; b++) {
                uint64_t at[2] = { b * bs, b * bs + bs - 512 };
                for (int k = 0; k < 2; k++) {
                        size_t len = k ? 512 : 1024;
                        if (at[k] >= vsize || vsize - at[k] < len)
                                continue;
                        FUZZ_CHECK(vhdx_image_pread(img, buf, len, at[k]) == 0);
                        uint64_t e = bat->e[vhdx_bat_index(bat, b)];
                        for (size_t i = 0; i < len; i++) {
                                uint8_t want = 0;
                                if ((e & 7) == VHDX_PAYLOAD_FULLY_PRESENT)
                                        want = raw[(e & VHDX_BAT_OFFSET_MASK) + at[k] % bs + i];
                                FUZZ_CHECK(buf[i] == want);
                        }
                }
        }
        FUZZ_CHECK(vhdx_image_pread(img, buf, 512, vsize) < 0);
        uint64_t span = vsize < 64 * bs ? vsize : 64 * bs;
        struct ext_ctx c = { img, 0, 0 };
        int r = vhdx_image_extents(img, 0, span, on_extent, &c);
        FUZZ_CHECK(r >= 0);
        if (r == 0)
                FUZZ_CHECK(c.next == span);
}

/* A differencing disk's parent is never looked for on the host (its
 * locator comes from the input): fuzz-vhdx-locator covers the search, in
 * a namespace of its own. */
static int no_files(const char *path, bool rdwr, void *userdata)
{
        (void) path, (void) rdwr, (void) userdata;
        return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct vc_open_ctx ctx = { .opener = no_files, .fd = VC_BY_NAME, .dir_fd = -1 };
        struct vhdx_image *img = NULL;
        struct vc_problems ps = { .collect = false }, cps = { .collect = true };
        size_t fsize, i = 1;
        int fd, fd2;

        if (!base)
                make_base();
        if (size < 1 || size > 64 * KiB)
                return 0;
        fsize = sizes[(data[0] >> 1) & 7];
        restore();
        while (i + 4 <= size) {
                unsigned t = data[i] % 9, len = data[i + 3];
                uint64_t off = targets[t] + get_le16(data + i + 1);
                if (t == 8)
                        off = (uint64_t) get_le16(data + i + 1) * 4096;
                i += 4;
                if (len > size - i)
                        len = (unsigned) (size - i);
                if (off < MAX_SIZE && len) {
                        uint64_t n = MIN((uint64_t) len, MAX_SIZE - off);
                        memcpy(raw + off, data + i, n);
                        add_seg(off, n);
                }
                i += len;
        }
        if (!(data[0] & 1))
                fix_crcs(raw);
        fd = write_file(fsize);
        fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd2 < 0)
                abort();
        int r = vhdx_image_open_fd_ctx(fd, "fuzz.vhdx", &ctx, VHDX_OPEN_NOLOCK, &ps, &img);
        if (r == 0) {
                read_through(img, fsize);
                vhdx_image_free(img);
        } else if (r != -ENOMEM)
                FUZZ_CHECK(vc_problems_any(&ps));       /* a refusal names a problem */
        img = NULL;
        int c = vhdx_check_fd_ctx(fd2, "fuzz.vhdx", &ctx, &cps);
        if (c != -ENOMEM) {
                FUZZ_CHECK(c == 0 || c == 1);
                FUZZ_CHECK((c == 1) == vc_problems_any(&cps));
                if (r < 0 && r != -ENOMEM)
                        FUZZ_CHECK(c == 1);             /* what open refuses, check lists */
        }
        vc_problems_done(&cps);
        return 0;
}
