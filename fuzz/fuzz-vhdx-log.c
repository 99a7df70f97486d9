/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-vhdx-log: the VHDX log (lib/vhdx/log.c) replayed in memory by a
 * read-only open and on disk by a read-write one (write.c).
 *
 * The base image is built once with the tests' independent builder
 * (tests/lib/vhdx-builder.c): a 4 MiB disk of 1 MiB blocks (data in the
 * first 64 KiB of each), blocks 0 and 3 written in place, then a log
 * sequence of two entries (block 1 allocated; block 2 allocated and a
 * zero descriptor over block 3's data), not applied in place, the header
 * naming the log.  The headers
 * and everything outside the 1 MiB log stay valid; the input patches the
 * log:
 *
 *   byte 0   flags: bit 0 keep the entries' CRC-32C as patched (else
 *            every sector that starts "loge" with a sane EntryLength
 *            gets the CRC of its entry recomputed, wrapping as the log
 *            does); bits 1-2 the file's size (as built, 1 MiB shorter,
 *            1 MiB longer, 64 KiB shorter)
 *   then records: sector of the log (1), offset in it (2, LE, mod 4096),
 *            length (1), bytes
 *
 * Per input the file is opened read-only (replayed in memory) and every
 * byte of the disk read; then a copy is opened read-write (replayed on
 * disk, the log cleared), read whole, closed, and opened again: both
 * reads must be the read-only one.  A third copy gets the sequence
 * applied twice (vhdx_log_apply, as after a crash between the replay and
 * the header write): the file after the second apply is the file after
 * the first, and opening it read-only (the header still names the log,
 * so it replays again over the applied pages) reads the same disk.
 * A read-only open refused means the read-write one is refused too, and
 * a refusal names a problem.  Without patches, the disk is what the
 * builder says the replayed log gives.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "fuzz-common.h"
#include "util/crc32c.h"
#include "vhdx-builder.h"
#include "vhdx/log.h"
#include "vhdx/vhdx.h"

#define DISK (4u * VXB_MIB)
#define CHUNK (64u * VXB_KIB)
#define LOG_SIZE VXB_MIB
#define SECTOR 4096u

static struct vxb_image *base;
static uint8_t *raw, *ro, *rw;
static size_t raw_cap;

/* Only a block's first 64 KiB hold data: a file is mostly holes, so
 * that writing and reading it per input stays cheap. */
static void trim(uint64_t blk)
{
        memset(base->buf + base->blocks[blk].off + 64 * VXB_KIB, 0, VXB_MIB - 64 * VXB_KIB);
}

static void setup(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = DISK, .log_size = LOG_SIZE };

        vxb_guid_seed(11);
        base = vxb_new(&p);
        vxb_alloc_block(base, 0, 0x31);
        trim(0);
        vxb_alloc_block(base, 3, 0x32);
        trim(3);
        vxb_log_begin(base);
        vxb_alloc_block(base, 1, 0x33);
        trim(1);
        vxb_log_commit(base, 0);
        vxb_alloc_block(base, 2, 0x34);
        trim(2);
        vxb_log_add_zero(base, base->blocks[3].off, VXB_MIB);
        vxb_log_commit(base, 0);
        raw_cap = base->len + VXB_MIB;
        raw = calloc(1, raw_cap);
        ro = malloc(DISK);
        rw = malloc(DISK);
        if (!raw || !ro || !rw)
                abort();
}

/* The CRC-32C of every plausible entry, as log.c checks it. */
static void fix_crcs(uint8_t *log)
{
        const uint32_t n = LOG_SIZE / SECTOR;

        for (uint32_t s = 0; s < n; s++) {
                uint8_t *e = log + (size_t) s * SECTOR;
                uint32_t len = get_le32(e + 8), crc = 0;
                if (memcmp(e, "loge", 4) || len % SECTOR || len < SECTOR || len >= LOG_SIZE)
                        continue;
                put_le32(e + 4, 0);
                for (uint32_t k = 0; k < len / SECTOR; k++)
                        crc = crc32c(crc, log + (size_t) ((s + k) % n) * SECTOR, SECTOR);
                put_le32(e + 4, crc);
        }
}

/* A memfd of the first len bytes of buf, holes where buf has 64 KiB of
 * zeros. */
static int memfd_of(const uint8_t *buf, size_t len)
{
        static const uint8_t zeros[CHUNK];
        int fd = memfd_create("vhdx-log", MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, (off_t) len) < 0)
                abort();
        for (size_t o = 0; o < len; o += CHUNK) {
                size_t n = MIN(len - o, (size_t) CHUNK);
                if (memcmp(buf + o, zeros, n) && pwrite(fd, buf + o, n, (off_t) o) != (ssize_t) n)
                        abort();
        }
        return fd;
}

/* A digest of the file's size and of every non-zero 4 KiB page with its
 * offset, through SEEK_DATA: a replay may extend the file to a sparse
 * LastFileOffset far beyond what could be read whole. */
static uint64_t digest(int fd)
{
        static const uint8_t zeros[SECTOR];
        static uint8_t buf[CHUNK];
        struct stat st;
        uint32_t h1 = 0, h2 = 0x9e3779b9;

        FUZZ_CHECK(fstat(fd, &st) == 0);
        h1 = crc32c(h1, &st.st_size, sizeof st.st_size);
        for (off_t at = 0; at < st.st_size;) {
                off_t data = lseek(fd, at, SEEK_DATA);
                if (data < 0)
                        break;          /* ENXIO: holes to the end */
                off_t hole = lseek(fd, data, SEEK_HOLE);
                FUZZ_CHECK(hole > data);
                for (off_t o = data; o < hole; o += CHUNK) {
                        size_t n = (size_t) MIN((off_t) CHUNK, hole - o);
                        FUZZ_CHECK(pread(fd, buf, n, o) == (ssize_t) n);
                        for (size_t p = 0; p < n; p += SECTOR) {
                                size_t k = MIN((size_t) SECTOR, n - p);
                                if (!memcmp(buf + p, zeros, k))
                                        continue;
                                uint64_t where = (uint64_t) o + p;
                                h1 = crc32c(h1, &where, sizeof where);
                                h1 = crc32c(h1, buf + p, k);
                                h2 = crc32c(h2, buf + p, k);
                                h2 = crc32c(h2, &where, sizeof where);
                        }
                }
                at = hole;
        }
        return (uint64_t) h1 << 32 | h2;
}

/* Opens a duplicate of fd; 0 and the disk in out, or the open's error. */
static int open_read(int fd, unsigned flags, struct vc_problems *ps, uint8_t *out)
{
        struct vhdx_image *img = NULL;
        int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);

        if (dup < 0)
                abort();
        int r = vhdx_image_open_fd(dup, "fuzz.vhdx", flags | VHDX_OPEN_NOLOCK, ps, &img);
        if (r < 0)
                return r;
        FUZZ_CHECK(vhdx_image_metadata(img)->virtual_size == DISK);
        FUZZ_CHECK(vhdx_image_pread(img, out, DISK, 0) == 0);
        vhdx_image_free(img);
        return 0;
}

/* The sequence applied twice on the file in fd, as a replay that crashed
 * before the header was written and ran again. */
static void apply_twice(int fd)
{
        struct vc_problems ps = { .collect = false };
        struct vhdx_report rep = { .ps = &ps };
        struct vhdx_headers hs;
        struct vhdx_log_replay l;
        struct stat st;
        uint8_t *sec = malloc(VHDX_HEADER_USED);

        if (!sec)
                abort();
        FUZZ_CHECK(pread(fd, sec, VHDX_HEADER_USED, 0) == VHDX_HEADER_USED);
        FUZZ_CHECK(fstat(fd, &st) == 0);
        FUZZ_CHECK(vhdx_headers_parse(sec, &rep, &hs) == 0);
        free(sec);
        int r = vhdx_log_find(fd, (uint64_t) st.st_size, &hs.h[hs.current], vhdx_header_offset(hs.current), &rep, &l);
        FUZZ_CHECK(r == 0);     /* the read-only open found it */
        FUZZ_CHECK(vhdx_log_apply(fd, &l, (uint64_t) st.st_size) == 0);
        const uint64_t once = digest(fd);
        FUZZ_CHECK(vhdx_log_apply(fd, &l, (uint64_t) st.st_size) == 0);
        FUZZ_CHECK(digest(fd) == once);
        vhdx_log_replay_done(&l);
        vc_problems_done(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const int64_t delta[4] = { 0, -(int64_t) VXB_MIB, VXB_MIB, -64 * (int64_t) VXB_KIB };
        struct vc_problems ps = { .collect = false }, ps2 = { .collect = false };
        size_t i = 1, patches = 0;

        if (!base)
                setup();
        if (size < 1 || size > 64 * VXB_KIB)
                return 0;
        memcpy(raw, base->buf, base->len);
        memset(raw + base->len, 0, raw_cap - base->len);
        uint8_t *log = raw + base->log_off;
        while (i + 4 <= size) {
                size_t at = (size_t) data[i] * SECTOR + get_le16(data + i + 1) % SECTOR, len = data[i + 3];
                i += 4;
                len = MIN(len, size - i);
                len = MIN(len, LOG_SIZE - at);
                memcpy(log + at, data + i, len);
                i += len;
                patches++;
        }
        if (!(data[0] & 1))
                fix_crcs(log);
        const size_t fsize = (size_t) ((int64_t) base->len + delta[(data[0] >> 1) & 3]);

        /* Read-only: replayed in memory. */
        int fd = memfd_of(raw, fsize);
        int r = open_read(fd, 0, &ps, ro);
        if (getenv("FUZZ_VERBOSE")) {   /* what a seed does, for whoever writes one */
                char what[600] = "replayed";
                if (r < 0)
                        vc_problem_format(&ps.first, what, sizeof what);
                fprintf(stderr, "open: %d %s\n", r, what);
        }
        if (r < 0 && r != -ENOMEM)
                FUZZ_CHECK(vc_problems_any(&ps));
        if (r == 0 && patches == 0 && fsize == base->len) {
                uint8_t *want = malloc(DISK);
                if (!want)
                        abort();
                vxb_expected_read(base, VXB_VIEW_REPLAYED, 0, want, DISK);
                FUZZ_CHECK(memcmp(ro, want, DISK) == 0);
                free(want);
        }

        /* Read-write: replayed on disk, twice over (open, close, open). */
        int wfd = memfd_of(raw, fsize);
        int w = open_read(wfd, VHDX_OPEN_RDWR, &ps2, rw);
        if (r < 0 && r != -ENOMEM)
                FUZZ_CHECK(w < 0);
        if (w < 0 && w != -ENOMEM)
                FUZZ_CHECK(vc_problems_any(&ps2));
        if (w == 0) {
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(memcmp(rw, ro, DISK) == 0);
                vc_problems_done(&ps2);
                ps2 = (struct vc_problems) { .collect = false };
                FUZZ_CHECK(open_read(wfd, VHDX_OPEN_RDWR, &ps2, rw) == 0);
                FUZZ_CHECK(memcmp(rw, ro, DISK) == 0);
                vc_problems_done(&ps2);
                ps2 = (struct vc_problems) { .collect = false };
                FUZZ_CHECK(open_read(wfd, 0, &ps2, rw) == 0);
                FUZZ_CHECK(memcmp(rw, ro, DISK) == 0);
        }
        close(wfd);

        /* A replay that ran twice on disk, the header still naming the log. */
        if (r == 0) {
                apply_twice(fd);
                vc_problems_done(&ps2);
                ps2 = (struct vc_problems) { .collect = false };
                FUZZ_CHECK(open_read(fd, 0, &ps2, rw) == 0);
                FUZZ_CHECK(memcmp(rw, ro, DISK) == 0);
        }
        close(fd);
        vc_problems_done(&ps);
        vc_problems_done(&ps2);
        return 0;
}
