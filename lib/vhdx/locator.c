/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parent locator item of a differencing VHDX (VHDX.md section 4.1,
 * hostile-input checks of section 5 item 14): a 20-byte header (the
 * locator type, which must be the VHDX one; a reserved u16 that must be
 * zero; the key-value count, 1..256), then 12-byte entries whose key and
 * value offsets are relative to the item's start, then the UTF-16LE
 * strings.  Every offset and length is checked (non-zero, even, inside
 * the item, without overflow); strings hold no NUL and no lone surrogate;
 * keys are unique.  Of the keys, parent_linkage (required, a GUID),
 * parent_linkage2 (optional), relative_path, volume_path and
 * absolute_win32_path (at least one) are kept; others are ignored, as
 * the spec allows.  The item is at most 1 MiB (metadata.c caps it), so
 * the one allocation here is bounded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/fd-util.h"
#include "../util/utf16.h"
#include "vhdx.h"

#define LOC_HEADER_SIZE 20u
#define LOC_ENTRY_SIZE 12u
#define LOC_MAX_KEYS 256u

static const uint8_t locator_type_vhdx[16] = { 0xb7, 0xef, 0x4a, 0xb0, 0x9e, 0xd1, 0x81, 0x4a,
                                               0xb7, 0x89, 0x25, 0xb8, 0xe9, 0x44, 0x59, 0x13 };

void vhdx_locator_done(struct vhdx_locator *l)
{
        for (int k = 0; k < VHDX_LOC_N_PATHS; k++)
                free(l->path[k]);
        *l = (struct vhdx_locator) {};
}

const char *vhdx_locator_key_name(int k)
{
        static const char *const names[VHDX_LOC_N_PATHS] = { "relative_path", "volume_path", "absolute_win32_path" };
        return k >= 0 && k < VHDX_LOC_N_PATHS ? names[k] : NULL;
}

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

/* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" (braces optional, any case)
 * into the on-disk mixed-endian form. */
bool vhdx_guid_parse(const char *s, uint8_t out[16])
{
        uint8_t be[16];
        size_t n = strlen(s);
        int k = 0;

        if (n == 38 && s[0] == '{' && s[37] == '}')
                s++, n -= 2;
        if (n != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                        continue;
                }
                int h = hexval(s[i]), l = i + 1 < 36 ? hexval(s[i + 1]) : -1;
                if (h < 0 || l < 0)
                        return false;
                be[k++] = (uint8_t) (h << 4 | l);
                i++;
        }
        /* Data1..3 are stored little-endian. */
        const uint8_t order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
        for (int i = 0; i < 16; i++)
                out[i] = be[order[i]];
        return true;
}

/* A UTF-16LE string of the item: no NUL, no lone surrogate. */
static bool utf16_clean(const uint8_t *p, uint32_t len)
{
        for (uint32_t i = 0; i < len; i += 2) {
                uint16_t u = get_le16(p + i);
                if (u == 0)
                        return false;
                if (u >= 0xd800 && u <= 0xdbff) {
                        if (i + 2 >= len)
                                return false;
                        uint16_t v = get_le16(p + i + 2);
                        if (v < 0xdc00 || v > 0xdfff)
                                return false;
                        i += 2;
                } else if (u >= 0xdc00 && u <= 0xdfff)
                        return false;
        }
        return true;
}

static bool key_is(const uint8_t *p, uint32_t len, const char *ascii)
{
        size_t n = strlen(ascii);
        if (len != 2 * n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (get_le16(p + 2 * i) != (uint8_t) ascii[i])
                        return false;
        return true;
}

int vhdx_locator_parse(const uint8_t *item, uint32_t len, uint64_t at, struct vhdx_report *rep,
                       struct vhdx_locator *ret)
{
        struct vhdx_locator l = { .offset = at };
        int r = 0;

#define BAD(field, off, ...)                                                                           \
        do {                                                                                           \
                r = vhdx_report(rep, VC_PROBLEM_BAD_LOCATOR, -EBADMSG, field, off, __VA_ARGS__);       \
                vhdx_locator_done(&l);                                                                 \
                return r < 0 ? r : -EBADMSG;                                                           \
        } while (0)

        if (len < LOC_HEADER_SIZE)
                BAD("parent_locator", at, "the parent locator is %" PRIu32 " bytes, shorter than its 20-byte header",
                    len);
        if (memcmp(item, locator_type_vhdx, 16))
                BAD("parent_locator.locator_type", at, "the parent locator is not of the VHDX type");
        if (get_le16(item + 16))
                BAD("parent_locator.reserved", at + 16, "the parent locator's reserved field is not zero");
        uint16_t count = get_le16(item + 18);
        if (count == 0 || count > LOC_MAX_KEYS)
                BAD("parent_locator.key_value_count", at + 18,
                    "the parent locator has %u keys; 1 to %u are allowed", count, LOC_MAX_KEYS);
        if (LOC_HEADER_SIZE + (uint64_t) count * LOC_ENTRY_SIZE > len)
                BAD("parent_locator.key_value_count", at + 18,
                    "the parent locator's %u entries do not fit in its %" PRIu32 " bytes", count, len);

        bool seen_link = false;
        for (unsigned i = 0; i < count; i++) {
                const uint32_t e = LOC_HEADER_SIZE + i * LOC_ENTRY_SIZE;
                const uint32_t ko = get_le32(item + e), vo = get_le32(item + e + 4);
                const uint16_t kl = get_le16(item + e + 8), vl = get_le16(item + e + 10);
                const struct { const char *name; uint32_t off; uint16_t len; uint32_t at; } s[2] = {
                        { "key", ko, kl, e }, { "value", vo, vl, e + 4 },
                };
                for (int j = 0; j < 2; j++) {
                        /* A static name (problems keep the pointer); the
                         * offset and the message say which entry. */
                        const char *field = j ? "parent_locator.value_offset" : "parent_locator.key_offset";
                        if (s[j].off == 0 || s[j].off % 2)
                                BAD(field, at + s[j].at, "parent locator entry %u: its %s offset %" PRIu32
                                    " is zero or odd", i, s[j].name, s[j].off);
                        if (s[j].len == 0 || s[j].len % 2)
                                BAD(field, at + e + 8 + 2 * j, "parent locator entry %u: its %s length %u is zero or odd",
                                    i, s[j].name, s[j].len);
                        /* off < 2^32 and len < 2^16: the sum fits in 64 bits. */
                        if ((uint64_t) s[j].off + s[j].len > len)
                                BAD(field, at + s[j].at, "parent locator entry %u: its %s (%u bytes at %" PRIu32
                                    ") lies past the end of the %" PRIu32 "-byte item", i, s[j].name, s[j].len,
                                    s[j].off, len);
                        if (!utf16_clean(item + s[j].off, s[j].len))
                                BAD(field, at + s[j].off, "parent locator entry %u: its %s is not clean UTF-16 "
                                    "(a NUL or a lone surrogate)", i, s[j].name);
                }
                for (unsigned j = 0; j < i; j++) {
                        const uint32_t f = LOC_HEADER_SIZE + j * LOC_ENTRY_SIZE;
                        if (get_le16(item + f + 8) == kl && !memcmp(item + get_le32(item + f), item + ko, kl))
                                BAD("parent_locator.key", at + ko, "parent locator entry %u repeats the key of entry %u",
                                    i, j);
                }
                const uint8_t *v = item + vo;
                if (key_is(item + ko, kl, "parent_linkage") || key_is(item + ko, kl, "parent_linkage2")) {
                        const bool second = kl == 2 * strlen("parent_linkage2");
                        char text[64];
                        if (utf16_to_utf8(v, vl, false, text, sizeof text) < 0 ||
                            !vhdx_guid_parse(text, second ? l.linkage2 : l.linkage))
                                BAD(second ? "parent_locator.parent_linkage2" : "parent_locator.parent_linkage",
                                    at + vo, "the parent locator's %s is not a GUID",
                                    second ? "parent_linkage2" : "parent_linkage");
                        if (second)
                                l.has_linkage2 = true;
                        else {
                                seen_link = true;
                                l.linkage_offset = at + vo;
                        }
                        continue;
                }
                for (int k = 0; k < VHDX_LOC_N_PATHS; k++) {
                        if (!key_is(item + ko, kl, vhdx_locator_key_name(k)))
                                continue;
                        /* Each UTF-16 unit gives at most 3 bytes of UTF-8. */
                        size_t n = (size_t) vl / 2 * 3 + 1;
                        l.path[k] = malloc(n);
                        if (!l.path[k]) {
                                vhdx_locator_done(&l);
                                return -ENOMEM;
                        }
                        if (utf16_to_utf8(v, vl, false, l.path[k], n) < 0)
                                BAD("parent_locator.value", at + vo, "the parent locator's %s cannot be decoded",
                                    vhdx_locator_key_name(k));
                        l.path_offset[k] = at + vo;
                }
        }
        if (!seen_link)
                BAD("parent_locator.parent_linkage", at, "the parent locator has no parent_linkage key");
        if (!l.path[0] && !l.path[1] && !l.path[2])
                BAD("parent_locator", at, "the parent locator names no path to the parent "
                    "(relative_path, volume_path or absolute_win32_path)");
#undef BAD
        *ret = l;
        return 0;
}

int vhdx_locator_read(int fd, const struct vhdx_metadata *m, struct vhdx_report *rep, struct vhdx_locator *ret)
{
        _cleanup_free_ uint8_t *item = NULL;
        int r;

        if (!m->has_locator)
                return vhdx_report(rep, VC_PROBLEM_BAD_LOCATOR, -EBADMSG, "metadata.parent_locator", m->params_offset,
                                   "the disk has a parent (HasParent) but no parent locator"), -EBADMSG;
        if (m->locator_length > VHDX_META_MAX_ITEM)
                return -EBADMSG;        /* metadata.c refused it already */
        item = malloc(m->locator_length ? m->locator_length : 1);
        if (!item)
                return -ENOMEM;
        r = pread_full(fd, item, m->locator_length, m->locator_offset);
        if (r < 0)
                return vhdx_report(rep, VC_PROBLEM_IO, r, "parent_locator", m->locator_offset,
                                   "cannot read the parent locator"), r;
        return vhdx_locator_parse(item, m->locator_length, m->locator_offset, rep, ret);
}
