/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mkvhdx: VHDX fixtures for the shell tests, from tests/lib/vhdx-builder.h
 * (an independent writer: nothing of lib/vhdx/).
 *
 *     mkvhdx [OPTIONS] OUT.vhdx
 *
 *   --type fixed|dynamic|diff      (dynamic)
 *   --size N[KMGT]                 virtual size (64M)
 *   --block-size N[KMGT]           1M .. 256M, a power of 2 (1M)
 *   --sector 512|4096              logical sector size (512)
 *   --physical-sector 512|4096     (4096)
 *   --log-size N[M]                (1M)
 *   --seq A,B                      header sequence numbers (1,2)
 *   --default-state not-present|zero   state of unallocated blocks (not-present)
 *   --regions-not-required         known regions with Required = 0, as qemu
 *   --fill B:S[,B:S...]            block B FULLY_PRESENT, the pattern of seed S
 *                                  (hex byte), or zeros when S is "z"
 *   --partial B:S[,...]            block B PARTIALLY_PRESENT (diff only)
 *   --state B:STATE[@MIB][,...]    raw state (0-7 or a name) with an offset in MiB
 *   --from-raw FILE                every block of FILE holding a non-zero byte
 *                                  becomes FULLY_PRESENT with FILE's bytes
 *   --sb-all                       differencing: every chunk's SB block present
 *                                  (bits 0) even without a partial block
 *   --after-state B:STATE[,...]    after the fills, block B takes STATE and keeps
 *                                  its offset (a soft anchor when UNMAPPED or
 *                                  UNDEFINED)
 *   --parent P.vhdx                differencing: linkage = P's DataWriteGuid
 *   --parent-raw P.raw             what P reads as (for --expected of a child)
 *   --parent-linkage GUID          override the linkage
 *   --no-relative-path, --no-absolute-path, --no-volume-path
 *                                  leave a locator key out
 *   --log N                        the last N --fill/--partial items go through
 *                                  the log, one entry each, not applied in place
 *   --log-zero B                   a zero descriptor over block B's data (in the
 *                                  first log entry; B must be filled)
 *   --log-applied                  the logged pages are in place as well
 *   --log-both-headers             both headers name the log GUID
 *   --region GUID:required|optional   an extra 1 MiB region
 *   --metadata GUID:required|optional an extra 8-byte metadata item
 *   --corrupt NAME                 apply a row of the corruption table
 *   --list-corruptions             print the table (name, §, problem, field, what)
 *   --expected FILE                the expected raw disk, log replayed
 *   --expected-in-place FILE       the same, log ignored (libvhdi's view)
 *   --info                         print facts as "key value" lines
 *   --guid-seed N                  GUIDs from N, not the process id: two runs
 *                                  with the same arguments write the same bytes
 *
 * Exit status: 0 written, 1 usage or I/O error (the builder aborts on misuse).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhdx-builder.h"

#define MAX_ITEMS 256

struct item {
        uint64_t blk;
        int seed;                       /* -1: zeros */
        bool partial;
};

static _Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "mkvhdx: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static uint64_t parse_size(const char *s)
{
        char *end;
        uint64_t v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                die("bad size '%s'", s);
        switch (*end) {
        case 'T': v <<= 10; /* fall through */
        case 'G': v <<= 10; /* fall through */
        case 'M': v <<= 10; /* fall through */
        case 'K': v <<= 10; end++; break;
        case 0: break;
        default: die("bad size '%s'", s);
        }
        if (*end)
                die("bad size '%s'", s);
        return v;
}

static uint64_t parse_u64(const char *s, int base)
{
        char *end;
        uint64_t v;

        errno = 0;
        v = strtoull(s, &end, base);
        if (errno || end == s || *end)
                die("bad number '%s'", s);
        return v;
}

static size_t parse_items(char *list, struct item *items, size_t n, bool partial)
{
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
                char *colon = strchr(tok, ':');
                if (!colon || n >= MAX_ITEMS)
                        die("bad block item '%s' (BLOCK:SEED)", tok);
                *colon = 0;
                items[n].blk = parse_u64(tok, 10);
                items[n].seed = strcmp(colon + 1, "z") == 0 ? -1
                                                            : (int) parse_u64(colon + 1, 16);
                if (items[n].seed > 255)
                        die("seed '%s' is not a byte", colon + 1);
                items[n].partial = partial;
                n++;
        }
        return n;
}

static unsigned parse_state(const char *s)
{
        static const char *names[] = { "not-present", "undefined", "zero", "unmapped",
                                       "4", "5", "fully-present", "partially-present" };
        for (unsigned i = 0; i < 8; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        uint64_t v = parse_u64(s, 10);
        if (v > 7)
                die("bad state '%s'", s);
        return (unsigned) v;
}

/* The parent's DataWriteGuid: the valid header with the higher sequence number. */
static void read_linkage(const char *path, uint8_t out[16])
{
        uint8_t h[2][VXB_HEADER_SIZE];
        bool ok[2];
        uint64_t seq[2];
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                die("cannot open parent '%s'", path);
        for (int i = 0; i < 2; i++) {
                uint32_t stored;
                if (pread(fd, h[i], VXB_HEADER_SIZE, i ? VXB_HEADER2_OFF : VXB_HEADER1_OFF) !=
                    VXB_HEADER_SIZE)
                        die("cannot read the headers of '%s'", path);
                memcpy(&stored, h[i] + 4, 4);
                stored = le32toh(stored);
                memset(h[i] + 4, 0, 4);
                ok[i] = memcmp(h[i], "head", 4) == 0 &&
                        vxb_crc32c(0, h[i], VXB_HEADER_SIZE) == stored;
                memcpy(&seq[i], h[i] + VXB_HDR_SEQUENCE, 8);
                seq[i] = le64toh(seq[i]);
        }
        close(fd);
        if (!ok[0] && !ok[1])
                die("'%s' has no valid VHDX header", path);
        int cur = !ok[0] ? 1 : !ok[1] ? 0 : seq[1] > seq[0];
        memcpy(out, h[cur] + VXB_HDR_DATA_WRITE_GUID, 16);
}

struct raw_parent {
        int fd;
};

static void read_raw(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
        struct raw_parent *p = ctx;
        ssize_t r = pread(p->fd, buf, len, (off_t) off);
        if (r < 0 || (size_t) r != len)
                die("short read of the parent's raw image");
}

static void zero_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
        (void) ctx;
        (void) off;
        memset(buf, 0, len);
}

static void win_path(const char *in, const char *prefix, char *out, size_t size)
{
        if ((size_t) snprintf(out, size, "%s%s", prefix, in) >= size)
                die("path '%s' too long", in);
        for (char *c = out; *c; c++)
                if (*c == '/')
                        *c = '\\';
}

int main(int argc, char **argv)
{
        enum {
                O_PHYS = 256, O_LOGSIZE, O_SEQ, O_DEFSTATE, O_NOTREQ, O_PARTIAL, O_STATE,
                O_PARENT, O_PARENT_RAW, O_LINKAGE, O_NOREL, O_NOABS, O_NOVOL, O_LOG, O_LOGZERO,
                O_LOGAPPLIED, O_LOGBOTH, O_REGION, O_META, O_CORRUPT, O_LIST, O_EXPECTED,
                O_EXPECTED_IP, O_INFO, O_SEED, O_SBALL, O_AFTER, O_FROMRAW,
        };
        static const struct option options[] = {
                { "type", required_argument, NULL, 't' },
                { "size", required_argument, NULL, 's' },
                { "block-size", required_argument, NULL, 'b' },
                { "sector", required_argument, NULL, 'S' },
                { "physical-sector", required_argument, NULL, O_PHYS },
                { "log-size", required_argument, NULL, O_LOGSIZE },
                { "seq", required_argument, NULL, O_SEQ },
                { "default-state", required_argument, NULL, O_DEFSTATE },
                { "regions-not-required", no_argument, NULL, O_NOTREQ },
                { "fill", required_argument, NULL, 'f' },
                { "partial", required_argument, NULL, O_PARTIAL },
                { "state", required_argument, NULL, O_STATE },
                { "parent", required_argument, NULL, O_PARENT },
                { "parent-raw", required_argument, NULL, O_PARENT_RAW },
                { "parent-linkage", required_argument, NULL, O_LINKAGE },
                { "no-relative-path", no_argument, NULL, O_NOREL },
                { "no-absolute-path", no_argument, NULL, O_NOABS },
                { "no-volume-path", no_argument, NULL, O_NOVOL },
                { "log", required_argument, NULL, O_LOG },
                { "log-zero", required_argument, NULL, O_LOGZERO },
                { "log-applied", no_argument, NULL, O_LOGAPPLIED },
                { "log-both-headers", no_argument, NULL, O_LOGBOTH },
                { "region", required_argument, NULL, O_REGION },
                { "metadata", required_argument, NULL, O_META },
                { "corrupt", required_argument, NULL, O_CORRUPT },
                { "list-corruptions", no_argument, NULL, O_LIST },
                { "expected", required_argument, NULL, O_EXPECTED },
                { "expected-in-place", required_argument, NULL, O_EXPECTED_IP },
                { "info", no_argument, NULL, O_INFO },
                { "guid-seed", required_argument, NULL, O_SEED },
                { "sb-all", no_argument, NULL, O_SBALL },
                { "from-raw", required_argument, NULL, O_FROMRAW },
                { "after-state", required_argument, NULL, O_AFTER },
                {}
        };
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 64 * VXB_MIB };
        static struct item items[MAX_ITEMS];
        size_t n_items = 0, n_log = 0;
        char *after = NULL;
        char *states = NULL, *regions[16], *metas[16];
        size_t n_regions = 0, n_metas = 0;
        const char *parent = NULL, *parent_raw = NULL, *linkage_text = NULL, *corrupt = NULL;
        const char *expected = NULL, *expected_ip = NULL;
        bool sb_all = false;
        const char *from_raw = NULL;
        bool no_rel = false, no_abs = false, no_vol = false, info = false;
        unsigned log_flags = 0;
        int64_t log_zero = -1;
        int c;

        while ((c = getopt_long(argc, argv, "t:s:b:S:f:", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        if (strcmp(optarg, "fixed") == 0)
                                p.type = VXB_FIXED;
                        else if (strcmp(optarg, "dynamic") == 0)
                                p.type = VXB_DYNAMIC;
                        else if (strcmp(optarg, "diff") == 0 ||
                                 strcmp(optarg, "differencing") == 0)
                                p.type = VXB_DIFFERENCING;
                        else
                                die("bad type '%s'", optarg);
                        break;
                case 's': p.virtual_size = parse_size(optarg); break;
                case 'b': p.block_size = (uint32_t) parse_size(optarg); break;
                case 'S': p.logical_sector = (uint32_t) parse_size(optarg); break;
                case O_PHYS: p.physical_sector = (uint32_t) parse_size(optarg); break;
                case O_LOGSIZE: p.log_size = (uint32_t) parse_size(optarg); break;
                case O_SEQ: {
                        char *comma = strchr(optarg, ',');
                        if (!comma)
                                die("bad --seq '%s' (A,B)", optarg);
                        *comma = 0;
                        p.seq1 = parse_u64(optarg, 0);
                        p.seq2 = parse_u64(comma + 1, 0);
                        break;
                }
                case O_DEFSTATE: p.default_state = parse_state(optarg); break;
                case O_NOTREQ: p.regions_not_required = true; break;
                case 'f': n_items = parse_items(optarg, items, n_items, false); break;
                case O_PARTIAL: n_items = parse_items(optarg, items, n_items, true); break;
                case O_STATE: states = optarg; break;
                case O_PARENT: parent = optarg; break;
                case O_PARENT_RAW: parent_raw = optarg; break;
                case O_LINKAGE: linkage_text = optarg; break;
                case O_NOREL: no_rel = true; break;
                case O_NOABS: no_abs = true; break;
                case O_NOVOL: no_vol = true; break;
                case O_LOG: n_log = (size_t) parse_u64(optarg, 10); break;
                case O_LOGZERO: log_zero = (int64_t) parse_u64(optarg, 10); break;
                case O_LOGAPPLIED: log_flags |= VXB_LOG_APPLIED; break;
                case O_LOGBOTH: log_flags |= VXB_LOG_BOTH_HEADERS; break;
                case O_REGION:
                        if (n_regions == 16)
                                die("too many regions");
                        regions[n_regions++] = optarg;
                        break;
                case O_META:
                        if (n_metas == 16)
                                die("too many metadata items");
                        metas[n_metas++] = optarg;
                        break;
                case O_CORRUPT: corrupt = optarg; break;
                case O_LIST:
                        for (size_t i = 0; i < vxb_n_corruptions; i++) {
                                const struct vxb_corruption *r = &vxb_corruptions[i];
                                printf("%s\t%s\t%s\t%s\t%s%s%s%s\n", r->name, r->section,
                                       r->problem, r->field ? r->field : "-", r->what,
                                       r->needs & VXB_NEEDS_BLOCKS ? " [needs blocks]" : "",
                                       r->needs & VXB_NEEDS_DIFF ? " [needs diff]" : "",
                                       r->needs & VXB_NEEDS_LOG ? " [needs log]" : "");
                        }
                        return 0;
                case O_EXPECTED: expected = optarg; break;
                case O_EXPECTED_IP: expected_ip = optarg; break;
                case O_INFO: info = true; break;
                case O_SBALL: sb_all = true; break;
                case O_FROMRAW: from_raw = optarg; break;
                case O_AFTER: after = optarg; break;
                case O_SEED: vxb_guid_seed((uint32_t) parse_u64(optarg, 0)); break;
                default:
                        return 1;
                }
        if (optind + 1 != argc)
                die("usage: mkvhdx [OPTIONS] OUT.vhdx");
        if ((parent != NULL) != (p.type == VXB_DIFFERENCING))
                die("--parent goes with --type diff, and only with it");
        if (n_log > n_items)
                die("--log: more entries than --fill/--partial items");

        const char *out = argv[optind];
        struct vxb_image *img = vxb_new(&p);
        struct raw_parent rp = { -1 };

        if (parent) {
                uint8_t link[16];
                char *real = realpath(parent, NULL), *outdir, *slash;
                char abs[PATH_MAX + 8], vol[PATH_MAX + 64], rel[PATH_MAX], vg[39];
                char volpath[PATH_MAX];
                uint8_t vguid[16];
                uint64_t psize = 0;

                if (!real)
                        die("cannot resolve '%s'", parent);
                read_linkage(real, link);
                if (linkage_text && !vxb_guid_parse(linkage_text, link))
                        die("bad GUID '%s'", linkage_text);
                /* relative_path: the parent's name when it is beside the child,
                 * else the path as given, with '\'. */
                outdir = realpath(".", NULL);
                slash = strrchr(out, '/');
                {
                        char *od = slash ? strndup(out, (size_t) (slash - out)) : strdup(".");
                        char *odr = od ? realpath(od, NULL) : NULL;
                        const char *pdir_end = strrchr(real, '/');
                        if (odr && pdir_end && strlen(odr) == (size_t) (pdir_end - real) &&
                            strncmp(odr, real, strlen(odr)) == 0)
                                win_path(pdir_end + 1, "", rel, sizeof rel);
                        else
                                win_path(parent, "", rel, sizeof rel);
                        free(od);
                        free(odr);
                }
                free(outdir);
                win_path(real, "C:", abs, sizeof abs);
                vxb_guid_new(vguid);
                vxb_guid_format(vguid, vg);
                win_path(real, "", volpath, sizeof volpath);
                snprintf(vol, sizeof vol, "\\\\?\\Volume%s%s", vg, volpath);
                if (parent_raw) {
                        rp.fd = open(parent_raw, O_RDONLY | O_CLOEXEC);
                        off_t end = rp.fd < 0 ? -1 : lseek(rp.fd, 0, SEEK_END);
                        if (end < 0)
                                die("cannot read '%s'", parent_raw);
                        psize = (uint64_t) end;
                }
                vxb_set_parent(img, link, no_rel ? NULL : rel, no_vol ? NULL : vol,
                               no_abs ? NULL : abs, psize, parent_raw ? read_raw : zero_read,
                               &rp);
                free(real);
        }
        if (sb_all)
                for (uint64_t ch = 0; ch < img->n_chunks; ch++)
                        vxb_alloc_sb(img, ch);
        if (from_raw) {
                int fd = open(from_raw, O_RDONLY | O_CLOEXEC);
                uint8_t *blk = malloc(p.block_size ? p.block_size : VXB_MIB);
                const size_t bs = img->p.block_size;
                if (fd < 0 || !blk)
                        die("cannot read '%s'", from_raw);
                blk = realloc(blk, bs);
                for (uint64_t b = 0; b < img->n_blocks; b++) {
                        ssize_t n = pread(fd, blk, bs, (off_t) (b * bs));
                        if (n < 0)
                                die("cannot read '%s'", from_raw);
                        bool any = false;
                        for (ssize_t k = 0; k < n && !any; k++)
                                any = blk[k] != 0;
                        if (!any)
                                continue;
                        vxb_alloc_block(img, b, -1);
                        uint64_t len = (b + 1) * bs > img->p.virtual_size ? img->p.virtual_size - b * bs : bs;
                        memcpy(vxb_block_data(img, b), blk, (size_t) (n < (ssize_t) len ? (uint64_t) n : len));
                }
                free(blk);
                close(fd);
        }
        for (size_t i = 0; i < n_regions; i++) {
                char *colon = strchr(regions[i], ':');
                if (!colon)
                        die("bad --region '%s' (GUID:required|optional)", regions[i]);
                *colon = 0;
                vxb_add_region(img, regions[i], VXB_MIB, strcmp(colon + 1, "required") == 0);
        }
        for (size_t i = 0; i < n_metas; i++) {
                static const uint8_t value[8] = { 0x42 };
                char *colon = strchr(metas[i], ':');
                if (!colon)
                        die("bad --metadata '%s' (GUID:required|optional)", metas[i]);
                *colon = 0;
                vxb_add_metadata(img, metas[i], value, 8,
                                 strcmp(colon + 1, "required") == 0 ? VXB_META_IS_REQUIRED : 0);
        }
        if (states)
                for (char *tok = strtok(states, ","); tok; tok = strtok(NULL, ",")) {
                        char *colon = strchr(tok, ':'), *at;
                        uint64_t off = 0;
                        if (!colon)
                                die("bad --state '%s' (BLOCK:STATE[@MIB])", tok);
                        *colon = 0;
                        at = strchr(colon + 1, '@');
                        if (at) {
                                *at = 0;
                                off = parse_u64(at + 1, 10) * VXB_MIB;
                        }
                        vxb_set_state(img, parse_u64(tok, 10), parse_state(colon + 1), off);
                }
        for (size_t i = 0; i < n_items; i++) {
                if (n_log && i == n_items - n_log)
                        vxb_log_begin(img);
                if (items[i].partial)
                        vxb_alloc_partial(img, items[i].blk, (uint8_t) items[i].seed);
                else
                        vxb_alloc_block(img, items[i].blk, items[i].seed);
                if (n_log && i >= n_items - n_log) {
                        if (log_zero >= 0 && i == n_items - n_log) {
                                uint64_t b = (uint64_t) log_zero;
                                vxb_block_data(img, b);
                                vxb_log_add_zero(img, img->blocks[b].off, p.block_size ? p.block_size : VXB_MIB);
                        }
                        vxb_log_commit(img, log_flags);
                }
        }
        if (after)
                for (char *tok = strtok(after, ","); tok; tok = strtok(NULL, ",")) {
                        char *colon = strchr(tok, ':');
                        uint64_t b;
                        if (!colon)
                                die("bad --after-state '%s' (BLOCK:STATE)", tok);
                        *colon = 0;
                        b = parse_u64(tok, 10);
                        if (b >= img->n_blocks)
                                die("no block %s", tok);
                        vxb_set_state(img, b, parse_state(colon + 1), img->blocks[b].off);
                }
        if (log_zero >= 0 && !n_log)
                die("--log-zero needs --log");
        if (corrupt) {
                const struct vxb_corruption *r = vxb_corruption_find(corrupt);
                if (!r)
                        die("no corruption '%s' (see --list-corruptions)", corrupt);
                uint64_t at = r->apply(img);
                if (info)
                        printf("corrupt_offset %" PRIu64 "\nproblem %s\n", at, r->problem);
        }
        vxb_write_file(img, out);
        if (expected)
                vxb_write_expected(img, VXB_VIEW_REPLAYED, expected);
        if (expected_ip)
                vxb_write_expected(img, VXB_VIEW_IN_PLACE, expected_ip);
        if (info) {
                char g[39];
                int cur = vxb_current_header(img);
                printf("virtual_size %" PRIu64 "\n", img->p.virtual_size);
                printf("block_size %u\n", img->p.block_size);
                printf("logical_sector %u\nphysical_sector %u\n", img->p.logical_sector,
                       img->p.physical_sector);
                printf("file_size %zu\n", img->len);
                printf("current_header %d\n", cur);
                vxb_guid_format(img->file_write_guid, g);
                printf("file_write_guid %s\n", g);
                vxb_guid_format(img->data_write_guid, g);
                printf("data_write_guid %s\n", g);
                vxb_guid_format(img->page83, g);
                printf("page83 %s\n", g);
                if (img->n_log_entries) {
                        vxb_guid_format(img->log_guid, g);
                        printf("log_guid %s\nlog_entries %u\n", g, img->n_log_entries);
                }
                for (uint64_t b = 0; b < img->n_blocks; b++)
                        if (img->blocks[b].state || img->blocks[b].off)
                                printf("block %" PRIu64 " %u %" PRIu64 "\n", b,
                                       img->blocks[b].state, img->blocks[b].off);
        }
        if (rp.fd >= 0)
                close(rp.fd);
        vxb_free(img);
        return 0;
}
