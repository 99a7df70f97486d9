/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ntfs-mft-record: MFT records, one at a time, and everything that
 * reads a file through its records.
 *
 * The input is the whole $MFT of the base volume (32 records of 1 KiB, as
 * on disk: with fixups), zero padded.  The volume's geometry and $MFT
 * runlist come from the base, not from the input, so that every record is
 * reached.  For each record: ntfs_mft_read() (fixups, header checks), the
 * attribute walk (ntfs_attr_next) with each non-resident attribute's
 * mapping pairs decoded; for in-use base records the unnamed $DATA stream
 * and $Bad through ntfs_stream_open() (attribute list, extension records,
 * extent order) and a read of it, the $FILE_NAME lookup and name check, and
 * for directories an $I30 lookup of an ASCII and a non-ASCII name (the
 * latter loads $UpCase from record 10 of the input).
 *
 * Invariants: a record read is the bytes on the disk with the fixups
 * undone (each stride ended with the update sequence number, which the
 * saved bytes replace), names itself and keeps its attributes inside it; every attribute's spans lie inside the record; a stream's runs start
 * at VCN 0, are gap-free and cover allocated_size, and its sizes are
 * ordered; every refusal names a problem.
 */
#include "fs/ntfs-internal.h"
#include "fuzz-common.h"
#include "fuzz-ntfs-vol.h"
#include "source.h"

static struct nb base;
static uint8_t *disk;
static struct ntfs_record rec, keep;

static bool inside(const struct ntfs_record *r, struct span s)
{
        return s.len == 0 || (s.p >= r->buf && s.p + s.len <= r->buf + r->blk.size);
}

static void check_stream(const struct ntfs_volume *v, const struct ntfs_stream *s)
{
        uint64_t vcn = 0;

        FUZZ_CHECK(s->initialized_size <= s->data_size);
        if (s->resident)
                return;
        FUZZ_CHECK(s->data_size <= s->allocated_size);
        for (size_t i = 0; i < s->rl.n; i++) {
                FUZZ_CHECK(s->rl.v[i].vcn == vcn && s->rl.v[i].len > 0);
                if (s->rl.v[i].lcn != NTFS_LCN_HOLE)
                        FUZZ_CHECK(s->rl.v[i].lcn + s->rl.v[i].len <= v->boot.total_clusters);
                vcn += s->rl.v[i].len;
        }
        FUZZ_CHECK(vcn == s->allocated_size >> v->boot.cluster_shift);
}

static void one_stream(struct ntfs_volume *v, const char *name)
{
        struct ntfs_stream s = {};
        static uint8_t buf[8192];
        int r = ntfs_stream_open(v, &rec, NTFS_AT_DATA, name, "fuzz", NULL, &s);

        FUZZ_CHECK(r >= 0 || r == -ENOMEM || vc_problems_any(v->problems));
        if (r > 0) {
                check_stream(v, &s);
                if (s.data_size > 0) {
                        size_t n = s.data_size < sizeof buf ? (size_t) s.data_size : sizeof buf;
                        (void) ntfs_stream_pread(v, &s, buf, n, 0, "fuzz.read");
                        (void) ntfs_stream_pread(v, &s, buf, 1, s.data_size - 1, "fuzz.read");
                }
                FUZZ_CHECK(ntfs_stream_pread(v, &s, buf, 1, s.data_size, "fuzz.read") < 0);
        }
        ntfs_stream_done(&s);
}

static void one_record(struct ntfs_volume *v, uint64_t recno)
{
        struct ntfs_attr a;
        uint32_t cursor = 0;
        const struct ntfs_record *where;
        uint64_t mref;
        int r;

        r = ntfs_mft_read(v, recno, &rec);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(v->problems));
                return;
        }
        FUZZ_CHECK(rec.recno == recno);
        {       /* the fixups, the simple way */
                const uint8_t *raw = disk + nb_off(&base, 4) + recno * NB_RS;
                uint16_t usa = get_le16(raw + 4);
                FUZZ_CHECK(get_le16(raw + 6) == NB_RS / 512 + 1);
                for (uint32_t k = 1; k <= NB_RS / 512; k++) {
                        FUZZ_CHECK(memcmp(raw + k * 512 - 2, raw + usa, 2) == 0);
                        FUZZ_CHECK(memcmp(rec.buf + k * 512 - 2, raw + usa + 2 * k, 2) == 0);
                        FUZZ_CHECK(memcmp(rec.buf + (k - 1) * 512, raw + (k - 1) * 512, 510) == 0);
                }
        }
        FUZZ_CHECK(rec.blk.size == v->boot.mft_record_size);
        FUZZ_CHECK(rec.attrs_offset < rec.bytes_used && rec.bytes_used <= rec.blk.size);

        for (unsigned k = 0; k < 128; k++) {
                r = ntfs_attr_next(&rec, &cursor, &a, v->problems);
                if (r <= 0)
                        break;
                FUZZ_CHECK(a.offset < rec.blk.size && a.length <= rec.blk.size - a.offset);
                FUZZ_CHECK(inside(&rec, a.name) && inside(&rec, a.value) &&
                           inside(&rec, a.mapping_pairs));
                if (a.non_resident) {
                        struct ntfs_runlist rl = {};
                        struct vc_problems ps = {};
                        (void) ntfs_runlist_decode(&rl, &a.mapping_pairs, a.lowest_vcn, a.highest_vcn,
                                                   v->boot.total_clusters, 0, &ps);
                        ntfs_runlist_done(&rl);
                        vc_problems_done(&ps);
                }
        }
        if (!(rec.flags & NTFS_MFT_FLAG_IN_USE) || rec.base_ref != 0)
                return;

        one_stream(v, "");
        if (recno == NTFS_REC_BADCLUS)
                one_stream(v, "$Bad");
        r = ntfs_file_find_attr(v, &rec, NTFS_AT_FILE_NAME, "", &keep, &where, &a);
        if (r > 0)
                FUZZ_CHECK(where == &rec || where == &keep);
        (void) ntfs_record_check_name(v, &rec, "big.dat", NTFS_REC_ROOT, "fuzz.name");
        if (rec.flags & NTFS_MFT_FLAG_DIRECTORY) {
                (void) ntfs_index_lookup(v, &rec, "hiberfil.sys", &mref);
                (void) ntfs_index_lookup(v, &rec, "\xc3\xa9t\xc3\xa9.txt", &mref);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vc_source src;
        struct vc_problems ps = {};
        struct ntfs_volume v = {};

        if (!disk) {
                fuzz_ntfs_build(&base, FUZZ_NTFS_BASE);
                disk = malloc(base.disk_size);
                if (!disk)
                        abort();
        }
        if (size > NB_RECORDS * NB_RS)
                return 0;
        memcpy(disk, base.disk, base.disk_size);
        memset(disk + nb_off(&base, 4), 0, NB_RECORDS * NB_RS);
        memcpy(disk + nb_off(&base, 4), data, size);

        vc_source_memory(&src, disk, base.disk_size);
        v.src = &src;
        v.part_start = base.part_start;
        v.problems = &ps;
        if (ntfs_boot_parse(base.disk + base.part_start, base.part_start, base.part_size, &v.boot,
                            NULL) < 0 ||
            ntfs_runlist_append(&v.mft_rl, 0, 4, NB_RECORDS * NB_RS / base.cs) < 0)
                abort();
        v.mft_valid = NB_RECORDS * NB_RS;

        for (uint64_t r = 0; r < NB_RECORDS; r++) {
                one_record(&v, r);
                vc_problems_done(&ps);
                ps = (struct vc_problems) {};
        }
        ntfs_volume_done(&v);
        return 0;
}
