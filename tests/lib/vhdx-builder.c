/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * In-memory VHDX images for the tests; see vhdx-builder.h for the layout,
 * the model and the log.  Written from VHDX.md (the spec, paraphrased), with
 * nothing from lib/ (not even the endian helpers), so that the engine's
 * reader and this writer are two independent readings of the spec.
 *
 * buf always holds the image as a replaying reader sees it: during a log
 * transaction the new BAT and SB pages are in buf, and the pages to put
 * back (the in-place bytes a crash leaves) are applied only to the copy
 * that is written out (file_bytes()).  The replayed view is computed from
 * those written bytes by replaying the log here, not taken from buf, so
 * that a wrong entry shows as a wrong expectation, not as a silent pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"
#include "vhdx-builder.h"

/* ---------------------------------------------------------------- bytes */

static void le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t) v; p[1] = (uint8_t) (v >> 8); }
static void le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static void le64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}
static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t) rd32(p + 4) << 32; }

static void *xmalloc0(size_t n)
{
        void *p = calloc(1, n ? n : 1);
        if (!p)
                TEST_FAIL("out of memory allocating %zu bytes", n);
        return p;
}

static void *xmemdup(const void *p, size_t n)
{
        void *q = xmalloc0(n);
        memcpy(q, p, n);
        return q;
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static uint64_t round_up(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

/* -------------------------------------------------------------- CRC-32C */

uint32_t vxb_crc32c(uint32_t crc, const void *buf, size_t n)
{
        static uint32_t table[256];
        const uint8_t *p = buf;

        if (!table[1])
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
                        table[i] = c;
                }
        crc = ~crc;
        while (n--)
                crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        return ~crc;
}

/* CRC of len bytes at p whose 4-byte checksum is at p + 4, stored there. */
static void set_crc(uint8_t *p, size_t len)
{
        le32(p + 4, 0);
        le32(p + 4, vxb_crc32c(0, p, len));
}

/* ---------------------------------------------------------------- GUIDs */

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

bool vxb_guid_parse(const char *text, uint8_t out[16])
{
        uint8_t raw[16];
        size_t len = strlen(text), n = 0;
        const char *s = text;

        if (len == 38 && s[0] == '{' && s[37] == '}') {
                s++;
                len = 36;
        }
        if (len != 36)
                return false;
        for (size_t i = 0; i < 36;) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                        i++;
                        continue;
                }
                int hi = hexval(s[i]), lo = hexval(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return false;
                raw[n++] = (uint8_t) (hi << 4 | lo);
                i += 2;
        }
        /* Data1, Data2, Data3 little-endian; Data4 as is. */
        out[0] = raw[3], out[1] = raw[2], out[2] = raw[1], out[3] = raw[0];
        out[4] = raw[5], out[5] = raw[4];
        out[6] = raw[7], out[7] = raw[6];
        memcpy(out + 8, raw + 8, 8);
        return true;
}

static void guid(const char *text, uint8_t out[16])
{
        if (!vxb_guid_parse(text, out))
                TEST_FAIL("'%s' is not a GUID", text);
}

void vxb_guid_format(const uint8_t g[16], char out[39])
{
        snprintf(out, 39,
                 "{%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x}",
                 g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11],
                 g[12], g[13], g[14], g[15]);
}

static uint32_t guid_seed;
static bool guid_seeded;

void vxb_guid_seed(uint32_t seed)
{
        guid_seed = seed;
        guid_seeded = true;
}

void vxb_guid_new(uint8_t out[16])
{
        static uint32_t counter;
        uint32_t pid = guid_seeded ? guid_seed : (uint32_t) getpid();

        counter++;
        le32(out, 0x78646876u ^ counter * 2654435761u);  /* "vhdx" */
        le32(out + 4, pid);
        le32(out + 8, counter);
        le32(out + 12, 0xb1d0e000u | (counter & 0xfff));
}

/* ------------------------------------------------------------- patterns */

uint8_t vxb_pattern_byte(uint8_t seed, uint64_t voff)
{
        /* As vb_pattern_byte: 13 is odd, so no 512-byte sector is all zeros. */
        return (uint8_t) (seed * 29u + (voff >> 9) * 7u + voff * 13u);
}

void vxb_pattern_fill(uint8_t *buf, size_t len, uint8_t seed, uint64_t voff)
{
        for (size_t i = 0; i < len; i++)
                buf[i] = vxb_pattern_byte(seed, voff + i);
}

bool vxb_partial_bit(uint64_t sector)
{
        return sector % 3 != 1;
}

/* ------------------------------------------------------------ structure */

struct vxb_log_desc {
        bool zero;
        uint64_t file_off;
        uint64_t len;                   /* zero descriptors */
        uint8_t *page;                  /* data descriptors: 4 KiB */
};

/* The committed log, replayed by replay_into(). */
struct vxb_log_store {
        struct vxb_log_desc *d;
        size_t n;
        uint64_t *revert;               /* pages put back to the snapshot on output */
        size_t n_revert;
        bool applied, not_applied;
};

static void check_off(const struct vxb_image *img, uint64_t off, uint64_t n)
{
        if (off > img->len || n > img->len - off)
                TEST_FAIL("%" PRIu64 " bytes at %" PRIu64 " are outside the image (%zu bytes)", n,
                          off, img->len);
}

void vxb_put_bytes(struct vxb_image *img, uint64_t off, const void *p, size_t n)
{
        check_off(img, off, n);
        memcpy(img->buf + off, p, n);
}

void vxb_put_le16(struct vxb_image *img, uint64_t off, uint16_t v)
{
        check_off(img, off, 2);
        le16(img->buf + off, v);
}

void vxb_put_le32(struct vxb_image *img, uint64_t off, uint32_t v)
{
        check_off(img, off, 4);
        le32(img->buf + off, v);
}

void vxb_put_le64(struct vxb_image *img, uint64_t off, uint64_t v)
{
        check_off(img, off, 8);
        le64(img->buf + off, v);
}

static uint64_t header_off(int which)
{
        if (which != 1 && which != 2)
                TEST_FAIL("header %d: there are headers 1 and 2", which);
        return which == 1 ? VXB_HEADER1_OFF : VXB_HEADER2_OFF;
}

static uint64_t region_off(int which)
{
        if (which != 1 && which != 2)
                TEST_FAIL("region table %d: there are tables 1 and 2", which);
        return which == 1 ? VXB_REGION1_OFF : VXB_REGION2_OFF;
}

void vxb_header_put(struct vxb_image *img, int which, size_t field, const void *p, size_t n,
                    unsigned flags)
{
        uint8_t *h = img->buf + header_off(which);

        if (field + n > VXB_HEADER_SIZE)
                TEST_FAIL("header field %zu+%zu is outside the header", field, n);
        memcpy(h + field, p, n);
        if (!(flags & VXB_KEEP_CHECKSUM))
                set_crc(h, VXB_HEADER_SIZE);
}

void vxb_region_put(struct vxb_image *img, int which, size_t field, const void *p, size_t n,
                    unsigned flags)
{
        uint8_t *r = img->buf + region_off(which);

        if (field + n > VXB_REGION_SIZE)
                TEST_FAIL("region table field %zu+%zu is outside the table", field, n);
        memcpy(r + field, p, n);
        if (!(flags & VXB_KEEP_CHECKSUM))
                set_crc(r, VXB_REGION_SIZE);
}

void vxb_fix_checksums(struct vxb_image *img)
{
        set_crc(img->buf + VXB_HEADER1_OFF, VXB_HEADER_SIZE);
        set_crc(img->buf + VXB_HEADER2_OFF, VXB_HEADER_SIZE);
        set_crc(img->buf + VXB_REGION1_OFF, VXB_REGION_SIZE);
        set_crc(img->buf + VXB_REGION2_OFF, VXB_REGION_SIZE);
}

int vxb_current_header(const struct vxb_image *img)
{
        uint64_t s1 = rd64(img->buf + VXB_HEADER1_OFF + VXB_HDR_SEQUENCE);
        uint64_t s2 = rd64(img->buf + VXB_HEADER2_OFF + VXB_HDR_SEQUENCE);
        return s2 > s1 ? 2 : 1;
}

static void write_header(struct vxb_image *img, int which, uint64_t seq)
{
        uint8_t *h = img->buf + header_off(which);

        memset(h, 0, VXB_HEADER_SIZE);
        memcpy(h + VXB_HDR_SIGNATURE, "head", 4);
        le64(h + VXB_HDR_SEQUENCE, seq);
        memcpy(h + VXB_HDR_FILE_WRITE_GUID, img->file_write_guid, 16);
        memcpy(h + VXB_HDR_DATA_WRITE_GUID, img->data_write_guid, 16);
        le16(h + VXB_HDR_LOG_VERSION, 0);
        le16(h + VXB_HDR_VERSION, 1);
        le32(h + VXB_HDR_LOG_LENGTH, img->p.log_size);
        le64(h + VXB_HDR_LOG_OFFSET, img->log_off);
        set_crc(h, VXB_HEADER_SIZE);
}

static void add_region_entry(struct vxb_image *img, const char *g, uint64_t off, uint32_t len,
                             bool required)
{
        for (int which = 1; which <= 2; which++) {
                uint8_t *r = img->buf + region_off(which), *e;
                uint32_t n = rd32(r + VXB_RT_ENTRY_COUNT);

                if (n >= 2047)
                        TEST_FAIL("region table full");
                e = r + VXB_RT_ENTRIES + (size_t) n * VXB_RT_ENTRY_SIZE;
                guid(g, e + VXB_RTE_GUID);
                le64(e + VXB_RTE_OFFSET, off);
                le32(e + VXB_RTE_LENGTH, len);
                le32(e + VXB_RTE_REQUIRED, required ? 1 : 0);
                le32(r + VXB_RT_ENTRY_COUNT, n + 1);
                set_crc(r, VXB_REGION_SIZE);
        }
}

uint64_t vxb_region_entry(const struct vxb_image *img, int which, const char *g)
{
        const uint8_t *r = img->buf + region_off(which);
        uint32_t n = rd32(r + VXB_RT_ENTRY_COUNT);
        uint8_t want[16];

        guid(g, want);
        for (uint32_t i = 0; i < n && i < 2047; i++) {
                uint64_t e = region_off(which) + VXB_RT_ENTRIES + (uint64_t) i * VXB_RT_ENTRY_SIZE;
                if (memcmp(img->buf + e, want, 16) == 0)
                        return e;
        }
        return 0;
}

void vxb_add_metadata(struct vxb_image *img, const char *g, const void *data, uint32_t len,
                      uint32_t flags)
{
        uint8_t *t = img->buf + img->meta_off, *e;
        uint32_t at = len ? img->meta_used : 0;

        if (img->n_meta >= 2047 || (uint64_t) img->meta_used + len > VXB_MIB)
                TEST_FAIL("metadata region full");
        e = t + VXB_MT_ENTRIES + (size_t) img->n_meta * VXB_MT_ENTRY_SIZE;
        guid(g, e + VXB_MTE_GUID);
        le32(e + VXB_MTE_OFFSET, at);
        le32(e + VXB_MTE_LENGTH, len);
        le32(e + VXB_MTE_FLAGS, flags);
        if (len) {
                memcpy(t + at, data, len);
                img->meta_used = (uint32_t) round_up(img->meta_used + len, 8);
        }
        img->n_meta++;
        le16(t + VXB_MT_ENTRY_COUNT, (uint16_t) img->n_meta);
}

uint64_t vxb_metadata_entry(const struct vxb_image *img, const char *g)
{
        uint8_t want[16];

        guid(g, want);
        for (uint32_t i = 0; i < img->n_meta; i++) {
                uint64_t e = img->meta_off + VXB_MT_ENTRIES + (uint64_t) i * VXB_MT_ENTRY_SIZE;
                if (memcmp(img->buf + e, want, 16) == 0)
                        return e;
        }
        return 0;
}

uint64_t vxb_metadata_item(const struct vxb_image *img, const char *g)
{
        uint64_t e = vxb_metadata_entry(img, g);
        return e ? img->meta_off + rd32(img->buf + e + VXB_MTE_OFFSET) : 0;
}

/* ------------------------------------------------------------------ BAT */

uint64_t vxb_bat_index(const struct vxb_image *img, uint64_t blk)
{
        if (blk >= img->n_blocks)
                TEST_FAIL("block %" PRIu64 " of %" PRIu64, blk, img->n_blocks);
        return blk + blk / img->chunk_ratio;
}

uint64_t vxb_sb_index(const struct vxb_image *img, uint64_t chunk)
{
        if (chunk >= img->n_chunks)
                TEST_FAIL("chunk %" PRIu64 " of %" PRIu64, chunk, img->n_chunks);
        return chunk * (img->chunk_ratio + 1) + img->chunk_ratio;
}

uint64_t vxb_bat_get(const struct vxb_image *img, uint64_t index)
{
        if (index >= img->bat_len / 8)
                TEST_FAIL("BAT index %" PRIu64 " is outside the BAT region", index);
        return rd64(img->buf + img->bat_off + 8 * index);
}

void vxb_bat_set(struct vxb_image *img, uint64_t index, uint64_t entry)
{
        if (index >= img->bat_len / 8)
                TEST_FAIL("BAT index %" PRIu64 " is outside the BAT region", index);
        le64(img->buf + img->bat_off + 8 * index, entry);
}

uint64_t vxb_append(struct vxb_image *img, uint64_t len)
{
        uint64_t at = img->len;
        uint8_t *nb;

        if (len % VXB_MIB)
                TEST_FAIL("vxb_append(%" PRIu64 "): not a multiple of 1 MiB", len);
        nb = realloc(img->buf, img->len + len);
        if (!nb)
                TEST_FAIL("out of memory growing an image by %" PRIu64 " bytes", len);
        memset(nb + at, 0, len);
        img->buf = nb;
        img->len += len;
        return at;
}

void vxb_set_state(struct vxb_image *img, uint64_t blk, unsigned state, uint64_t off)
{
        vxb_bat_index(img, blk);
        img->blocks[blk].state = (uint8_t) state;
        img->blocks[blk].off = off;
        vxb_bat_set(img, vxb_bat_index(img, blk), (off & ~(uint64_t) (VXB_MIB - 1)) | (state & 7));
}

uint8_t *vxb_block_data(struct vxb_image *img, uint64_t blk)
{
        vxb_bat_index(img, blk);
        if (!img->blocks[blk].off)
                TEST_FAIL("block %" PRIu64 " has no data", blk);
        check_off(img, img->blocks[blk].off, img->p.block_size);
        return img->buf + img->blocks[blk].off;
}

static void fill(struct vxb_image *img, uint64_t blk, int seed)
{
        uint8_t *d = vxb_block_data(img, blk);

        if (seed < 0)
                memset(d, 0, img->p.block_size);
        else
                vxb_pattern_fill(d, img->p.block_size, (uint8_t) seed,
                                 blk * img->p.block_size);
}

uint64_t vxb_alloc_block(struct vxb_image *img, uint64_t blk, int seed)
{
        vxb_bat_index(img, blk);
        if (img->p.type != VXB_FIXED || !img->blocks[blk].off)
                vxb_set_state(img, blk, VXB_FULLY_PRESENT, vxb_append(img, img->p.block_size));
        fill(img, blk, seed);
        return img->blocks[blk].off;
}

static uint64_t sb_location(struct vxb_image *img, uint64_t sector, uint8_t *ret_mask)
{
        uint64_t chunk = sector >> 23;

        if (chunk >= img->n_chunks || !img->sb_off[chunk])
                TEST_FAIL("sector %" PRIu64 ": its chunk has no SB block", sector);
        *ret_mask = (uint8_t) (1u << (sector % 8));
        return img->sb_off[chunk] + (sector & ((1u << 23) - 1)) / 8;
}

void vxb_set_sector_bit(struct vxb_image *img, uint64_t sector, bool on)
{
        uint8_t mask;
        uint64_t at = sb_location(img, sector, &mask);

        if (on)
                img->buf[at] |= mask;
        else
                img->buf[at] &= (uint8_t) ~mask;
}

uint64_t vxb_alloc_sb(struct vxb_image *img, uint64_t chunk)
{
        if (img->p.type != VXB_DIFFERENCING)
                TEST_FAIL("SB blocks are for differencing images");
        vxb_sb_index(img, chunk);
        if (!img->sb_off[chunk]) {
                img->sb_off[chunk] = vxb_append(img, VXB_MIB);
                vxb_bat_set(img, vxb_sb_index(img, chunk), img->sb_off[chunk] | VXB_SB_PRESENT);
        }
        return img->sb_off[chunk];
}

uint64_t vxb_alloc_partial(struct vxb_image *img, uint64_t blk, uint8_t seed)
{
        uint64_t chunk = blk / img->chunk_ratio, spb = img->p.block_size / img->p.logical_sector;

        if (img->p.type != VXB_DIFFERENCING)
                TEST_FAIL("PARTIALLY_PRESENT blocks are for differencing images");
        vxb_bat_index(img, blk);
        vxb_alloc_sb(img, chunk);
        vxb_set_state(img, blk, VXB_PARTIALLY_PRESENT, vxb_append(img, img->p.block_size));
        fill(img, blk, seed);
        for (uint64_t s = blk * spb; s < (blk + 1) * spb; s++)
                vxb_set_sector_bit(img, s, vxb_partial_bit(s));
        return img->blocks[blk].off;
}

uint64_t vxb_add_region(struct vxb_image *img, const char *g, uint32_t len, bool required)
{
        uint64_t at = vxb_append(img, len);
        add_region_entry(img, g, at, len, required);
        return at;
}

/* --------------------------------------------------------------- create */

struct vxb_image *vxb_new(const struct vxb_params *params)
{
        struct vxb_image *img = xmalloc0(sizeof *img);
        struct vxb_params *p = &img->p;
        uint8_t item[16];
        uint64_t bat_bytes;

        *p = *params;
        if (!p->block_size)
                p->block_size = VXB_MIB;
        if (!p->logical_sector)
                p->logical_sector = 512;
        if (!p->physical_sector)
                p->physical_sector = 4096;
        if (!p->log_size)
                p->log_size = VXB_MIB;
        if (!p->seq1 && !p->seq2)
                p->seq1 = 1, p->seq2 = 2;
        if (p->block_size < VXB_MIB || p->block_size > 256 * VXB_MIB ||
            (p->block_size & (p->block_size - 1)) ||
            (p->logical_sector != 512 && p->logical_sector != 4096) ||
            (p->physical_sector != 512 && p->physical_sector != 4096) || !p->virtual_size ||
            p->virtual_size % p->logical_sector || p->log_size % VXB_MIB ||
            p->type > VXB_DIFFERENCING)
                TEST_FAIL("vxb_new: bad parameters (block %u, sectors %u/%u, size %" PRIu64
                          ", log %u)",
                          p->block_size, p->logical_sector, p->physical_sector, p->virtual_size,
                          p->log_size);

        img->n_blocks = (p->virtual_size + p->block_size - 1) / p->block_size;
        img->chunk_ratio = ((uint64_t) 1 << 23) * p->logical_sector / p->block_size;
        img->n_chunks = (img->n_blocks + img->chunk_ratio - 1) / img->chunk_ratio;
        img->n_entries = p->type == VXB_DIFFERENCING
                                 ? img->n_chunks * (img->chunk_ratio + 1)
                                 : img->n_blocks + (img->n_blocks - 1) / img->chunk_ratio;
        bat_bytes = round_up(img->n_entries * 8, VXB_MIB);
        if (bat_bytes > UINT32_MAX)
                TEST_FAIL("a BAT of %" PRIu64 " bytes is too big for a test", bat_bytes);
        img->bat_len = (uint32_t) bat_bytes;
        img->log_off = VXB_MIB;
        img->meta_off = img->log_off + p->log_size;
        img->bat_off = img->meta_off + VXB_MIB;
        img->len = img->bat_off + img->bat_len;
        img->buf = xmalloc0(img->len);
        img->blocks = xmalloc0(img->n_blocks * sizeof *img->blocks);
        img->sb_off = xmalloc0(img->n_chunks * sizeof *img->sb_off);
        vxb_guid_new(img->file_write_guid);
        vxb_guid_new(img->data_write_guid);
        vxb_guid_new(img->page83);

        /* File identifier: signature and a UTF-16LE creator. */
        memcpy(img->buf, "vhdxfile", 8);
        for (size_t i = 0; i < sizeof "vhdx-builder" - 1; i++)
                img->buf[8 + 2 * i] = (uint8_t) "vhdx-builder"[i];

        write_header(img, 1, p->seq1);
        write_header(img, 2, p->seq2);
        for (int which = 1; which <= 2; which++) {
                uint8_t *r = img->buf + region_off(which);
                memcpy(r, "regi", 4);
                set_crc(r, VXB_REGION_SIZE);
        }
        add_region_entry(img, VXB_GUID_BAT, img->bat_off, img->bat_len, !p->regions_not_required);
        add_region_entry(img, VXB_GUID_METADATA, img->meta_off, VXB_MIB,
                         !p->regions_not_required);

        memcpy(img->buf + img->meta_off, "metadata", 8);
        img->meta_used = VXB_META_TABLE_SIZE;
        le32(item, p->block_size);
        le32(item + 4, p->type == VXB_FIXED ? VXB_FP_LEAVE_ALLOCATED
                       : p->type == VXB_DIFFERENCING ? VXB_FP_HAS_PARENT : 0);
        vxb_add_metadata(img, VXB_GUID_FILE_PARAMETERS, item, 8, VXB_META_IS_REQUIRED);
        le64(item, p->virtual_size);
        vxb_add_metadata(img, VXB_GUID_VIRTUAL_DISK_SIZE, item, 8,
                         VXB_META_IS_REQUIRED | VXB_META_IS_VDISK);
        vxb_add_metadata(img, VXB_GUID_PAGE83, img->page83, 16,
                         VXB_META_IS_REQUIRED | VXB_META_IS_VDISK);
        le32(item, p->logical_sector);
        vxb_add_metadata(img, VXB_GUID_LOGICAL_SECTOR, item, 4,
                         VXB_META_IS_REQUIRED | VXB_META_IS_VDISK);
        le32(item, p->physical_sector);
        vxb_add_metadata(img, VXB_GUID_PHYSICAL_SECTOR, item, 4,
                         VXB_META_IS_REQUIRED | VXB_META_IS_VDISK);

        for (uint64_t b = 0; b < img->n_blocks; b++) {
                if (p->type == VXB_FIXED)
                        vxb_set_state(img, b, VXB_FULLY_PRESENT, vxb_append(img, p->block_size));
                else
                        vxb_set_state(img, b, p->default_state, 0);
        }
        return img;
}

static void free_descs(struct vxb_log_desc *d, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(d[i].page);
        free(d);
}

struct vxb_log_private {
        struct vxb_log_store s;
        uint8_t *cmp;                   /* the image at the previous commit */
        size_t cmp_len;
};

static struct vxb_log_private *logp(const struct vxb_image *img)
{
        return img->log;
}

struct vxb_image *vxb_free(struct vxb_image *img)
{
        if (!img)
                return NULL;
        if (logp(img)) {
                struct vxb_log_private *l = logp(img);
                free_descs(l->s.d, l->s.n);
                free(l->s.revert);
                free(l->cmp);
                free(l);
        }
        free_descs(img->pending, img->n_pending);
        free(img->snap);
        free(img->snap_blocks);
        free(img->snap_sb_off);
        free(img->blocks);
        free(img->sb_off);
        free(img->buf);
        free(img);
        return NULL;
}

/* ------------------------------------------------------- parent locator */

static size_t put_utf16(uint8_t *out, const char *s)
{
        size_t n = 0;
        for (; *s; s++, n += 2) {
                if ((unsigned char) *s >= 0x80)
                        TEST_FAIL("locator text '%s': only ASCII here", s);
                out[n] = (uint8_t) *s;
                out[n + 1] = 0;
        }
        return n;
}

void vxb_set_parent(struct vxb_image *img, const uint8_t linkage[16], const char *relative_path,
                    const char *volume_path, const char *absolute_win32_path,
                    uint64_t parent_size, vxb_parent_read_fn read, void *ctx)
{
        const char *keys[4] = { "parent_linkage", "relative_path", "volume_path",
                                "absolute_win32_path" };
        char link[39];
        const char *vals[4] = { link, relative_path, volume_path, absolute_win32_path };
        uint8_t *item;
        size_t n = 0, at, cap = 20;
        uint64_t fp;

        if (img->p.type != VXB_DIFFERENCING)
                TEST_FAIL("only differencing images have a parent");
        vxb_guid_format(linkage, link);
        for (int i = 0; i < 4; i++)
                if (vals[i])
                        cap += 12 + 2 * (strlen(keys[i]) + strlen(vals[i]));
        item = xmalloc0(cap);
        for (int i = 0; i < 4; i++)
                n += vals[i] != NULL;
        guid(VXB_GUID_LOCATOR_TYPE_VHDX, item);
        le16(item + 18, (uint16_t) n);
        at = 20 + 12 * n;
        n = 0;
        for (int i = 0; i < 4; i++) {
                uint8_t *e = item + 20 + 12 * n;
                size_t kl, vl;
                if (!vals[i])
                        continue;
                kl = put_utf16(item + at, keys[i]);
                le32(e, (uint32_t) at);
                le16(e + 8, (uint16_t) kl);
                at += kl;
                vl = put_utf16(item + at, vals[i]);
                le32(e + 4, (uint32_t) at);
                le16(e + 10, (uint16_t) vl);
                at += vl;
                n++;
        }
        vxb_add_metadata(img, VXB_GUID_PARENT_LOCATOR, item, (uint32_t) at, VXB_META_IS_REQUIRED);
        free(item);
        fp = vxb_metadata_item(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + fp + 4, rd32(img->buf + fp + 4) | VXB_FP_HAS_PARENT);
        img->parent_size = parent_size;
        img->parent_read = read;
        img->parent_ctx = ctx;
}

static void read_parent_image(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
        vxb_expected_read(ctx, VXB_VIEW_REPLAYED, off, buf, len);
}

void vxb_set_parent_image(struct vxb_image *img, struct vxb_image *parent,
                          const char *parent_path)
{
        char rel[4096], abs[4096 + 8], vol[4096 + 64], vg[39];
        const char *base = strrchr(parent_path, '/');
        uint8_t v[16];

        if (strlen(parent_path) >= 4096)
                TEST_FAIL("parent path too long");
        snprintf(rel, sizeof rel, "%s", base ? base + 1 : parent_path);
        snprintf(abs, sizeof abs, "C:%s", parent_path);
        for (char *c = abs; *c; c++)
                if (*c == '/')
                        *c = '\\';
        vxb_guid_new(v);
        vxb_guid_format(v, vg);
        snprintf(vol, sizeof vol, "\\\\?\\Volume%s%s", vg, abs + 2);
        vxb_set_parent(img, parent->data_write_guid, rel, vol, abs, parent->p.virtual_size,
                       read_parent_image, parent);
}

/* ------------------------------------------------------------------ log */

void vxb_log_begin(struct vxb_image *img)
{
        struct vxb_log_private *l;

        if (img->in_txn || logp(img))
                TEST_FAIL("one log sequence per image");
        l = xmalloc0(sizeof *l);
        img->log = l;
        img->in_txn = true;
        img->snap = xmemdup(img->buf, img->len);
        img->snap_len = img->len;
        img->snap_blocks = xmemdup(img->blocks, img->n_blocks * sizeof *img->blocks);
        img->snap_sb_off = xmemdup(img->sb_off, img->n_chunks * sizeof *img->sb_off);
        l->cmp = xmemdup(img->buf, img->len);
        l->cmp_len = img->len;
        vxb_guid_new(img->log_guid);
        img->log_seq = 1;
        img->log_head = 0;
        img->log_tail = 0;
}

static void pend(struct vxb_image *img, struct vxb_log_desc d)
{
        struct vxb_log_desc *n;

        if (!img->in_txn)
                TEST_FAIL("vxb_log_begin first");
        n = realloc(img->pending, (img->n_pending + 1) * sizeof *n);
        if (!n)
                TEST_FAIL("out of memory");
        img->pending = n;
        img->pending[img->n_pending++] = d;
}

void vxb_log_add_zero(struct vxb_image *img, uint64_t file_off, uint64_t len)
{
        if (file_off % VXB_LOG_SECTOR || len % VXB_LOG_SECTOR)
                TEST_FAIL("zero descriptor: 4 KiB multiples");
        pend(img, (struct vxb_log_desc) { .zero = true, .file_off = file_off, .len = len });
}

void vxb_log_add_data(struct vxb_image *img, uint64_t file_off, const uint8_t *page)
{
        if (file_off % VXB_LOG_SECTOR)
                TEST_FAIL("data descriptor: a 4 KiB multiple");
        pend(img, (struct vxb_log_desc) { .file_off = file_off,
                                          .page = xmemdup(page, VXB_LOG_SECTOR) });
}

static bool page_changed(const struct vxb_log_private *l, const struct vxb_image *img,
                         uint64_t off)
{
        static const uint8_t zeros[VXB_LOG_SECTOR];
        const uint8_t *old = off + VXB_LOG_SECTOR <= l->cmp_len ? l->cmp + off : zeros;
        return memcmp(old, img->buf + off, VXB_LOG_SECTOR) != 0;
}

static void add_revert(struct vxb_log_private *l, uint64_t off)
{
        uint64_t *n;

        for (size_t i = 0; i < l->s.n_revert; i++)
                if (l->s.revert[i] == off)
                        return;
        n = realloc(l->s.revert, (l->s.n_revert + 1) * sizeof *n);
        if (!n)
                TEST_FAIL("out of memory");
        l->s.revert = n;
        l->s.revert[l->s.n_revert++] = off;
}

/* The metadata pages the builder changes: the BAT region and SB blocks. */
static void collect_pages(struct vxb_image *img, struct vxb_log_private *l, unsigned flags)
{
        for (uint64_t off = img->bat_off; off < img->bat_off + img->bat_len;
             off += VXB_LOG_SECTOR)
                if (page_changed(l, img, off)) {
                        pend(img, (struct vxb_log_desc) { .file_off = off,
                                .page = xmemdup(img->buf + off, VXB_LOG_SECTOR) });
                        if (!(flags & VXB_LOG_APPLIED))
                                add_revert(l, off);
                }
        for (uint64_t c = 0; c < img->n_chunks; c++)
                for (uint64_t off = img->sb_off[c]; img->sb_off[c] && off < img->sb_off[c] + VXB_MIB;
                     off += VXB_LOG_SECTOR)
                        if (page_changed(l, img, off)) {
                                pend(img, (struct vxb_log_desc) { .file_off = off,
                                        .page = xmemdup(img->buf + off, VXB_LOG_SECTOR) });
                                if (!(flags & VXB_LOG_APPLIED))
                                        add_revert(l, off);
                        }
}

uint32_t vxb_log_commit(struct vxb_image *img, unsigned flags)
{
        struct vxb_log_private *l = logp(img);
        size_t n_data = 0, n_desc, desc_sectors;
        uint64_t entry_len, seq;
        uint32_t at = img->log_head;
        uint8_t *e;
        size_t k = 0;

        if (!img->in_txn)
                TEST_FAIL("vxb_log_begin first");
        if (flags & VXB_LOG_APPLIED ? l->s.not_applied : l->s.applied)
                TEST_FAIL("every entry of a sequence applied, or none");
        if (flags & VXB_LOG_APPLIED)
                l->s.applied = true;
        else
                l->s.not_applied = true;
        collect_pages(img, l, flags);
        n_desc = img->n_pending;
        for (size_t i = 0; i < n_desc; i++)
                n_data += !img->pending[i].zero;
        desc_sectors = (n_desc + 2 + 127) / 128;
        entry_len = (uint64_t) VXB_LOG_SECTOR * (desc_sectors + n_data);
        if (at + entry_len >= img->p.log_size)
                TEST_FAIL("log entry of %" PRIu64 " bytes at %u does not fit in the log", entry_len,
                          at);
        seq = img->log_seq;
        e = img->buf + img->log_off + at;
        memset(e, 0, entry_len);
        memcpy(e, "loge", 4);
        le32(e + 8, (uint32_t) entry_len);
        le32(e + 12, img->log_tail);
        le64(e + 16, seq);
        le32(e + 24, (uint32_t) n_desc);
        memcpy(e + 32, img->log_guid, 16);
        le64(e + 48, img->len);
        le64(e + 56, img->len);
        for (size_t i = 0; i < n_desc; i++) {
                const struct vxb_log_desc *d = &img->pending[i];
                uint8_t *dp = e + 64 + 32 * i;     /* 128 per sector after the 64-byte header */
                if (d->zero) {
                        memcpy(dp, "zero", 4);
                        le64(dp + 8, d->len);
                } else {
                        uint8_t *ds = e + VXB_LOG_SECTOR * (desc_sectors + k++);
                        memcpy(dp, "desc", 4);
                        memcpy(dp + 4, d->page + 4092, 4);
                        memcpy(dp + 8, d->page, 8);
                        memcpy(ds, "data", 4);
                        le32(ds + 4, (uint32_t) (seq >> 32));
                        memcpy(ds + 8, d->page + 8, 4084);
                        le32(ds + 4092, (uint32_t) seq);
                }
                le64(dp + 16, d->file_off);
                le64(dp + 24, seq);
        }
        set_crc(e, entry_len);

        /* Keep the descriptors for the replayed view. */
        {
                struct vxb_log_desc *nd = realloc(l->s.d, (l->s.n + n_desc) * sizeof *nd);
                if (!nd)
                        TEST_FAIL("out of memory");
                l->s.d = nd;
                memcpy(l->s.d + l->s.n, img->pending, n_desc * sizeof *nd);
                l->s.n += n_desc;
                free(img->pending);
                img->pending = NULL;
                img->n_pending = 0;
        }
        free(l->cmp);
        l->cmp = xmemdup(img->buf, img->len);
        l->cmp_len = img->len;

        for (int which = 1; which <= 2; which++)
                if (which == vxb_current_header(img) || (flags & VXB_LOG_BOTH_HEADERS))
                        vxb_header_put(img, which, VXB_HDR_LOG_GUID, img->log_guid, 16, 0);
        img->log_seq++;
        img->log_head = (uint32_t) (at + entry_len);
        img->n_log_entries++;
        return at;
}

/* The bytes written to the file: buf with the pages of an unapplied log put
 * back as they were at vxb_log_begin. */
static uint8_t *file_bytes(const struct vxb_image *img)
{
        struct vxb_log_private *l = logp(img);
        uint8_t *out = xmemdup(img->buf, img->len);

        if (l)
                for (size_t i = 0; i < l->s.n_revert; i++) {
                        uint64_t off = l->s.revert[i];
                        if (off + VXB_LOG_SECTOR <= img->snap_len)
                                memcpy(out + off, img->snap + off, VXB_LOG_SECTOR);
                        else
                                memset(out + off, 0, VXB_LOG_SECTOR);
                }
        return out;
}

/* Replays the stored descriptors over the file bytes (never past len: the
 * builder's targets are inside the image, which the caller checked). */
static void replay_into(const struct vxb_image *img, uint8_t *bytes)
{
        struct vxb_log_private *l = logp(img);

        for (size_t i = 0; l && i < l->s.n; i++) {
                const struct vxb_log_desc *d = &l->s.d[i];
                uint64_t n = d->zero ? d->len : VXB_LOG_SECTOR;
                if (d->file_off > img->len || n > img->len - d->file_off)
                        continue;
                if (d->zero)
                        memset(bytes + d->file_off, 0, n);
                else
                        memcpy(bytes + d->file_off, d->page, n);
        }
}

/* ------------------------------------------------------------- expected */

static void expected_from(struct vxb_image *img, const struct vxb_block *blocks,
                          const uint64_t *sb_off, const uint8_t *bytes, uint64_t off, uint8_t *buf,
                          size_t len)
{
        const uint32_t bs = img->p.block_size, lss = img->p.logical_sector;

        if (off > img->p.virtual_size || len > img->p.virtual_size - off)
                TEST_FAIL("expected read of %zu at %" PRIu64 " is past the disk", len, off);
        while (len) {
                uint64_t blk = off / bs, in = off % bs;
                size_t n = bs - in < len ? (size_t) (bs - in) : len;
                const struct vxb_block *b = &blocks[blk];

                switch (b->state) {
                case VXB_FULLY_PRESENT:
                        check_off(img, b->off + in, n);
                        memcpy(buf, bytes + b->off + in, n);
                        break;
                case VXB_PARTIALLY_PRESENT:
                        for (size_t done = 0; done < n;) {
                                uint64_t s = (off + done) / lss;
                                size_t m = lss - (off + done) % lss;
                                uint64_t chunk = s >> 23;
                                uint64_t at = sb_off[chunk] + (s & ((1u << 23) - 1)) / 8;
                                if (m > n - done)
                                        m = n - done;
                                if (sb_off[chunk] && (bytes[at] >> (s % 8) & 1)) {
                                        memcpy(buf + done, bytes + b->off + in + done, m);
                                } else {
                                        uint64_t po = off + done;
                                        memset(buf + done, 0, m);
                                        if (img->parent_read && po < img->parent_size)
                                                img->parent_read(img->parent_ctx, po, buf + done,
                                                                 po + m <= img->parent_size
                                                                         ? m
                                                                         : (size_t) (img->parent_size - po));
                                }
                                done += m;
                        }
                        break;
                case VXB_NOT_PRESENT:
                        memset(buf, 0, n);
                        if (img->p.type == VXB_DIFFERENCING && img->parent_read &&
                            off < img->parent_size)
                                img->parent_read(img->parent_ctx, off, buf,
                                                 off + n <= img->parent_size
                                                         ? n
                                                         : (size_t) (img->parent_size - off));
                        break;
                default:                /* ZERO, UNMAPPED, UNDEFINED (and reserved) */
                        memset(buf, 0, n);
                        break;
                }
                buf += n;
                off += n;
                len -= n;
        }
}

static void expected_with(struct vxb_image *img, enum vxb_view view, const uint8_t *bytes,
                          uint64_t off, uint8_t *buf, size_t len)
{
        bool stale = view == VXB_VIEW_IN_PLACE && logp(img) && logp(img)->s.not_applied;

        expected_from(img, stale ? img->snap_blocks : img->blocks,
                      stale ? img->snap_sb_off : img->sb_off, bytes, off, buf, len);
}

static uint8_t *view_bytes(struct vxb_image *img, enum vxb_view view)
{
        uint8_t *bytes = file_bytes(img);
        if (view == VXB_VIEW_REPLAYED)
                replay_into(img, bytes);
        return bytes;
}

void vxb_expected_read(struct vxb_image *img, enum vxb_view view, uint64_t off, uint8_t *buf,
                       size_t len)
{
        uint8_t *bytes;

        if (!logp(img)) {               /* no log: the file is buf */
                expected_with(img, view, img->buf, off, buf, len);
                return;
        }
        bytes = view_bytes(img, view);
        expected_with(img, view, bytes, off, buf, len);
        free(bytes);
}

static void write_sparse(const char *path, const uint8_t *buf, uint64_t len,
                         void (*gen)(void *, uint64_t, uint8_t *, size_t), void *ctx)
{
        const size_t step = 64 * VXB_KIB;
        uint8_t *tmp = gen ? xmalloc0(step) : NULL;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                TEST_FAIL("creating '%s': %s", path, strerror(errno));
        for (uint64_t off = 0; off < len; off += step) {
                size_t n = len - off < step ? (size_t) (len - off) : step;
                const uint8_t *p = buf ? buf + off : tmp;
                if (gen)
                        gen(ctx, off, tmp, n);
                if (all_zero(p, n))
                        continue;
                for (size_t done = 0; done < n;) {
                        ssize_t w = pwrite(fd, p + done, n - done, (off_t) (off + done));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0)
                                TEST_FAIL("writing '%s': %s", path, strerror(errno));
                        done += (size_t) w;
                }
        }
        if (ftruncate(fd, (off_t) len) < 0 || close(fd) < 0)
                TEST_FAIL("finishing '%s': %s", path, strerror(errno));
        free(tmp);
}

struct gen_ctx {
        struct vxb_image *img;
        enum vxb_view view;
        const uint8_t *bytes;
};

static void gen_expected(void *c, uint64_t off, uint8_t *buf, size_t n)
{
        struct gen_ctx *g = c;
        expected_with(g->img, g->view, g->bytes, off, buf, n);
}

void vxb_write_expected(struct vxb_image *img, enum vxb_view view, const char *path)
{
        uint8_t *bytes = view_bytes(img, view);
        struct gen_ctx g = { img, view, bytes };

        write_sparse(path, NULL, img->p.virtual_size, gen_expected, &g);
        free(bytes);
}

void vxb_write_file(const struct vxb_image *img, const char *path)
{
        uint8_t *bytes = file_bytes(img);
        write_sparse(path, bytes, img->len, NULL, NULL);
        free(bytes);
}

/* ------------------------------------------------------ corruption table */

static uint64_t cur_hdr(struct vxb_image *img) { return header_off(vxb_current_header(img)); }

static void hdr_le(struct vxb_image *img, int which, size_t field, uint64_t v, size_t n,
                   unsigned flags)
{
        uint8_t b[8];
        le64(b, v);
        vxb_header_put(img, which, field, b, n, flags);
}

static void both_hdr_le(struct vxb_image *img, size_t field, uint64_t v, size_t n)
{
        hdr_le(img, 1, field, v, n, 0);
        hdr_le(img, 2, field, v, n, 0);
}

static void both_rt_le(struct vxb_image *img, size_t field, uint64_t v, size_t n)
{
        uint8_t b[8];
        le64(b, v);
        vxb_region_put(img, 1, field, b, n, 0);
        vxb_region_put(img, 2, field, b, n, 0);
}

static uint64_t need_block(struct vxb_image *img, uint64_t blk, unsigned state)
{
        if (blk >= img->n_blocks || img->blocks[blk].state != state || !img->blocks[blk].off)
                TEST_FAIL("this corruption needs block %" PRIu64 " in state %u", blk, state);
        return img->blocks[blk].off;
}

static uint64_t bat_entry_off(struct vxb_image *img, uint64_t blk)
{
        return img->bat_off + 8 * vxb_bat_index(img, blk);
}

/* The log entry at log offset 0, its CRC recomputed after a poke. */
static uint8_t *log_entry0(struct vxb_image *img)
{
        if (!img->n_log_entries)
                TEST_FAIL("this corruption needs a log entry");
        return img->buf + img->log_off;
}
static void log_entry0_crc(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        set_crc(e, rd32(e + 8));
}

static uint64_t c_identifier(struct vxb_image *img) { img->buf[0] = 'V'; return 0; }
static uint64_t c_short(struct vxb_image *img) { img->len = 768 * VXB_KIB; return img->len; }
static uint64_t c_hdr1_crc(struct vxb_image *img)
{
        img->buf[VXB_HEADER1_OFF + 4000] ^= 1;
        return VXB_HEADER1_OFF + VXB_HDR_CHECKSUM;
}
static uint64_t c_hdr_both_crc(struct vxb_image *img)
{
        img->buf[VXB_HEADER1_OFF + 4000] ^= 1;
        img->buf[VXB_HEADER2_OFF + 4000] ^= 1;
        return VXB_HEADER1_OFF + VXB_HDR_CHECKSUM;
}
static uint64_t c_hdr_signature(struct vxb_image *img)
{
        vxb_header_put(img, 1, 0, "HEAD", 4, 0);
        vxb_header_put(img, 2, 0, "HEAD", 4, 0);
        return VXB_HEADER1_OFF;
}
static uint64_t c_hdr_badcrc_higher(struct vxb_image *img)
{
        hdr_le(img, 1, VXB_HDR_SEQUENCE, 1000, 8, 0);
        img->buf[VXB_HEADER1_OFF + 4000] ^= 1;
        return VXB_HEADER1_OFF + VXB_HDR_CHECKSUM;
}
static uint64_t c_hdr_version(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_VERSION, 2, 2);
        return cur_hdr(img) + VXB_HDR_VERSION;
}
static uint64_t c_hdr_reserved(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_RESERVED, 1, 1);
        return cur_hdr(img) + VXB_HDR_RESERVED;
}
static uint64_t c_hdr_seq_tie(struct vxb_image *img)
{
        uint8_t g[16];
        hdr_le(img, 1, VXB_HDR_SEQUENCE, 7, 8, 0);
        hdr_le(img, 2, VXB_HDR_SEQUENCE, 7, 8, 0);
        vxb_guid_new(g);
        vxb_header_put(img, 2, VXB_HDR_FILE_WRITE_GUID, g, 16, 0);
        return VXB_HEADER2_OFF + VXB_HDR_SEQUENCE;
}
static uint64_t c_hdr_seq_max(struct vxb_image *img)
{
        hdr_le(img, vxb_current_header(img), VXB_HDR_SEQUENCE, UINT64_MAX, 8, 0);
        return cur_hdr(img) + VXB_HDR_SEQUENCE;
}
static uint64_t c_log_offset_misaligned(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_LOG_OFFSET, img->log_off + 4096, 8);
        return cur_hdr(img) + VXB_HDR_LOG_OFFSET;
}
static uint64_t c_log_offset_header(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_LOG_OFFSET, 0, 8);
        return cur_hdr(img) + VXB_HDR_LOG_OFFSET;
}
static uint64_t c_log_length_misaligned(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_LOG_LENGTH, img->p.log_size - 4096, 4);
        return cur_hdr(img) + VXB_HDR_LOG_LENGTH;
}
static uint64_t c_log_past_eof(struct vxb_image *img)
{
        both_hdr_le(img, VXB_HDR_LOG_OFFSET, round_up(img->len, VXB_MIB), 8);
        return cur_hdr(img) + VXB_HDR_LOG_OFFSET;
}
static uint64_t c_log_length_zero(struct vxb_image *img)
{
        uint8_t g[16];
        vxb_guid_new(g);
        both_hdr_le(img, VXB_HDR_LOG_LENGTH, 0, 4);
        vxb_header_put(img, vxb_current_header(img), VXB_HDR_LOG_GUID, g, 16, 0);
        return cur_hdr(img) + VXB_HDR_LOG_LENGTH;
}
static uint64_t c_log_version(struct vxb_image *img)
{
        uint8_t g[16];
        vxb_guid_new(g);
        both_hdr_le(img, VXB_HDR_LOG_VERSION, 1, 2);
        vxb_header_put(img, vxb_current_header(img), VXB_HDR_LOG_GUID, g, 16, 0);
        return cur_hdr(img) + VXB_HDR_LOG_VERSION;
}
static uint64_t c_log_guid_no_entry(struct vxb_image *img)
{
        uint8_t g[16];
        vxb_guid_new(g);
        vxb_header_put(img, vxb_current_header(img), VXB_HDR_LOG_GUID, g, 16, 0);
        return cur_hdr(img) + VXB_HDR_LOG_GUID;
}
static uint64_t c_rt1_crc(struct vxb_image *img)
{
        img->buf[VXB_REGION1_OFF + 60000] ^= 1;
        return VXB_REGION1_OFF + VXB_RT_CHECKSUM;
}
static uint64_t c_rt_both_crc(struct vxb_image *img)
{
        img->buf[VXB_REGION1_OFF + 60000] ^= 1;
        img->buf[VXB_REGION2_OFF + 60000] ^= 1;
        return VXB_REGION1_OFF + VXB_RT_CHECKSUM;
}
static uint64_t c_rt_mismatch(struct vxb_image *img)
{
        uint8_t b[4];
        uint64_t e = vxb_region_entry(img, 2, VXB_GUID_METADATA);
        le32(b, 1 - rd32(img->buf + e + VXB_RTE_REQUIRED));
        vxb_region_put(img, 2, e - VXB_REGION2_OFF + VXB_RTE_REQUIRED, b, 4, 0);
        return e + VXB_RTE_REQUIRED;
}
static uint64_t c_rt_count(struct vxb_image *img)
{
        both_rt_le(img, VXB_RT_ENTRY_COUNT, 2048, 4);
        return VXB_REGION1_OFF + VXB_RT_ENTRY_COUNT;
}
static uint64_t c_rt_reserved(struct vxb_image *img)
{
        both_rt_le(img, VXB_RT_RESERVED, 1, 4);
        return VXB_REGION1_OFF + VXB_RT_RESERVED;
}
static uint64_t c_rt_duplicate(struct vxb_image *img)
{
        uint64_t e = vxb_region_entry(img, 1, VXB_GUID_METADATA) - VXB_REGION1_OFF;
        uint8_t g[16];
        guid(VXB_GUID_BAT, g);
        vxb_region_put(img, 1, e, g, 16, 0);
        vxb_region_put(img, 2, e, g, 16, 0);
        return VXB_REGION1_OFF + e;
}
static uint64_t c_rt_misaligned(struct vxb_image *img)
{
        uint64_t e = vxb_region_entry(img, 1, VXB_GUID_BAT) - VXB_REGION1_OFF;
        both_rt_le(img, e + VXB_RTE_OFFSET, img->bat_off + 4096, 8);
        return VXB_REGION1_OFF + e + VXB_RTE_OFFSET;
}
static uint64_t c_rt_overlap(struct vxb_image *img)
{
        uint64_t e = vxb_region_entry(img, 1, VXB_GUID_METADATA) - VXB_REGION1_OFF;
        both_rt_le(img, e + VXB_RTE_OFFSET, img->log_off, 8);
        return VXB_REGION1_OFF + e + VXB_RTE_OFFSET;
}
static uint64_t c_rt_reserved_flag(struct vxb_image *img)
{
        uint64_t e = vxb_region_entry(img, 1, VXB_GUID_BAT) - VXB_REGION1_OFF;
        both_rt_le(img, e + VXB_RTE_REQUIRED, 3, 4);
        return VXB_REGION1_OFF + e + VXB_RTE_REQUIRED;
}
static uint64_t c_rt_unknown_required(struct vxb_image *img)
{
        uint64_t at = vxb_add_region(img, "6E5F1D4A-0000-4B3B-8E16-5A0A3C7A2D11", VXB_MIB, true);
        (void) at;
        return vxb_region_entry(img, 1, "6E5F1D4A-0000-4B3B-8E16-5A0A3C7A2D11");
}
static uint64_t c_meta_signature(struct vxb_image *img)
{
        img->buf[img->meta_off] = 'M';
        return img->meta_off;
}
static uint64_t c_meta_unknown_required(struct vxb_image *img)
{
        static const uint8_t v[8] = { 1 };
        vxb_add_metadata(img, "0D2A2B3C-1111-4A5B-9C8D-7E6F5A4B3C2D", v, 8,
                         VXB_META_IS_REQUIRED);
        return vxb_metadata_entry(img, "0D2A2B3C-1111-4A5B-9C8D-7E6F5A4B3C2D");
}
static uint64_t c_meta_incomplete(struct vxb_image *img)
{
        vxb_add_metadata(img, VXB_GUID_INCOMPLETE_FILE, NULL, 0, 0);
        return vxb_metadata_entry(img, VXB_GUID_INCOMPLETE_FILE);
}
static uint64_t c_meta_missing(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        guid("0D2A2B3C-2222-4A5B-9C8D-7E6F5A4B3C2D", img->buf + e);
        le32(img->buf + e + VXB_MTE_FLAGS, 0);
        return e;
}
static uint64_t c_meta_item_size(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_LOGICAL_SECTOR);
        le32(img->buf + e + VXB_MTE_LENGTH, 8);
        return e + VXB_MTE_LENGTH;
}
static uint64_t c_meta_offset_table(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_PAGE83);
        le32(img->buf + e + VXB_MTE_OFFSET, 4096);
        return e + VXB_MTE_OFFSET;
}
static uint64_t c_meta_overlap(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        uint64_t f = vxb_metadata_entry(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + e + VXB_MTE_OFFSET, rd32(img->buf + f + VXB_MTE_OFFSET) + 4);
        return e + VXB_MTE_OFFSET;
}
static uint64_t c_meta_past_region(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_PAGE83);
        le32(img->buf + e + VXB_MTE_OFFSET, VXB_MIB - 8);
        return e + VXB_MTE_OFFSET;
}
static uint64_t c_meta_flags(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + e + VXB_MTE_FLAGS, VXB_META_IS_REQUIRED | VXB_META_IS_VDISK);
        return e + VXB_MTE_FLAGS;
}
static uint64_t c_block_size(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + i, 3 * VXB_MIB);
        return i;
}
static uint64_t c_block_size_big(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + i, 512 * VXB_MIB);
        return i;
}
static uint64_t c_fp_reserved(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_FILE_PARAMETERS);
        le32(img->buf + i + 4, rd32(img->buf + i + 4) | 4);
        return i + 4;
}
static uint64_t c_sector_size(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_LOGICAL_SECTOR);
        le32(img->buf + i, 1024);
        return i;
}
static uint64_t c_phys_sector_size(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_PHYSICAL_SECTOR);
        le32(img->buf + i, 520);
        return i;
}
static uint64_t c_vsize_unaligned(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        le64(img->buf + i, img->p.virtual_size - 256);
        return i;
}
static uint64_t c_vsize_zero(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        le64(img->buf + i, 0);
        return i;
}
static uint64_t c_vsize_huge(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        le64(img->buf + i, (uint64_t) 65 << 40);
        return i;
}
static uint64_t c_bat_region_small(struct vxb_image *img)
{
        /* A disk so big that its BAT does not fit the region. */
        uint64_t i = vxb_metadata_item(img, VXB_GUID_VIRTUAL_DISK_SIZE);
        le64(img->buf + i, (uint64_t) img->bat_len / 8 * 2 * img->p.block_size);
        return i;
}
static uint64_t c_bat_reserved_bits(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 0);
        le64(img->buf + at, rd64(img->buf + at) | 0x8);
        return at;
}
static uint64_t c_bat_state(struct vxb_image *img, unsigned state)
{
        uint64_t at = bat_entry_off(img, 0);
        le64(img->buf + at, (rd64(img->buf + at) & ~(uint64_t) 7) | state);
        return at;
}
static uint64_t c_bat_state4(struct vxb_image *img) { return c_bat_state(img, 4); }
static uint64_t c_bat_state5(struct vxb_image *img) { return c_bat_state(img, 5); }
static uint64_t c_bat_state7(struct vxb_image *img)
{
        if (img->p.type == VXB_DIFFERENCING)
                TEST_FAIL("state 7 is legal in a differencing image");
        need_block(img, 0, VXB_FULLY_PRESENT);
        return c_bat_state(img, 7);
}
static uint64_t c_sb_in_dynamic(struct vxb_image *img)
{
        uint64_t at = img->bat_off + 8 * vxb_sb_index(img, 0), blk;
        if (img->p.type == VXB_DIFFERENCING || at >= img->bat_off + 8 * img->n_entries)
                TEST_FAIL("needs a dynamic image of more than one chunk");
        blk = vxb_append(img, VXB_MIB);
        le64(img->buf + at, blk | VXB_SB_PRESENT);
        return at;
}
static uint64_t c_sb_bad_state(struct vxb_image *img)
{
        uint64_t at = img->bat_off + 8 * vxb_sb_index(img, 0);
        le64(img->buf + at, (rd64(img->buf + at) & ~(uint64_t) 7) | 2);
        return at;
}
static uint64_t c_bat_past_eof(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        need_block(img, 1, VXB_FULLY_PRESENT);
        le64(img->buf + at, round_up(img->len, VXB_MIB) | VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_bat_partial_last(struct vxb_image *img)
{
        /* The file ends 1 MiB into the last allocated block. */
        uint64_t off = 0, blk = 0;
        for (uint64_t b = 0; b < img->n_blocks; b++)
                if (img->blocks[b].state == VXB_FULLY_PRESENT && img->blocks[b].off >= off)
                        off = img->blocks[b].off, blk = b;
        if (!off || off + img->p.block_size != img->len || img->p.block_size < 2 * VXB_MIB)
                TEST_FAIL("needs blocks of 2 MiB or more, the last at the end of the file");
        img->len = off + VXB_MIB;
        return bat_entry_off(img, blk);
}
static uint64_t c_bat_overlap(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        le64(img->buf + at, need_block(img, 0, VXB_FULLY_PRESENT) | VXB_FULLY_PRESENT);
        need_block(img, 1, VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_bat_offset_zero(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        need_block(img, 1, VXB_FULLY_PRESENT);
        le64(img->buf + at, VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_bat_overlap_log(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        need_block(img, 1, VXB_FULLY_PRESENT);
        le64(img->buf + at, img->log_off | VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_bat_overlap_meta(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        need_block(img, 1, VXB_FULLY_PRESENT);
        le64(img->buf + at, img->meta_off | VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_bat_overlap_bat(struct vxb_image *img)
{
        uint64_t at = bat_entry_off(img, 1);
        need_block(img, 1, VXB_FULLY_PRESENT);
        le64(img->buf + at, img->bat_off | VXB_FULLY_PRESENT);
        return at;
}
static uint64_t c_soft_anchor_overlap(struct vxb_image *img)
{
        uint64_t blk = img->n_blocks - 1, at = bat_entry_off(img, blk);
        if (img->blocks[blk].state == VXB_FULLY_PRESENT || blk < 2)
                TEST_FAIL("needs an unallocated last block");
        le64(img->buf + at, need_block(img, 0, VXB_FULLY_PRESENT) | VXB_UNMAPPED);
        return at;
}
static uint64_t c_partial_without_sb(struct vxb_image *img)
{
        uint64_t at = img->bat_off + 8 * vxb_sb_index(img, 0);
        need_block(img, 2, VXB_PARTIALLY_PRESENT);
        le64(img->buf + at, 0);
        return bat_entry_off(img, 2);
}
static uint64_t c_sb_overlap(struct vxb_image *img)
{
        uint64_t at = img->bat_off + 8 * vxb_sb_index(img, 0);
        need_block(img, 2, VXB_PARTIALLY_PRESENT);
        le64(img->buf + at, need_block(img, 2, VXB_PARTIALLY_PRESENT) | VXB_SB_PRESENT);
        return at;
}
static uint64_t locator(struct vxb_image *img)
{
        uint64_t i = vxb_metadata_item(img, VXB_GUID_PARENT_LOCATOR);
        if (!i)
                TEST_FAIL("needs a parent locator");
        return i;
}
static uint64_t c_loc_type(struct vxb_image *img)
{
        uint64_t i = locator(img);
        img->buf[i] ^= 0xFF;
        return i;
}
static uint64_t c_loc_count_zero(struct vxb_image *img)
{
        uint64_t i = locator(img);
        le16(img->buf + i + 18, 0);
        return i + 18;
}
static uint64_t c_loc_count_big(struct vxb_image *img)
{
        uint64_t i = locator(img);
        le16(img->buf + i + 18, 300);
        return i + 18;
}
static uint64_t c_loc_odd_offset(struct vxb_image *img)
{
        uint64_t i = locator(img);
        le32(img->buf + i + 20 + 4, rd32(img->buf + i + 20 + 4) + 1);
        return i + 20 + 4;
}
static uint64_t c_loc_past_item(struct vxb_image *img)
{
        uint64_t i = locator(img);
        le32(img->buf + i + 20 + 4, 0x10000);
        return i + 20 + 4;
}
static uint64_t c_loc_no_linkage(struct vxb_image *img)
{
        uint64_t i = locator(img);
        uint32_t k = rd32(img->buf + i + 20);  /* entry 0 is parent_linkage */
        img->buf[i + k] = 'P';
        return i + k;
}
static uint64_t c_loc_bad_linkage(struct vxb_image *img)
{
        uint64_t i = locator(img);
        uint32_t v = rd32(img->buf + i + 20 + 4);
        img->buf[i + v + 2] = 'x';      /* "{x..." */
        return i + v;
}
static uint64_t c_loc_mismatch(struct vxb_image *img)
{
        uint64_t i = locator(img);
        uint32_t v = rd32(img->buf + i + 20 + 4);
        img->buf[i + v + 2] = img->buf[i + v + 2] == '0' ? '1' : '0';
        return i + v;
}
static uint64_t c_loc_nul(struct vxb_image *img)
{
        uint64_t i = locator(img);
        uint32_t v = rd32(img->buf + i + 20 + 12 + 4);  /* entry 1's value */
        img->buf[i + v] = 0;
        return i + v;
}
static uint64_t c_loc_missing(struct vxb_image *img)
{
        uint64_t e = vxb_metadata_entry(img, VXB_GUID_PARENT_LOCATOR);
        if (!e)
                TEST_FAIL("needs a parent locator");
        guid("0D2A2B3C-3333-4A5B-9C8D-7E6F5A4B3C2D", img->buf + e);
        le32(img->buf + e + VXB_MTE_FLAGS, 0);
        return e;
}
static uint64_t c_log_entry_crc(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        e[rd32(e + 8) - 100] ^= 1;
        return img->log_off + 4;
}
static uint64_t c_log_desc_low(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le64(e + 64 + 16, 0);           /* descriptor 0 → the file identifier */
        log_entry0_crc(img);
        return img->log_off + 64 + 16;
}
static uint64_t c_log_desc_header(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le64(e + 64 + 16, VXB_HEADER1_OFF);
        log_entry0_crc(img);
        return img->log_off + 64 + 16;
}
static uint64_t c_log_desc_in_log(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le64(e + 64 + 16, img->log_off);
        log_entry0_crc(img);
        return img->log_off + 64 + 16;
}
static uint64_t c_log_desc_unaligned(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le64(e + 64 + 16, rd64(e + 64 + 16) + 512);
        log_entry0_crc(img);
        return img->log_off + 64 + 16;
}
static uint64_t c_log_flushed(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le64(e + 48, round_up(img->len, VXB_MIB) + VXB_MIB);
        log_entry0_crc(img);
        return img->log_off + 48;
}
static uint64_t c_log_seq_sector(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le32(e + VXB_LOG_SECTOR + 4092, rd32(e + VXB_LOG_SECTOR + 4092) + 1);
        log_entry0_crc(img);
        return img->log_off + VXB_LOG_SECTOR + 4092;
}
static uint64_t c_log_entry_length(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le32(e + 8, img->p.log_size);
        return img->log_off + 8;
}
static uint64_t c_log_tail(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        le32(e + 12, 4096);             /* the tail is not in the sequence */
        log_entry0_crc(img);
        return img->log_off + 12;
}
static uint64_t c_log_guid(struct vxb_image *img)
{
        uint8_t *e = log_entry0(img);
        e[32] ^= 1;
        log_entry0_crc(img);
        return img->log_off + 32;
}
static uint64_t c_log_dirty(struct vxb_image *img)
{
        log_entry0(img);
        return cur_hdr(img) + VXB_HDR_LOG_GUID;
}

#define ROW(n, s, w, p, f, needs, fn) { n, s, w, p, f, needs, fn }
const struct vxb_corruption vxb_corruptions[] = {
        ROW("identifier", "1", "file identifier is not 'vhdxfile'", "bad-signature",
            "file_identifier", 0, c_identifier),
        ROW("short-file", "1", "file shorter than 1 MiB", "file-too-small", NULL, 0, c_short),
        ROW("header-signature", "2", "both headers lack 'head'", "no-valid-header",
            "header.signature", 0, c_hdr_signature),
        ROW("header1-checksum", "2", "header 1's CRC is wrong (header 2 is used; noted, "
            "repaired on a writable open)", "bad-checksum", "header1.checksum", 0, c_hdr1_crc),
        ROW("headers-checksum", "2", "both headers' CRCs are wrong", "no-valid-header",
            "header.checksum", 0, c_hdr_both_crc),
        ROW("header-badcrc-higher-seq", "2", "header 1 has the higher sequence number but a "
            "bad CRC: header 2 must be current", "bad-checksum", "header1.checksum", 0,
            c_hdr_badcrc_higher),
        ROW("header-version", "2", "Version is 2", "bad-version", "header.version", 0,
            c_hdr_version),
        ROW("header-reserved", "2", "a reserved header byte is set", "bad-header",
            "header.reserved", 0, c_hdr_reserved),
        ROW("header-seq-tie", "2", "equal sequence numbers, different headers",
            "header-sequence-tie", "header.sequence_number", 0, c_hdr_seq_tie),
        ROW("header-seq-max", "5", "sequence number 2^64-1 (refuse a writable open)",
            "sequence-exhausted", "header.sequence_number", 0, c_hdr_seq_max),
        ROW("log-offset-misaligned", "3", "LogOffset not a MiB multiple", "bad-log-offset",
            "header.log_offset", 0, c_log_offset_misaligned),
        ROW("log-offset-header", "3", "LogOffset 0 (inside the header section)",
            "bad-log-offset", "header.log_offset", 0, c_log_offset_header),
        ROW("log-length-misaligned", "3", "LogLength not a MiB multiple", "bad-log-length",
            "header.log_length", 0, c_log_length_misaligned),
        ROW("log-past-eof", "3", "log ends past the end of the file", "bad-log-offset",
            "header.log_offset", 0, c_log_past_eof),
        ROW("log-length-zero", "4", "LogLength 0 with LogGuid set", "bad-log-length",
            "header.log_length", 0, c_log_length_zero),
        ROW("log-version", "4", "LogVersion 1 with LogGuid set", "not-supported",
            "header.log_version", 0, c_log_version),
        ROW("log-guid-no-entry", "17", "LogGuid names no valid entry", "bad-log",
            "header.log_guid", 0, c_log_guid_no_entry),
        ROW("region1-checksum", "6", "region table 1's CRC is wrong (copy 2 is used; "
            "noted)", "bad-checksum", "region_table1.checksum", 0, c_rt1_crc),
        ROW("regions-checksum", "6", "both region tables' CRCs are wrong",
            "bad-region-table", "region_table.checksum", 0, c_rt_both_crc),
        ROW("region-mismatch", "6", "the two region tables differ (both valid)",
            "region-table-mismatch", "region_table2", 0, c_rt_mismatch),
        ROW("region-count", "7", "EntryCount 2048", "bad-region-table",
            "region_table.entry_count", 0, c_rt_count),
        ROW("region-reserved", "7", "the table's reserved field is set", "bad-region-table",
            "region_table.reserved", 0, c_rt_reserved),
        ROW("region-flags", "7", "a reserved Required bit is set", "bad-region-table",
            "region.required", 0, c_rt_reserved_flag),
        ROW("region-duplicate", "8", "two BAT entries, no metadata entry", "bad-region-table",
            "region.guid", 0, c_rt_duplicate),
        ROW("region-misaligned", "9", "BAT region offset not a MiB multiple",
            "bad-region-table", "region.file_offset", 0, c_rt_misaligned),
        ROW("region-overlap", "9", "metadata region over the log", "region-overlap",
            "region.file_offset", 0, c_rt_overlap),
        ROW("region-unknown-required", "10", "an unknown region marked required",
            "unknown-required-region", "region.guid", 0, c_rt_unknown_required),
        ROW("metadata-signature", "11", "metadata table lacks 'metadata'", "bad-metadata",
            "metadata.signature", 0, c_meta_signature),
        ROW("metadata-offset-table", "11", "an item inside the 64 KiB table", "bad-metadata",
            "metadata.offset", 0, c_meta_offset_table),
        ROW("metadata-overlap", "11", "two items overlap", "bad-metadata", "metadata.offset",
            0, c_meta_overlap),
        ROW("metadata-past-region", "11", "an item ends past the region", "bad-metadata",
            "metadata.offset", 0, c_meta_past_region),
        ROW("metadata-missing", "12", "no Virtual Disk Size item", "missing-metadata",
            "virtual_disk_size", 0, c_meta_missing),
        ROW("metadata-item-size", "12", "Logical Sector Size item of 8 bytes",
            "bad-metadata", "logical_sector_size.length", 0, c_meta_item_size),
        ROW("metadata-flags", "12", "File Parameters marked IsVirtualDisk", "bad-metadata",
            "file_parameters.flags", 0, c_meta_flags),
        ROW("metadata-unknown-required", "12", "an unknown required item",
            "unknown-required-metadata", "metadata.item_id", 0, c_meta_unknown_required),
        ROW("incomplete-file", "12", "the 'incomplete file' item is present",
            "incomplete-file", "metadata.item_id", 0, c_meta_incomplete),
        ROW("block-size", "13", "BlockSize 3 MiB (not a power of 2)", "bad-block-size",
            "file_parameters.block_size", 0, c_block_size),
        ROW("block-size-big", "13", "BlockSize 512 MiB", "bad-block-size",
            "file_parameters.block_size", 0, c_block_size_big),
        ROW("file-parameters-reserved", "13", "a reserved File Parameters bit",
            "bad-metadata", "file_parameters.flags", 0, c_fp_reserved),
        ROW("sector-size", "13", "Logical Sector Size 1024", "bad-sector-size",
            "logical_sector_size", 0, c_sector_size),
        ROW("physical-sector-size", "13", "Physical Sector Size 520", "bad-sector-size",
            "physical_sector_size", 0, c_phys_sector_size),
        ROW("size-unaligned", "13", "VirtualDiskSize not a sector multiple", "bad-size",
            "virtual_disk_size", 0, c_vsize_unaligned),
        ROW("size-zero", "13", "VirtualDiskSize 0", "bad-size", "virtual_disk_size", 0,
            c_vsize_zero),
        ROW("size-huge", "13", "VirtualDiskSize 65 TiB", "bad-size", "virtual_disk_size", 0,
            c_vsize_huge),
        ROW("bat-region-small", "19", "BAT region too small for the disk size",
            "bad-region-table", "region.length", 0, c_bat_region_small),
        ROW("bat-reserved-bits", "20", "a BAT entry with reserved bits 3-19 set",
            "bad-bat-entry", "bat", 0, c_bat_reserved_bits),
        ROW("bat-state-4", "20", "BAT state 4", "bad-bat-entry", "bat", 0, c_bat_state4),
        ROW("bat-state-5", "20", "BAT state 5 (v0.95 UNMAPPED)", "bad-bat-entry", "bat", 0,
            c_bat_state5),
        ROW("bat-partial-in-dynamic", "20", "PARTIALLY_PRESENT in a dynamic image",
            "bad-bat-entry", "bat", VXB_NEEDS_BLOCKS, c_bat_state7),
        ROW("sb-in-dynamic", "20", "an SB entry PRESENT in a dynamic image",
            "bad-bat-entry", "bat", 0, c_sb_in_dynamic),
        ROW("sb-state", "20", "an SB entry in state 2", "bad-bat-entry", "bat", 0,
            c_sb_bad_state),
        ROW("bat-past-eof", "21", "a block past the end of the file", "block-outside-file",
            "bat", VXB_NEEDS_BLOCKS, c_bat_past_eof),
        ROW("bat-partial-last", "21", "the file ends inside the last block",
            "block-outside-file", "bat", VXB_NEEDS_BLOCKS, c_bat_partial_last),
        ROW("bat-offset-zero", "21", "FULLY_PRESENT with offset 0", "block-outside-file",
            "bat", VXB_NEEDS_BLOCKS, c_bat_offset_zero),
        ROW("bat-overlap", "22", "two blocks at the same offset", "block-overlap", "bat",
            VXB_NEEDS_BLOCKS, c_bat_overlap),
        ROW("bat-overlap-log", "21", "a block over the log", "block-overlap", "bat",
            VXB_NEEDS_BLOCKS, c_bat_overlap_log),
        ROW("bat-overlap-metadata", "21", "a block over the metadata region",
            "block-overlap", "bat", VXB_NEEDS_BLOCKS, c_bat_overlap_meta),
        ROW("bat-overlap-bat", "21", "a block over the BAT region", "block-overlap", "bat",
            VXB_NEEDS_BLOCKS, c_bat_overlap_bat),
        ROW("soft-anchor-overlap", "24", "an UNMAPPED soft anchor on a present block",
            "block-overlap", "bat", VXB_NEEDS_BLOCKS, c_soft_anchor_overlap),
        ROW("partial-without-sb", "23", "PARTIALLY_PRESENT with its SB entry NOT_PRESENT",
            "missing-sector-bitmap", "bat", VXB_NEEDS_DIFF, c_partial_without_sb),
        ROW("sb-overlap", "22", "the SB block on a payload block", "block-overlap", "bat",
            VXB_NEEDS_DIFF, c_sb_overlap),
        ROW("locator-type", "14", "unknown locator type", "bad-parent-locator",
            "parent_locator.type", VXB_NEEDS_DIFF, c_loc_type),
        ROW("locator-count-zero", "14", "KeyValueCount 0", "bad-parent-locator",
            "parent_locator.count", VXB_NEEDS_DIFF, c_loc_count_zero),
        ROW("locator-count-big", "14", "KeyValueCount 300 (past the item)",
            "bad-parent-locator", "parent_locator.count", VXB_NEEDS_DIFF, c_loc_count_big),
        ROW("locator-odd-offset", "14", "an odd value offset", "bad-parent-locator",
            "parent_locator.value_offset", VXB_NEEDS_DIFF, c_loc_odd_offset),
        ROW("locator-past-item", "14", "a value past the item", "bad-parent-locator",
            "parent_locator.value_offset", VXB_NEEDS_DIFF, c_loc_past_item),
        ROW("locator-no-linkage", "14", "no parent_linkage key", "bad-parent-locator",
            "parent_locator.parent_linkage", VXB_NEEDS_DIFF, c_loc_no_linkage),
        ROW("locator-bad-linkage", "14", "parent_linkage is not a GUID", "bad-parent-locator",
            "parent_locator.parent_linkage", VXB_NEEDS_DIFF, c_loc_bad_linkage),
        ROW("locator-nul", "14", "a NUL inside a value", "bad-parent-locator",
            "parent_locator.value", VXB_NEEDS_DIFF, c_loc_nul),
        ROW("locator-missing", "12", "HasParent without a parent locator",
            "missing-metadata", "parent_locator", VXB_NEEDS_DIFF, c_loc_missing),
        ROW("parent-mismatch", "4.4", "parent_linkage is not the parent's DataWriteGuid",
            "parent-mismatch", "parent_locator.parent_linkage", VXB_NEEDS_DIFF,
            c_loc_mismatch),
        ROW("log-dirty", "18", "a valid, unreplayed log (read-only: replay in memory or "
            "refuse; never the stale BAT)", "log-not-replayed", "header.log_guid",
            VXB_NEEDS_LOG, c_log_dirty),
        ROW("log-entry-checksum", "15", "the only entry's CRC is wrong", "bad-log",
            "log_entry.checksum", VXB_NEEDS_LOG, c_log_entry_crc),
        ROW("log-entry-length", "15", "EntryLength = LogLength", "bad-log",
            "log_entry.entry_length", VXB_NEEDS_LOG, c_log_entry_length),
        ROW("log-tail", "15", "Tail outside the sequence", "bad-log", "log_entry.tail",
            VXB_NEEDS_LOG, c_log_tail),
        ROW("log-entry-guid", "15", "the entry's LogGuid is not the header's", "bad-log",
            "log_entry.log_guid", VXB_NEEDS_LOG, c_log_guid),
        ROW("log-data-sequence", "15", "a data sector's sequence number disagrees",
            "bad-log", "log_data.sequence_low", VXB_NEEDS_LOG, c_log_seq_sector),
        ROW("log-target-identifier", "16", "a descriptor aimed at offset 0",
            "bad-log-descriptor", "log_descriptor.file_offset", VXB_NEEDS_LOG,
            c_log_desc_low),
        ROW("log-target-header", "16", "a descriptor aimed at header 1",
            "bad-log-descriptor", "log_descriptor.file_offset", VXB_NEEDS_LOG,
            c_log_desc_header),
        ROW("log-target-log", "16", "a descriptor aimed into the log itself",
            "bad-log-descriptor", "log_descriptor.file_offset", VXB_NEEDS_LOG,
            c_log_desc_in_log),
        ROW("log-target-unaligned", "16", "a descriptor target not a 4 KiB multiple",
            "bad-log-descriptor", "log_descriptor.file_offset", VXB_NEEDS_LOG,
            c_log_desc_unaligned),
        ROW("log-flushed-past-eof", "17", "FlushedFileOffset past the end of the file",
            "file-truncated", "log_entry.flushed_file_offset", VXB_NEEDS_LOG, c_log_flushed),
};
const size_t vxb_n_corruptions = sizeof vxb_corruptions / sizeof vxb_corruptions[0];

const struct vxb_corruption *vxb_corruption_find(const char *name)
{
        for (size_t i = 0; i < vxb_n_corruptions; i++)
                if (strcmp(vxb_corruptions[i].name, name) == 0)
                        return &vxb_corruptions[i];
        return NULL;
}
