/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-plan: the compaction planner, fed a BAT and a random set of drops.
 *
 * Input: [0] mode, [1..8] seed for the drops, then
 *   mode even: a VHD file, opened as fuzz-vhd does (checksums fixed, the
 *              fixed parent); its layout comes from compact_layout_from_image()
 *              - the parsed BAT, the metadata end with the locators' space;
 *   mode 1 (mod 4): a layout spelled out directly, so the planner's edge cases are
 *              reached without a valid VHD around them: [9] stride in
 *              sectors - 1, [10..11] metadata end in sectors, [12..13]
 *              entries, [14..15] slack sectors before the footer, then one
 *              byte per entry: 0xFF unallocated, else the slot index the
 *              block takes (slots that two entries want go to the first);
 *              the layout is valid by construction (no overlaps, every block
 *              between the metadata and the footer).
 *   mode 3 (mod 4): a layout of two object sizes on a 1 MiB grid, as
 *              VHDX's: [9] the large size in MiB - 1 (mod 8), [10] bit 0
 *              1 MiB alignment, bit 1 a 1 MiB tail, [11..14] two fixed
 *              extents (first cell, cells; 0xFF none), [15] slack cells,
 *              then one byte per entry: 0xFF unallocated, else bit 7 the
 *              class (1: 1 MiB) and bits 0..6 its first cell past the
 *              1 MiB header (an entry whose cells are taken is left out).
 * Each allocated block is dropped with a probability drawn from the seed.
 *
 * Invariants checked with abort(): the drops are exactly the blocks asked
 * for; survivors + drops = allocated blocks; every move takes a survivor
 * from its slot downwards into a place past the metadata that no other
 * survivor (staying or moved) and no fixed extent occupies, with the
 * object's own length; after the moves every survivor ends inside the
 * final file, off every fixed extent, the final size is the furthest of
 * the metadata end, the fixed extents and the last survivor, plus the
 * footer, and never more than the old size; and the same plan comes out
 * twice (it is a function of the file alone).
 */
#include "compact/plan.h"
#include "util/overflow.h"
#include "fuzz-vhd-open.h"

struct placed {
        uint64_t off;
        uint32_t block;
};

static int cmp_placed(const void *a, const void *b)
{
        const struct placed *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

static void check(const struct compact_layout *l, const uint8_t *drop)
{
        struct compact_plan p = {}, q = {};
        uint32_t allocated = 0, want_drops = 0, k = 0;
        uint64_t footer = l->file_size - l->tail, end, bytes = 0;
        struct placed *fin;
        int r;

        for (uint32_t i = 0; i < l->n_objects; i++)
                if (l->at[i] != COMPACT_ABSENT) {
                        allocated++;
                        want_drops += drop[i] != COMPACT_KEEP;
                }
        r = compact_plan_build(l, drop, &p);
        if (r == -ENOMEM)
                return;
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(p.n_drops == want_drops && p.survivors + p.n_drops == allocated);
        for (uint32_t d = 0; d < p.n_drops; d++) {
                FUZZ_CHECK(p.drops[d] < l->n_objects && drop[p.drops[d]]);
                FUZZ_CHECK(l->at[p.drops[d]] != COMPACT_ABSENT);
                if (d > 0)
                        FUZZ_CHECK(p.drops[d] > p.drops[d - 1]);
        }

        /* Where every survivor ends. */
        fin = malloc(((size_t) p.survivors + 1) * sizeof *fin);
        if (!fin)
                abort();
        for (uint32_t i = 0; i < l->n_objects; i++)
                if (l->at[i] != COMPACT_ABSENT && !drop[i])
                        fin[k++] = (struct placed) { (uint64_t) l->at[i] * l->unit, i };
        FUZZ_CHECK(k == p.survivors);
        for (uint32_t m = 0; m < p.n_moves; m++) {
                const struct compact_move *mv = &p.moves[m];
                bool found = false;
                FUZZ_CHECK(mv->block < l->n_objects && !drop[mv->block]);
                FUZZ_CHECK(mv->from == (uint64_t) l->at[mv->block] * l->unit);
                FUZZ_CHECK(mv->to < mv->from);
                FUZZ_CHECK(mv->len == compact_object_size(l, mv->block));
                FUZZ_CHECK(mv->to >= l->fixed_end && mv->to % l->unit == 0);
                FUZZ_CHECK(mv->to + mv->len <= footer);
                for (uint32_t f = 0; f < l->n_fixed; f++)
                        FUZZ_CHECK(!ranges_overlap(mv->to, mv->len, l->fixed[f].off, l->fixed[f].len));
                bytes += mv->len;
                if (m > 0)
                        FUZZ_CHECK(mv->from < p.moves[m - 1].from);
                for (uint32_t j = 0; j < k; j++)
                        if (fin[j].block == mv->block) {
                                FUZZ_CHECK(!found && fin[j].off == mv->from);
                                fin[j].off = mv->to;
                                found = true;
                        }
                FUZZ_CHECK(found);
        }
        FUZZ_CHECK(p.bytes_moved == bytes);
        qsort(fin, k, sizeof *fin, cmp_placed);
        end = l->fixed_end;
        for (uint32_t f = 0; f < l->n_fixed; f++)
                if (l->fixed[f].off + l->fixed[f].len > end)
                        end = l->fixed[f].off + l->fixed[f].len;
        for (uint32_t j = 0; j < k; j++) {
                uint64_t len = compact_object_size(l, fin[j].block);
                if (j > 0)
                        FUZZ_CHECK(fin[j - 1].off + compact_object_size(l, fin[j - 1].block) <= fin[j].off);
                FUZZ_CHECK(fin[j].off + len > fin[j].off);
                if (fin[j].off + len > end)
                        end = fin[j].off + len;
        }
        /* Blocks that stay where they were may lie inside the metadata
         * counted generously; moved ones may not (checked above). */
        FUZZ_CHECK(p.final_size == end + l->tail);
        FUZZ_CHECK(p.final_size <= l->file_size || k == 0 || l->fixed_end + l->tail > l->file_size);
        free(fin);

        FUZZ_CHECK(compact_plan_build(l, drop, &q) == 0);
        FUZZ_CHECK(q.final_size == p.final_size && q.n_moves == p.n_moves && q.n_drops == p.n_drops);
        for (uint32_t m = 0; m < p.n_moves; m++)
                FUZZ_CHECK(q.moves[m].block == p.moves[m].block && q.moves[m].from == p.moves[m].from &&
                           q.moves[m].to == p.moves[m].to && q.moves[m].len == p.moves[m].len);
        compact_plan_done(&q);
        compact_plan_done(&p);
}

static uint8_t *draw_drops(const struct compact_layout *l, uint64_t seed)
{
        uint8_t *drop = calloc((size_t) l->n_objects + 1, sizeof *drop);
        uint64_t s = seed | 1, pct = seed % 101;

        if (!drop)
                abort();
        for (uint32_t i = 0; i < l->n_objects; i++)
                drop[i] = l->at[i] != COMPACT_ABSENT && fuzz_rnd(&s) % 100 < pct;
        return drop;
}

static void from_vhd(const uint8_t *data, size_t size, uint64_t seed)
{
        struct vc_image *img = NULL;
        struct compact_layout l = {};
        uint8_t *drop;

        if (fuzz_image_open(data, size, &img) < 0)
                return;
        if (vc_image_n_blocks(img) > 0 && compact_layout_from_image(img, &l) == 0) {
                FUZZ_CHECK(l.fixed_end <= l.file_size);
                drop = draw_drops(&l, seed);
                check(&l, drop);
                free(drop);
                free(l.at);
        }
        vc_image_free(img);
}

static void from_bytes(const uint8_t *data, size_t size, uint64_t seed)
{
        struct compact_layout l = {};
        uint64_t stride, meta, slack, top = 0;
        uint32_t n, *bat;
        uint8_t *drop;
        bool *taken;

        if (size < 7)
                return;
        stride = (uint64_t) (data[0] + 1) * VHD_SECTOR_SIZE;
        meta = (uint64_t) (get_le16(data + 1) + 1) * VHD_SECTOR_SIZE;
        n = get_le16(data + 3);
        slack = (uint64_t) get_le16(data + 5) * VHD_SECTOR_SIZE;
        data += 7;
        size -= 7;
        if (n > size)
                n = (uint32_t) size;
        bat = malloc(((size_t) n + 1) * sizeof *bat);
        taken = calloc(256, sizeof *taken);
        if (!bat || !taken)
                abort();
        for (uint32_t i = 0; i < n; i++) {
                uint8_t s = data[i];
                if (s == 0xFF || taken[s]) {
                        bat[i] = COMPACT_ABSENT;
                        continue;
                }
                taken[s] = true;
                bat[i] = (uint32_t) ((meta + s * stride) / VHD_SECTOR_SIZE);
                if (s + 1 > top)
                        top = s + 1;
        }
        l = (struct compact_layout) {
                .n_objects = n,
                .at = bat,
                .stride = stride,
                .fixed_end = meta,
                .file_size = meta + top * stride + slack + VHD_FOOTER_SIZE,
                .unit = VHD_SECTOR_SIZE,
                .tail = VHD_FOOTER_SIZE,
        };
        drop = draw_drops(&l, seed);
        check(&l, drop);
        free(drop);
        free(taken);
        free(bat);
}

static void from_mixed(const uint8_t *data, size_t size, uint64_t seed)
{
        const uint64_t mib = 1 << 20;
        struct compact_layout l = {};
        struct compact_extent fixed[2];
        uint8_t cls[256] = {};
        bool taken[400] = {};
        uint32_t n, bat[256], top = 1;
        uint8_t *drop;

        if (size < 7)
                return;
        uint64_t big = (uint64_t) (data[0] % 8) + 1;
        uint8_t flags = data[1];
        uint32_t n_fixed = 0;
        taken[0] = true;                        /* the header section */
        for (unsigned f = 0; f < 2; f++) {
                uint32_t at = data[2 + 2 * f], len = data[3 + 2 * f] % 4 + 1;
                if (at == 0xFF)
                        continue;
                at = at % 128 + 1;
                fixed[n_fixed++] = (struct compact_extent) { at * mib, len * mib };
                for (uint32_t c = at; c < at + len; c++)
                        taken[c] = true;
                top = at + len > top ? at + len : top;
        }
        uint32_t slack = data[6] % 4;
        data += 7;
        size -= 7;
        n = size < 256 ? (uint32_t) size : 256;
        for (uint32_t i = 0; i < n; i++) {
                uint8_t e = data[i];
                uint32_t at = (e & 0x7F) + 1, len = e & 0x80 ? 1 : (uint32_t) big;
                bool free = e != 0xFF;
                for (uint32_t c = at; free && c < at + len; c++)
                        free = !taken[c];
                bat[i] = COMPACT_ABSENT;
                if (!free)
                        continue;
                for (uint32_t c = at; c < at + len; c++)
                        taken[c] = true;
                bat[i] = at;
                cls[i] = e >> 7;
                top = at + len > top ? at + len : top;
        }
        uint64_t tail = flags & 2 ? mib : 0;
        l = (struct compact_layout) {
                .n_objects = n,
                .at = bat,
                .stride = big * mib,
                .fixed_end = mib,
                .file_size = (top + slack) * mib + tail,
                .align = flags & 1 ? mib : 0,
                .unit = mib,
                .tail = tail,
                .n_classes = 2,
                .class_size = { big * mib, mib },
                .cls = cls,
                .fixed = fixed,
                .n_fixed = n_fixed,
        };
        drop = draw_drops(&l, seed);
        check(&l, drop);
        free(drop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint64_t seed;

        if (size < 9 || size > (4u << 20))
                return 0;
        seed = get_le64(data + 1);
        if ((data[0] & 3) == 3)
                from_mixed(data + 9, size - 9, seed);
        else if (data[0] & 1)
                from_bytes(data + 9, size - 9, seed);
        else
                from_vhd(data + 9, size - 9, seed);
        return 0;
}
