/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-ext4: the ext2/3/4 scanner (lib/fs/ext4*.c) on a small volume: the
 * superblock, the group descriptors (old layout and meta_bg), the block
 * bitmaps and the journal and MMP checks.
 *
 * Input: the first bytes (up to 64 KiB) of a 2 MiB volume, the rest zeros.
 * Seeds: fuzz/corpus/ext4/, the first 64 KiB of 2 MiB volumes made by
 * mkfs.ext4 (1 and 4 KiB blocks, metadata_csum, uninit_bg and no
 * checksums, ^64bit, meta_bg, bigalloc, two groups, ext2), trailing zeros
 * cut.  Scanned without force-dirty, and again with it when not clean.
 *
 * Invariants: a failure names a problem and leaves the caller's map
 * exactly as it was; a success grants only whole clusters inside the file
 * system and the volume, never block 0 or the primary superblock, adding
 * up to the free clusters it reports; a volume that is not clean grants
 * nothing unless forced.
 */
#include "fs/ext4.h"
#include "fs/fs.h"
#include "fuzz-common.h"
#include "source.h"

#define VOL_SIZE (2u << 20)
#define PART_START 4096u
#define MAX_INPUT (64u << 10)

static uint8_t *disk;

static void scan(bool force)
{
        const struct vc_fs_type *t = vc_fs_type_by_name("ext2/3/4");
        const struct vc_fs_scan_opts opts = { .force_dirty = force };
        struct vc_source src;
        struct vc_freemap m = {};
        struct vc_problems ps = {};
        struct vc_fs_info gen;
        struct ext4_info info = {};
        uint64_t total = 0;
        int r;

        FUZZ_CHECK(t && t->scan);
        /* A range already in the caller's map, adjacent to nothing. */
        FUZZ_CHECK(freemap_add(&m, 0, 1024) == 0);
        vc_source_memory(&src, disk, PART_START + VOL_SIZE);
        r = vc_fs_scan(t, &src, PART_START, VOL_SIZE, &opts, &m, &gen, &info, &ps);
        FUZZ_CHECK(m.n >= 1 && m.v[0].start == 0);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(m.n == 1 && m.v[0].len == 1024);
        } else {
                FUZZ_CHECK(m.v[0].len == 1024);
                FUZZ_CHECK(info.cluster_size >= 1024 && (info.cluster_size & (info.cluster_size - 1)) == 0);
                FUZZ_CHECK(gen.clean || force || m.n == 1);
                for (size_t i = 1; i < m.n; i++) {
                        uint64_t s = m.v[i].start - PART_START, e = s + m.v[i].len;
                        FUZZ_CHECK(m.v[i].start >= PART_START && m.v[i].len > 0);
                        FUZZ_CHECK(e <= VOL_SIZE && e <= info.blocks_count * info.block_size);
                        FUZZ_CHECK(s >= 2048 && s >= info.block_size);
                        FUZZ_CHECK(s % info.block_size == 0 && m.v[i].len % info.block_size == 0);
                        total += m.v[i].len;
                }
                if (gen.clean || force)
                        FUZZ_CHECK(total == info.free_clusters * info.cluster_size);
        }
        if (r == 0 && !gen.clean && !force)
                scan(true);
        freemap_done(&m);
        vc_problems_done(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!disk) {
                disk = calloc(1, PART_START + VOL_SIZE);
                FUZZ_CHECK(disk);
        }
        memset(disk, 0, PART_START + VOL_SIZE);
        memcpy(disk + PART_START, data, size < MAX_INPUT ? size : MAX_INPUT);
        scan(false);
        return 0;
}
