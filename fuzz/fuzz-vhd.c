/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-vhd: the input is a whole VHD file (fixed, dynamic or differencing).
 *
 * Opened as vhd_image_open_fd() does in production: footer and its copy,
 * dynamic header, BAT bounds and overlaps, parent locators and the parent
 * chain (the parent is the fixed image of fuzz-vhd-parent.h).  Then, on
 * success, reads through the image: a few sectors of up to 64 blocks
 * (sector bitmaps, the parent's data through unallocated blocks and absent
 * sectors) and the extent map of the same range.  Opened a second time in
 * collect mode, as `vhdctl check` does, which walks the paths that go on
 * after a problem.
 *
 * Invariants: every allocated block lies between the metadata and the
 * footer; reads inside the disk succeed and return what a byte-at-a-time
 * reading of the file says (BAT entry, sector bitmap bit, data, else the
 * parent or zeros); the extents are contiguous and cover exactly what was
 * asked.
 */
#include "fuzz-vhd-open.h"

#define MAX_BLOCKS 64

struct ext_ctx {
        uint64_t next, calls;
};

static int on_extent(uint64_t offset, uint64_t length, enum vc_extent_kind kind, void *userdata)
{
        struct ext_ctx *c = userdata;

        FUZZ_CHECK(offset == c->next);
        FUZZ_CHECK(length > 0);
        FUZZ_CHECK(kind == VC_EXTENT_DATA || kind == VC_EXTENT_HOLE_ZERO);
        c->next = offset + length;
        return ++c->calls > 4096;
}

static struct vhd_image *parent_ref;

/* The byte at virtual offset @o, read the simple way from the file. */
static uint8_t ref_byte(struct vhd_image *img, const uint8_t *raw, size_t size, uint64_t o)
{
        const struct vhd_dyn_header *h = vhd_image_dyn_header(img);
        uint64_t bs, bitmap, blk, in, e, at;
        uint8_t v = 0;

        if (!h) {
                FUZZ_CHECK(o < size);
                return raw[o];
        }
        bs = vhd_image_block_size(img);
        bitmap = vhd_image_block_stride(img) - bs;
        blk = o / bs;
        in = o % bs;
        FUZZ_CHECK(h->table_offset + 4 * blk + 4 <= size);
        e = get_be32(raw + h->table_offset + 4 * blk);
        if (e != VHD_BAT_UNUSED) {
                at = e * 512 + (in / 512) / 8;
                FUZZ_CHECK(at < size);
                if ((raw[at] >> (7 - (in / 512) % 8)) & 1) {
                        at = e * 512 + bitmap + in;
                        FUZZ_CHECK(at < size);
                        return raw[at];
                }
        }
        if (vhd_image_footer(img)->disk_type == VHD_TYPE_DIFFERENCING &&
            o < vhd_image_virtual_size(parent_ref))
                FUZZ_CHECK(vhd_image_pread(parent_ref, &v, 1, o) == 0);
        return v;
}

static void read_through(struct vhd_image *img, const uint8_t *raw, size_t size)
{
        uint64_t vsize = vhd_image_virtual_size(img);
        uint64_t fsize = vhd_image_file_size(img);
        uint32_t bs = vhd_image_block_size(img), n = vhd_image_n_blocks(img);
        static uint8_t buf[3 * 512];
        uint64_t span;

        if (vhd_image_dyn_header(img)) {
                uint64_t stride = vhd_image_block_stride(img);
                uint32_t allocated = 0;
                FUZZ_CHECK(bs >= 512 && (bs & (bs - 1)) == 0);
                FUZZ_CHECK(stride > bs);
                for (uint32_t i = 0; i < n; i++) {
                        uint32_t e = vhd_image_bat_entry(img, i);
                        if (e == VHD_BAT_UNUSED)
                                continue;
                        allocated++;
                        FUZZ_CHECK((uint64_t) e * 512 >= VHD_FOOTER_SIZE);
                        FUZZ_CHECK((uint64_t) e * 512 + stride <= fsize - VHD_FOOTER_SIZE);
                }
                FUZZ_CHECK(allocated == vhd_image_blocks_allocated(img));
        } else
                bs = 1 << 20;

        /* The first sector, the middle across a sector boundary and the last
         * sector of each block, all inside the disk. */
        for (uint64_t b = 0; b < MAX_BLOCKS && b * bs < vsize; b++) {
                uint64_t at[3] = { b * bs, b * bs + bs / 2 - 256, b * bs + bs - 512 };
                for (unsigned k = 0; k < 3; k++) {
                        size_t len = k == 1 ? 1024 : 512;
                        if (at[k] >= vsize || vsize - at[k] < len)
                                continue;
                        FUZZ_CHECK(vhd_image_pread(img, buf, len, at[k]) == 0);
                        for (size_t i = 0; i < len; i++)
                                FUZZ_CHECK(buf[i] == ref_byte(img, raw, size, at[k] + i));
                }
        }
        /* Reads past the end fail. */
        FUZZ_CHECK(vhd_image_pread(img, buf, 512, vsize) < 0);

        span = vsize < (uint64_t) MAX_BLOCKS * bs ? vsize : (uint64_t) MAX_BLOCKS * bs;
        if (span > 0) {
                struct ext_ctx c = { 0, 0 };
                int r = vhd_image_extents(img, 0, span, on_extent, &c);
                FUZZ_CHECK(r >= 0);
                if (r == 0)
                        FUZZ_CHECK(c.next >= span);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct vhd_image *img = NULL;
        uint8_t *raw = NULL;

        if (size > (4u << 20))
                return 0;
        if (!parent_ref) {
                fuzz_vhd_init();
                if (vhd_image_open_fd(fuzz_parent_fd, FUZZ_PARENT_PATH, VHD_OPEN_NOLOCK, NULL,
                                      &parent_ref) < 0)
                        abort();
        }
        if (fuzz_vhd_open_bytes(data, size, false, &img, &raw) == 0) {
                read_through(img, raw, size);
                vhd_image_free(img);
                img = NULL;
        }
        free(raw);
        if (fuzz_vhd_open(data, size, true, &img) == 0)
                vhd_image_free(img);
        return 0;
}
