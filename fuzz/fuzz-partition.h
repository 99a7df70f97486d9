/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a partition table from fuzz input, shared by fuzz-gpt and
 * fuzz-mbr: vc_partition_table_read() on a memory source over the input,
 * then the promises of partition.h checked: entries sorted by start, none
 * empty, none overlapping, all inside the disk; a refusal names a problem
 * and leaves the caller's table untouched.  And against the bytes: a
 * primary MBR partition (1-4) is exactly its slot's entry, and a GPT
 * partition read from the primary array is exactly its entry there, so a
 * table is never read as something it does not say.
 */
#pragma once

#include "fs/partition.h"
#include "fuzz-common.h"
#include "source.h"

static void check_against_bytes(const uint8_t *disk, size_t size, uint32_t ss,
                                const struct vc_partition_table *t, const struct vc_partition *p)
{
        if (t->scheme == VC_PART_MBR && p->number <= 4) {
                const uint8_t *e = disk + 446 + 16 * (p->number - 1);
                FUZZ_CHECK(p->mbr_type == e[4]);
                FUZZ_CHECK(p->start == (uint64_t) get_le32(e + 8) * ss);
                FUZZ_CHECK(p->size == (uint64_t) get_le32(e + 12) * ss);
        }
        if (t->scheme == VC_PART_GPT && !t->used_backup_gpt) {
                const uint8_t *h = disk + ss;
                uint64_t arr = get_le64(h + 72), es = get_le32(h + 84), at, first, last;
                FUZZ_CHECK(p->number >= 1 && p->number <= get_le32(h + 80));
                at = arr * ss + (p->number - 1) * es;
                FUZZ_CHECK(at < size && size - at >= 128);
                first = get_le64(disk + at + 32);
                last = get_le64(disk + at + 40);
                FUZZ_CHECK(memcmp(p->gpt_type, disk + at, 16) == 0);
                FUZZ_CHECK(last >= first && p->start == first * ss && p->size == (last - first + 1) * ss);
        }
}

static void fuzz_partition_read(const uint8_t *disk, size_t size, uint32_t sector_size)
{
        struct vc_source src;
        struct vc_problems ps = {};
        struct vc_partition_table t = { .scheme = _VC_PART_SCHEME_MAX, .n = 12345 };
        int r;

        vc_source_memory(&src, disk, size);
        r = vc_partition_table_read(&src, sector_size, &t, &ps);
        if (r < 0) {
                FUZZ_CHECK(r == -ENOMEM || vc_problems_any(&ps));
                FUZZ_CHECK(t.scheme == _VC_PART_SCHEME_MAX && t.n == 12345 && !t.v);
        } else {
                FUZZ_CHECK(t.scheme == VC_PART_NONE || t.scheme == VC_PART_MBR ||
                           t.scheme == VC_PART_GPT);
                FUZZ_CHECK(t.scheme != VC_PART_NONE || t.n == 0);
                for (size_t i = 0; i < t.n; i++) {
                        const struct vc_partition *p = &t.v[i];
                        FUZZ_CHECK(p->size > 0);
                        FUZZ_CHECK(p->start < size && size - p->start >= p->size);
                        FUZZ_CHECK(p->start % sector_size == 0 && p->size % sector_size == 0);
                        FUZZ_CHECK(p->number >= 1);
                        FUZZ_CHECK(memchr(p->type_name, 0, sizeof p->type_name));
                        FUZZ_CHECK(memchr(p->name, 0, sizeof p->name));
                        if (i > 0)
                                FUZZ_CHECK(t.v[i - 1].start + t.v[i - 1].size <= p->start);
                        check_against_bytes(disk, size, sector_size, &t, p);
                }
                vc_partition_table_done(&t);
        }
        vc_problems_done(&ps);
}
