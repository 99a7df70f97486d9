/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ntfs-volume: ntfs_scan() on a whole small volume, the way the
 * analysis runs it on each NTFS partition.
 *
 * The input is the volume's metadata regions (fuzz-ntfs-vol.h) laid over
 * the base volume: boot sector, all 32 MFT records (fixups, attributes,
 * $MFT's and $Bitmap's attribute lists, runlists, $Volume, $BadClus), the
 * root index blocks, the $LogFile restart pages, both $Bitmap clusters and
 * the head of hiberfil.sys.  Scanned without force-dirty, and again with
 * it when the volume is not clean.
 *
 * Invariants (those of test-ntfs-fuzz, now for every input): a failure
 * names a problem and leaves the caller's map exactly as it was; a success
 * grants only whole clusters inside the volume; and when the geometry, the
 * records that locate $Bitmap and $Bad (0, 6, 8, 18, 19) and $Bitmap's
 * clusters are the base's, only clusters the base bitmap marks free are
 * granted, none of $Bad's.  A mangled structure may be refused; it may
 * never read as more free space.
 */
#include "fs/ntfs.h"
#include "fuzz-common.h"
#include "fuzz-ntfs-vol.h"
#include "source.h"

static struct nb base;
static uint8_t *disk;

static bool same(uint64_t off, size_t len)
{
        return memcmp(disk + off, base.disk + off, len) == 0;
}

static void scan(bool force, bool trust_bitmap)
{
        struct vc_source src;
        struct vc_freemap m = {};
        struct vc_problems ps = {};
        struct ntfs_info info;
        const uint64_t vol_end = base.part_start + base.part_size;
        int r;

        /* A range already in the caller's map, adjacent to nothing. */
        FUZZ_CHECK(freemap_add(&m, base.disk_size - 1024, 1024) == 0);
        vc_source_memory(&src, disk, base.disk_size);
        r = ntfs_scan(&src, base.part_start, base.part_size, force, &m, &info, &ps);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(m.n == 1 && m.v[0].start == base.disk_size - 1024 && m.v[0].len == 1024);
        } else {
                FUZZ_CHECK(m.v[0].start == base.disk_size - 1024 && m.v[0].len == 1024);
                FUZZ_CHECK(info.cluster_size >= 512 && (info.cluster_size & (info.cluster_size - 1)) == 0);
                FUZZ_CHECK(info.clean || force || m.n == 1);
                for (size_t i = 1; i < m.n; i++) {
                        uint64_t s = m.v[i].start, e = s + m.v[i].len;
                        FUZZ_CHECK(m.v[i].len > 0);
                        FUZZ_CHECK(s >= base.part_start && e <= vol_end);
                        FUZZ_CHECK(e - base.part_start <= info.total_clusters * info.cluster_size);
                        FUZZ_CHECK((s - base.part_start) % info.cluster_size == 0);
                        FUZZ_CHECK(m.v[i].len % info.cluster_size == 0);
                        if (!trust_bitmap)
                                continue;
                        for (uint64_t c = (s - base.part_start) / base.cs;
                             c < (e - base.part_start) / base.cs; c++) {
                                FUZZ_CHECK(!((base.bitmap[c / 8] >> (c % 8)) & 1));
                                FUZZ_CHECK(c < 230 || c >= 233);
                        }
                }
        }
        if (r == 0 && !info.clean && !force)
                scan(true, trust_bitmap);
        freemap_done(&m);
        vc_problems_done(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        bool trust;

        if (!disk) {
                fuzz_ntfs_build(&base, FUZZ_NTFS_BASE);
                disk = malloc(base.disk_size);
                if (!disk)
                        abort();
        }
        if (size > 128 * 1024)
                return 0;
        memcpy(disk, base.disk, base.disk_size);
        fuzz_ntfs_apply(&base, disk, data, size);
        trust = same(base.part_start, 512) &&
                same(nb_rec_disk(&base, 0), NB_RS) && same(nb_rec_disk(&base, 6), NB_RS) &&
                same(nb_rec_disk(&base, 8), NB_RS) && same(nb_rec_disk(&base, 18), 2 * NB_RS) &&
                same(nb_off(&base, NB_LCN_BITMAP), 4096) && same(nb_off(&base, 180), 4096);
        scan(false, trust);
        return 0;
}
