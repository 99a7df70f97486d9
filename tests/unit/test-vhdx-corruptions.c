/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every row of the VHDX fixture builder's corruption table
 * (vxb_corruptions[], tests/lib/vhdx-builder.h: VHDX.md §5) against the
 * engine.  Each row is applied to its base image (built by the independent
 * builder, never by lib/vhdx), written to a file, and then
 *   - a read-only open through the image seam must refuse it with the
 *     problem id, field and absolute byte offset this file expects (or,
 *     for the rows that are legal, open and read the builder's expected
 *     virtual disk);
 *   - `check` (collect mode) must return 1 and list that problem;
 *   - a read-write open must be refused too;
 *   - the file must be byte-identical afterwards.
 * The table's problem ids are proposals; where the engine already had an
 * id for the trap, the engine's id is expected here (see expect[]).  The
 * one row that is no corruption for the engine (a dirty log that replays)
 * is held by test-vhdx-log and test-vhdx-write.  A legal row opens
 * read-write too and, changing nothing, writes nothing (but a sequence
 * number at its end: the writable open is refused).
 *
 * Then a few legal variations the traps sit next to (an unknown optional
 * region or item, qemu's choices, 4096-byte sectors, soft anchors, a fixed
 * image) must open, read the builder's expected disk and check clean.
 *
 * With VXC_SHOW=1 in the environment it prints what the engine says for
 * every row instead of asserting.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "tests.h"
#include "util/fd-util.h"
#include "vhd-builder.h"           /* vb_read_file */
#include "vhdx-builder.h"
#include "vhdx-expect.h"
#include "vhdx/vhdx.h"

#define AT_ROW 0                /* at: the offset apply() returned, plus delta */

enum kind {
        REFUSE,         /* open refused; check lists the same problem */
        NOTE,           /* one good copy serves: opens and reads right; check lists it */
        OPENS,          /* legal: opens, reads right, check clean */
        OPENS_RO,       /* legal to read; a writable open is refused */
        ELSEWHERE,      /* not a corruption here: another test holds it */
};

struct expect {
        const char *name;
        enum kind kind;
        int id;
        const char *field;
        uint64_t offset;        /* absolute, or AT_ROW */
        uint64_t delta;         /* with AT_ROW: past apply()'s offset */
};

/* The bases' layout (vhdx-builder.h): headers, region tables, metadata at
 * 2 MiB with its items from 64 KiB on. */
#define H1 VXB_HEADER1_OFF
#define H2 VXB_HEADER2_OFF
#define R1 VXB_REGION1_OFF
#define META (2ull * VXB_MIB)
#define ITEMS (META + 64 * VXB_KIB)

/* Rows without a check_* expectation leave them 0. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Where the engine's id or field differs from the table's proposal, the
 * engine's is kept (its ids were there first and are documented). */
static const struct expect expect[] = {
        /* The seam hands a file without "vhdxfile" to VHD, the format of
         * last resort: lib/vhdx itself is asked below. */
        { "identifier", REFUSE, VC_PROBLEM_BAD_COOKIE, "file_identifier.signature", AT_ROW, 0 },
        { "short-file", REFUSE, VC_PROBLEM_TOO_SMALL, NULL, AT_ROW, 0 },
        { "header-signature", REFUSE, VC_PROBLEM_BAD_COOKIE, "header1.signature", AT_ROW, 0 },
        { "header1-checksum", NOTE, VC_PROBLEM_BAD_CHECKSUM, "header1.checksum", AT_ROW, 0 },
        { "headers-checksum", REFUSE, VC_PROBLEM_BAD_CHECKSUM, "header1.checksum", AT_ROW, 0 },
        { "header-badcrc-higher-seq", NOTE, VC_PROBLEM_BAD_CHECKSUM, "header1.checksum", AT_ROW, 0 },
        { "header-version", REFUSE, VC_PROBLEM_BAD_VERSION, "header1.version", H1 + VXB_HDR_VERSION, 0 },
        { "header-reserved", REFUSE, VC_PROBLEM_BAD_HEADER, "header1.reserved", H1 + VXB_HDR_RESERVED, 0 },
        { "header-seq-tie", REFUSE, VC_PROBLEM_HEADER_MISMATCH, "header2.sequence_number", AT_ROW, 0 },
        /* Legal to read; a writable open refuses to wrap it. */
        { "header-seq-max", OPENS_RO, 0, NULL, 0, 0 },
        { "log-offset-misaligned", REFUSE, VC_PROBLEM_BAD_LOG, "header1.log_offset", H1 + VXB_HDR_LOG_OFFSET, 0 },
        { "log-offset-header", REFUSE, VC_PROBLEM_BAD_LOG, "header1.log_offset", H1 + VXB_HDR_LOG_OFFSET, 0 },
        { "log-length-misaligned", REFUSE, VC_PROBLEM_BAD_LOG, "header1.log_length", H1 + VXB_HDR_LOG_LENGTH, 0 },
        { "log-past-eof", REFUSE, VC_PROBLEM_BAD_LOG, "header2.log_offset", AT_ROW, 0 },
        /* The engine blames the LogGuid that names a log of length 0. */
        { "log-length-zero", REFUSE, VC_PROBLEM_BAD_LOG, "header2.log_guid", H2 + VXB_HDR_LOG_GUID, 0 },
        { "log-version", REFUSE, VC_PROBLEM_NOT_SUPPORTED, "header2.log_version", AT_ROW, 0 },
        { "log-guid-no-entry", REFUSE, VC_PROBLEM_BAD_LOG, "header2.log_guid", AT_ROW, 0 },
        { "region1-checksum", NOTE, VC_PROBLEM_BAD_CHECKSUM, "region_table1.checksum", AT_ROW, 0 },
        { "regions-checksum", REFUSE, VC_PROBLEM_BAD_CHECKSUM, "region_table1.checksum", AT_ROW, 0 },
        { "region-mismatch", NOTE, VC_PROBLEM_BAD_REGION_TABLE, "region_table2", VXB_REGION2_OFF, 0 },
        { "region-count", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region_table1.entry_count", AT_ROW, 0 },
        { "region-reserved", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region_table1.reserved", AT_ROW, 0 },
        { "region-flags", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region.required", AT_ROW, 0 },
        { "region-duplicate", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region.guid", AT_ROW, 0 },
        { "region-misaligned", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", AT_ROW, 0 },
        { "region-overlap", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region.file_offset", AT_ROW, 0 },
        { "region-unknown-required", REFUSE, VC_PROBLEM_UNKNOWN_REQUIRED, "region.required", AT_ROW, VXB_RTE_REQUIRED },
        { "metadata-signature", REFUSE, VC_PROBLEM_BAD_COOKIE, "metadata.signature", AT_ROW, 0 },
        { "metadata-offset-table", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.offset", AT_ROW, 0 },
        { "metadata-overlap", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.offset", AT_ROW, 0 },
        { "metadata-past-region", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.offset", AT_ROW, 0 },
        /* No entry to point at: the engine names the table's count. */
        { "metadata-missing", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.entry_count", META + VXB_MT_ENTRY_COUNT, 0 },
        { "metadata-item-size", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.length", AT_ROW, 0 },
        { "metadata-flags", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.flags", AT_ROW, 0 },
        { "metadata-unknown-required", REFUSE, VC_PROBLEM_UNKNOWN_REQUIRED, "metadata.flags", AT_ROW, VXB_MTE_FLAGS },
        { "incomplete-file", REFUSE, VC_PROBLEM_INCOMPLETE_FILE, "metadata.item_id", AT_ROW, 0 },
        { "block-size", REFUSE, VC_PROBLEM_BAD_BLOCK_SIZE, "metadata.block_size", AT_ROW, 0 },
        { "block-size-big", REFUSE, VC_PROBLEM_BAD_BLOCK_SIZE, "metadata.block_size", AT_ROW, 0 },
        { "file-parameters-reserved", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", AT_ROW, 0 },
        { "sector-size", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.logical_sector_size", AT_ROW, 0 },
        { "physical-sector-size", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.physical_sector_size", AT_ROW, 0 },
        { "size-unaligned", REFUSE, VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", AT_ROW, 0 },
        { "size-zero", REFUSE, VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", AT_ROW, 0 },
        { "size-huge", REFUSE, VC_PROBLEM_BAD_SIZE, "metadata.virtual_disk_size", AT_ROW, 0 },
        /* The region is what is too small: its length (BAT entry first). */
        { "bat-region-small", REFUSE, VC_PROBLEM_BAD_REGION_TABLE, "region.length", R1 + VXB_RT_ENTRIES + VXB_RTE_LENGTH, 0 },
        { "bat-reserved-bits", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "bat-state-4", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "bat-state-5", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "bat-partial-in-dynamic", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "sb-in-dynamic", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "sb-state", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "bat-past-eof", REFUSE, VC_PROBLEM_BAT_OUT_OF_FILE, "bat", AT_ROW, 0 },
        { "bat-partial-last", REFUSE, VC_PROBLEM_BAT_OUT_OF_FILE, "bat", AT_ROW, 0 },
        /* Offset 0 is inside the header section: an overlap. */
        { "bat-offset-zero", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "bat-overlap", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "bat-overlap-log", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "bat-overlap-metadata", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "bat-overlap-bat", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "soft-anchor-overlap", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        /* Differencing (lib/vhdx/locator.c, parent.c; test-vhdx-diff reads
         * the children). */
        { "partial-without-sb", REFUSE, VC_PROBLEM_BAD_BLOCK_STATE, "bat", AT_ROW, 0 },
        { "sb-overlap", REFUSE, VC_PROBLEM_BAT_OVERLAP, "bat", AT_ROW, 0 },
        { "locator-type", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.locator_type", AT_ROW, 0 },
        { "locator-count-zero", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.key_value_count", AT_ROW, 0 },
        { "locator-count-big", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.key_value_count", AT_ROW, 0 },
        { "locator-odd-offset", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", AT_ROW, 0 },
        { "locator-past-item", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", AT_ROW, 0 },
        /* A missing key is blamed on the locator item (48 bytes into the
         * items of these bases), where locator-type points too. */
        { "locator-no-linkage", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.parent_linkage", ITEMS + 48, 0 },
        { "locator-bad-linkage", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.parent_linkage", AT_ROW, 0 },
        { "locator-nul", REFUSE, VC_PROBLEM_BAD_LOCATOR, "parent_locator.value_offset", AT_ROW, 0 },
        { "locator-missing", REFUSE, VC_PROBLEM_BAD_METADATA, "metadata.file_parameters_flags", ITEMS + 4, 0 },
        { "parent-mismatch", REFUSE, VC_PROBLEM_PARENT_MISMATCH, "parent_locator.parent_linkage", AT_ROW, 0 },
        /* The log (lib/vhdx/log.c; test-vhdx-log replays good ones and
         * test-vhdx-write replays on disk): a log that replays is no
         * corruption, and a read-write open would replay it. */
        { "log-dirty", ELSEWHERE, 0, NULL, 0, 0 },
        { "log-entry-checksum", REFUSE, VC_PROBLEM_BAD_LOG, "log_entry.checksum", AT_ROW, 0 },
        { "log-entry-length", REFUSE, VC_PROBLEM_BAD_LOG, "log_entry.entry_length", AT_ROW, 0 },
        /* With the Tail outside it, no entry makes a sequence: blamed on
         * the LogGuid that names one. */
        { "log-tail", REFUSE, VC_PROBLEM_BAD_LOG, "header2.log_guid", H2 + VXB_HDR_LOG_GUID, 0 },
        { "log-entry-guid", REFUSE, VC_PROBLEM_BAD_LOG, "log_entry.log_guid", AT_ROW, 0 },
        { "log-data-sequence", REFUSE, VC_PROBLEM_BAD_LOG, "log_data.sequence_low", AT_ROW, 0 },
        { "log-target-identifier", REFUSE, VC_PROBLEM_BAD_LOG_DESCRIPTOR, "log_descriptor.file_offset", AT_ROW, 0 },
        { "log-target-header", REFUSE, VC_PROBLEM_BAD_LOG_DESCRIPTOR, "log_descriptor.file_offset", AT_ROW, 0 },
        { "log-target-log", REFUSE, VC_PROBLEM_BAD_LOG_DESCRIPTOR, "log_descriptor.file_offset", AT_ROW, 0 },
        { "log-target-unaligned", REFUSE, VC_PROBLEM_BAD_LOG_DESCRIPTOR, "log_descriptor.file_offset", AT_ROW, 0 },
        { "log-flushed-past-eof", REFUSE, VC_PROBLEM_TRUNCATED, "log_entry.flushed_file_offset", AT_ROW, 0 },
};

static char dir[] = "/tmp/test-vhdx-corruptions.XXXXXX";
static bool show;

static struct vxb_image *make_parent(void)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8 * VXB_MIB };
        struct vxb_image *par = vxb_new(&p);

        for (uint64_t b = 0; b < 8; b++)
                vxb_alloc_block(par, b, (int) (0x10 + b));
        return par;
}

/* The bases test-vhdx-builder.c applies the rows to. */
static struct vxb_image *base(unsigned needs, struct vxb_image **parent)
{
        struct vxb_params p = { .type = VXB_DYNAMIC, .virtual_size = 8ull << 30,
                                .block_size = 2 * VXB_MIB };
        struct vxb_image *img;
        char ppath[300];

        *parent = NULL;
        if (needs & VXB_NEEDS_DIFF) {
                *parent = make_parent();
                snprintf(ppath, sizeof ppath, "%s/parent.vhdx", dir);
                vxb_write_file(*parent, ppath);
                p.type = VXB_DIFFERENCING;
                p.virtual_size = 8 * VXB_MIB;
                p.block_size = 0;
                img = vxb_new(&p);
                vxb_set_parent_image(img, *parent, ppath);
                vxb_alloc_block(img, 0, 1);
                vxb_alloc_block(img, 1, 2);
                vxb_alloc_partial(img, 2, 3);
                return img;
        }
        if (needs & VXB_NEEDS_LOG) {
                p.virtual_size = 64 * VXB_MIB;
                p.block_size = 0;
                img = vxb_new(&p);
                vxb_alloc_block(img, 0, 1);
                vxb_log_begin(img);
                vxb_alloc_block(img, 1, 2);
                vxb_log_commit(img, 0);
                return img;
        }
        img = vxb_new(&p);
        vxb_alloc_block(img, 0, 1);
        vxb_alloc_block(img, 1, 2);
        return img;
}

static const struct expect *find_expect(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                if (!strcmp(expect[i].name, name))
                        return &expect[i];
        return NULL;
}

static bool lists(const struct vc_problems *ps, int id, const char *field, uint64_t offset)
{
        for (size_t i = 0; i < ps->n; i++)
                if ((int) ps->v[i].id == id && ps->v[i].offset == offset &&
                    ((!ps->v[i].field && !field) ||
                     (ps->v[i].field && field && !strcmp(ps->v[i].field, field))))
                        return true;
        return false;
}

/* A legal row: the disk reads what the builder says, in 1 MiB steps over
 * the allocated area and a sample beyond. */
static void read_expected(struct vxb_image *img, struct vc_image *im, const char *name)
{
        ASSERT_EQ_U64(vc_image_virtual_size(im), img->p.virtual_size);
        vxe_assert_disk(img, VXB_VIEW_REPLAYED, vxe_read_image, im, true, name);
}

static void run_row(const struct vxb_corruption *r, unsigned *n_elsewhere)
{
        struct vxb_image *parent, *img = base(r->needs, &parent);
        const struct expect *e = find_expect(r->name);
        const bool direct = !strcmp(r->name, "identifier");
        struct vc_image *im = NULL;
        char path[300];
        size_t before_len, after_len;
        _cleanup_free_ uint8_t *before = NULL, *after = NULL;
        uint64_t at, off;
        int rr;

        if (!e && !show)
                TEST_FAIL("row %s has no expectation here", r->name);
        at = r->apply(img);
        off = !e || e->offset == AT_ROW ? at + (e ? e->delta : 0) : e->offset;
        snprintf(path, sizeof path, "%s/%s.vhdx", dir, r->name);
        vxb_write_file(img, path);
        before = vb_read_file(path, &before_len);

        struct vc_problems ps = { .collect = false };
        rr = vc_image_open(path, NULL, 0, &ps, &im);
        if (direct) {
                /* The seam refuses it (as a VHD without a footer); lib/vhdx
                 * must say why it is no VHDX. */
                struct vhdx_image *x = NULL;
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                ASSERT_TRUE(rr < 0 && fd >= 0);
                ps = (struct vc_problems) { .collect = false };
                rr = vhdx_image_open_fd(fd, path, 0, &ps, &x);
                ASSERT_TRUE(rr < 0);
                close(fd);
        }
        struct vc_problems cps = { .collect = true };
        int cr = vc_image_check(path, NULL, &cps);
        if (show) {
                printf("%-28s open=%d %s %s @%llu (row @%llu, proposed %s %s) check=%d n=%zu: %s\n",
                       r->name, rr, rr < 0 ? vc_problem_id_to_string(ps.first.id) : "-",
                       rr < 0 && ps.first.field ? ps.first.field : "-",
                       (unsigned long long) ps.first.offset, (unsigned long long) at, r->problem,
                       r->field ? r->field : "-", cr, cps.n, rr < 0 ? ps.first.message : "");
                for (size_t i = 0; i < cps.n; i++)
                        printf("    check: %s %s @%llu: %s\n", vc_problem_id_to_string(cps.v[i].id),
                               cps.v[i].field ? cps.v[i].field : "-",
                               (unsigned long long) cps.v[i].offset, cps.v[i].message);
                if (rr >= 0)
                        vc_image_free(im);
                goto out;
        }
        if (e->kind == ELSEWHERE) {
                if (rr >= 0)
                        vc_image_free(im);
                (*n_elsewhere)++;
                printf("%-28s held by another test\n", r->name);
                goto out;
        }

        if (e->kind == OPENS || e->kind == OPENS_RO || e->kind == NOTE) {
                if (rr < 0)
                        TEST_FAIL("%s: refused, expected to open: %s %s", r->name,
                                  vc_problem_id_to_string(ps.first.id), ps.first.message);
                read_expected(img, im, r->name);
                vc_image_free(im);
                if ((e->kind == OPENS || e->kind == OPENS_RO) && cr != 0)
                        TEST_FAIL("%s: check returned %d (%s)", r->name, cr,
                                  cps.n ? cps.v[0].message : "");
                if (e->kind == NOTE && (cr != 1 || !lists(&cps, e->id, e->field, off)))
                        TEST_FAIL("%s: check returned %d without noting %s at %llu", r->name, cr,
                                  vc_problem_id_to_string(e->id), (unsigned long long) off);
        } else {
                if (rr >= 0)
                        TEST_FAIL("%s: opened, expected %s", r->name,
                                  vc_problem_id_to_string(e->id));
                if ((int) ps.first.id != e->id || ps.first.offset != off ||
                    !(e->field ? ps.first.field && !strcmp(ps.first.field, e->field) : !ps.first.field))
                        TEST_FAIL("%s: refused with %s %s at %llu (%s), expected %s %s at %llu",
                                  r->name, vc_problem_id_to_string(ps.first.id),
                                  ps.first.field ? ps.first.field : "-",
                                  (unsigned long long) ps.first.offset, ps.first.message,
                                  vc_problem_id_to_string(e->id), e->field ? e->field : "-",
                                  (unsigned long long) off);
                if (e->kind == REFUSE && (cr != 1 || (!direct && !lists(&cps, e->id, e->field, off))))
                        TEST_FAIL("%s: check returned %d without listing %s at %llu", r->name,
                                  cr, vc_problem_id_to_string(e->id), (unsigned long long) off);
                struct vc_problems wps = { .collect = false };
                ASSERT_TRUE(vc_image_open(path, NULL, VC_OPEN_RDWR, &wps, &im) < 0);
        }
        if (e->kind == OPENS || e->kind == OPENS_RO) {
                /* A writable session that changes nothing writes nothing
                 * (the file is compared below); OPENS_RO: refused. */
                struct vc_problems wps = { .collect = false };
                int wr = vc_image_open(path, NULL, VC_OPEN_RDWR, &wps, &im);
                if (e->kind == OPENS_RO && wr >= 0)
                        TEST_FAIL("%s: a writable open was not refused", r->name);
                if (e->kind == OPENS && wr < 0)
                        TEST_FAIL("%s: a writable open was refused: %s", r->name, wps.first.message);
                if (wr >= 0)
                        vc_image_free(im);
        }

        after = vb_read_file(path, &after_len);
        ASSERT_EQ_U64(after_len, before_len);
        if (memcmp(before, after, before_len))
                TEST_FAIL("%s: the file changed", r->name);
        printf("%-28s %s%s\n", r->name,
               e->kind == OPENS ? "opens" : e->kind == OPENS_RO ? "opens read-only" :
               e->kind == NOTE ? "opens, noted" : vc_problem_id_to_string(e->id), "");
out:
        vc_problems_done(&cps);
        unlink(path);
        vxb_free(img);
        vxb_free(parent);
}

/* Legal variations the table's traps sit next to: each must open, read
 * the builder's expected disk, check clean, and stay byte-identical. */
static void run_legal(const char *name, struct vxb_image *img)
{
        _cleanup_free_ uint8_t *before = NULL, *after = NULL;
        struct vc_problems ps = { .collect = false }, cps = { .collect = true };
        struct vc_image *im = NULL;
        size_t before_len, after_len;
        char path[300];
        int r;

        snprintf(path, sizeof path, "%s/%s.vhdx", dir, name);
        vxb_write_file(img, path);
        before = vb_read_file(path, &before_len);
        r = vc_image_open(path, NULL, 0, &ps, &im);
        if (r < 0)
                TEST_FAIL("%s: refused: %s %s", name, vc_problem_id_to_string(ps.first.id),
                          ps.first.message);
        read_expected(img, im, name);
        vc_image_free(im);
        r = vc_image_check(path, NULL, &cps);
        if (r != 0)
                TEST_FAIL("%s: check returned %d (%s)", name, r, cps.n ? cps.v[0].message : "");
        vc_problems_done(&cps);
        after = vb_read_file(path, &after_len);
        ASSERT_EQ_U64(after_len, before_len);
        ASSERT_TRUE(memcmp(before, after, before_len) == 0);
        printf("%-28s opens (legal)\n", name);
        unlink(path);
        vxb_free(img);
}

static void legal_cases(void)
{
        struct vxb_params dyn = { .type = VXB_DYNAMIC, .virtual_size = 64 * VXB_MIB };
        struct vxb_image *img;
        static const uint8_t item[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        uint64_t off;

        /* An unknown optional region: kept, never read (VHDX.md §5.10). */
        img = vxb_new(&dyn);
        vxb_alloc_block(img, 0, 1);
        vxb_add_region(img, "6E5F1D4A-0000-4B3B-8E16-5A0A3C7A2D12", VXB_MIB, false);
        vxb_alloc_block(img, 5, 2);
        run_legal("unknown-optional-region", img);

        /* An unknown user item, not required. */
        img = vxb_new(&dyn);
        vxb_add_metadata(img, "0D2A2B3C-4444-4A5B-9C8D-7E6F5A4B3C2D", item, sizeof item,
                         VXB_META_IS_USER);
        vxb_alloc_block(img, 3, 3);
        run_legal("unknown-optional-metadata", img);

        /* qemu's choices: Required = 0 on the known regions, ZERO for
         * blocks never written, 8 MiB blocks, a partial last block. */
        img = vxb_new(&(struct vxb_params) { .type = VXB_DYNAMIC, .virtual_size = 60 * VXB_MIB,
                                             .block_size = 8 * VXB_MIB, .default_state = VXB_ZERO,
                                             .regions_not_required = true, .physical_sector = 512 });
        vxb_alloc_block(img, 0, 4);
        vxb_alloc_block(img, 7, 5);
        run_legal("qemu-like", img);

        /* 4096-byte logical sectors. */
        img = vxb_new(&(struct vxb_params) { .type = VXB_DYNAMIC, .virtual_size = 64 * VXB_MIB,
                                             .logical_sector = 4096 });
        vxb_alloc_block(img, 2, 6);
        run_legal("4k-sectors", img);

        /* Soft anchors (UNMAPPED and UNDEFINED with an offset) in free
         * space, and ZERO with an offset: read as zeros. */
        img = vxb_new(&dyn);
        vxb_alloc_block(img, 0, 7);
        off = vxb_append(img, VXB_MIB);
        vxb_set_state(img, 1, VXB_UNMAPPED, off);
        off = vxb_append(img, VXB_MIB);
        vxb_set_state(img, 2, VXB_UNDEFINED, off);
        vxb_alloc_block(img, 3, 8);
        run_legal("soft-anchors", img);

        /* A fixed image. */
        img = vxb_new(&(struct vxb_params) { .type = VXB_FIXED, .virtual_size = 16 * VXB_MIB });
        run_legal("fixed", img);
}

int main(void)
{
        char cmd[400];
        unsigned n_elsewhere = 0;

        show = getenv("VXC_SHOW") != NULL;
        vxb_guid_seed(14);
        ASSERT_TRUE(mkdtemp(dir));
        for (size_t i = 0; i < vxb_n_corruptions; i++)
                run_row(&vxb_corruptions[i], &n_elsewhere);
        if (!show)
                legal_cases();
        if (!show)
                /* Every expectation names a row of the table. */
                for (size_t i = 0; i < ELEMENTSOF(expect); i++)
                        ASSERT_TRUE(vxb_corruption_find(expect[i].name) != NULL);
        printf("%zu rows, %u held by other tests\n", vxb_n_corruptions, n_elsewhere);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ASSERT_EQ_INT(system(cmd), 0);
        return 0;
}
