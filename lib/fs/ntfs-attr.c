/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attributes: the walk inside one MFT record, and whole attribute streams
 * that may be spread over several records by an $ATTRIBUTE_LIST.
 *
 * Design note: the walk checks every attribute header against the record's
 * bytes-used before any field is trusted (length, name, value, mapping
 * pairs), so a caller gets spans that are already inside the record.
 *
 * A stream is assembled in VCN order.  With an attribute list we never
 * "follow" anything recursively: we take the list entries that name the
 * stream, sort them by starting VCN, and require each referenced extent to
 * start exactly where the previous one ended.  That makes loops, cycles and
 * duplicates impossible to follow - they all surface as a VCN that does not
 * continue the runlist, or as a record whose base reference is not ours -
 * and bounds the work by the number of entries (capped), not by the data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/macro.h"
#include "../util/overflow.h"
#include "ntfs-internal.h"

#define ATTR_CORRUPT(field, off, ...) \
        vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.attr." field, \
                       ntfs_block_where(&rec->blk, (off)), __VA_ARGS__)

int ntfs_attr_next(const struct ntfs_record *rec, uint32_t *cursor, struct ntfs_attr *ret,
                   struct vc_problems *problems)
{
        const struct span s = SPAN(rec->buf, rec->bytes_used);
        uint32_t pos = *cursor ? *cursor : rec->attrs_offset;
        struct ntfs_attr a = { .offset = pos };
        struct span as = {};
        uint16_t name_off = 0;
        uint8_t nonres = 0;

        if (span_get_le32(&s, pos, &a.type) < 0)
                return ATTR_CORRUPT("type", pos, "MFT record %llu: attribute at %u runs past the "
                                    "%u bytes used without an end marker",
                                    (unsigned long long) rec->recno, pos, rec->bytes_used);
        if (a.type == NTFS_AT_END)
                return 0;
        if (span_get_le32(&s, pos + NTFS_ATTR_OFF_LENGTH, &a.length) < 0 ||
            a.length < NTFS_ATTR_RESIDENT_HEADER || a.length % 8 != 0 ||
            span_sub(&s, pos, a.length, &as) < 0)
                return ATTR_CORRUPT("length", pos + NTFS_ATTR_OFF_LENGTH,
                                    "MFT record %llu: attribute 0x%x at %u has length %u, not a "
                                    "multiple of 8 inside the %u bytes used",
                                    (unsigned long long) rec->recno, a.type, pos, a.length,
                                    rec->bytes_used);

        (void) span_get_u8(&as, NTFS_ATTR_OFF_NON_RESIDENT, &nonres);
        (void) span_get_u8(&as, NTFS_ATTR_OFF_NAME_LENGTH, &a.name_length);
        (void) span_get_le16(&as, NTFS_ATTR_OFF_NAME_OFFSET, &name_off);
        (void) span_get_le16(&as, NTFS_ATTR_OFF_FLAGS, &a.flags);
        (void) span_get_le16(&as, NTFS_ATTR_OFF_ID, &a.id);
        if (nonres > 1)
                return ATTR_CORRUPT("non_resident", pos + NTFS_ATTR_OFF_NON_RESIDENT,
                                    "MFT record %llu: attribute 0x%x has non-resident flag %u",
                                    (unsigned long long) rec->recno, a.type, nonres);
        a.non_resident = nonres;
        if (a.name_length > 0 && span_sub(&as, name_off, 2ull * a.name_length, &a.name) < 0)
                return ATTR_CORRUPT("name_offset", pos + NTFS_ATTR_OFF_NAME_OFFSET,
                                    "MFT record %llu: name of attribute 0x%x (%u units at %u) "
                                    "is outside it", (unsigned long long) rec->recno, a.type,
                                    a.name_length, name_off);

        if (!a.non_resident) {
                uint32_t vlen = 0;
                uint16_t voff = 0;

                (void) span_get_le32(&as, NTFS_ATTR_OFF_VALUE_LENGTH, &vlen);
                (void) span_get_le16(&as, NTFS_ATTR_OFF_VALUE_OFFSET, &voff);
                if ((vlen > 0 && voff < NTFS_ATTR_RESIDENT_HEADER) ||
                    span_sub(&as, voff, vlen, &a.value) < 0)
                        return ATTR_CORRUPT("value_length", pos + NTFS_ATTR_OFF_VALUE_LENGTH,
                                            "MFT record %llu: value of attribute 0x%x (%u bytes "
                                            "at %u) is outside it", (unsigned long long) rec->recno,
                                            a.type, vlen, voff);
                a.value_offset = voff;
        } else {
                uint16_t mp_off = 0;

                if (a.length < NTFS_ATTR_NONRESIDENT_HEADER)
                        return ATTR_CORRUPT("length", pos + NTFS_ATTR_OFF_LENGTH,
                                            "MFT record %llu: non-resident attribute 0x%x is only "
                                            "%u bytes", (unsigned long long) rec->recno, a.type,
                                            a.length);
                (void) span_get_le64(&as, NTFS_ATTR_OFF_LOWEST_VCN, &a.lowest_vcn);
                (void) span_get_le64(&as, NTFS_ATTR_OFF_HIGHEST_VCN, &a.highest_vcn);
                (void) span_get_le16(&as, NTFS_ATTR_OFF_MAPPING_PAIRS, &mp_off);
                (void) span_get_le64(&as, NTFS_ATTR_OFF_ALLOCATED_SIZE, &a.allocated_size);
                (void) span_get_le64(&as, NTFS_ATTR_OFF_DATA_SIZE, &a.data_size);
                (void) span_get_le64(&as, NTFS_ATTR_OFF_INITIALIZED_SIZE, &a.initialized_size);
                if (mp_off < NTFS_ATTR_NONRESIDENT_HEADER || mp_off >= a.length)
                        return ATTR_CORRUPT("mapping_pairs_offset", pos + NTFS_ATTR_OFF_MAPPING_PAIRS,
                                            "MFT record %llu: mapping pairs of attribute 0x%x at "
                                            "%u are outside it", (unsigned long long) rec->recno,
                                            a.type, mp_off);
                a.mapping_pairs_offset = mp_off;
                (void) span_sub(&as, mp_off, a.length - mp_off, &a.mapping_pairs);
        }

        *cursor = pos + a.length;
        *ret = a;
        return 1;
}

bool ntfs_attr_name_is(const struct ntfs_attr *a, const char *ascii)
{
        size_t n = ascii ? strlen(ascii) : 0;

        if (a->name_length != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (get_le16(a->name.p + 2 * i) != (uint8_t) ascii[i])
                        return false;
        return true;
}

int ntfs_attr_find(const struct ntfs_record *rec, uint32_t type, const char *name,
                   uint64_t lowest_vcn, struct ntfs_attr *ret, struct vc_problems *problems)
{
        uint32_t cursor = 0;
        struct ntfs_attr a;
        int r;

        while ((r = ntfs_attr_next(rec, &cursor, &a, problems)) > 0) {
                if (a.type != type || !ntfs_attr_name_is(&a, name))
                        continue;
                if (lowest_vcn != UINT64_MAX && (!a.non_resident || a.lowest_vcn != lowest_vcn))
                        continue;
                *ret = a;
                return 1;
        }
        return r;
}

/* ---- streams ------------------------------------------------------------- */

struct list_entry {
        uint64_t vcn, mref;
        uint16_t id;
        uint64_t where;                 /* disk offset of the entry */
};

static int cmp_entry(const void *a, const void *b)
{
        const struct list_entry *x = a, *y = b;
        return x->vcn < y->vcn ? -1 : x->vcn > y->vcn;
}

/* Sizes and flags from the first extent (lowest VCN 0) of a stream. */
static int take_first_extent(struct ntfs_volume *v, const struct ntfs_record *rec,
                             const struct ntfs_attr *a, const char *what, struct ntfs_stream *s)
{
        struct vc_problems *problems = v->problems;

        s->flags = a->flags;
        s->attr_where = ntfs_attr_where(rec, a, 0);
        if (!a->non_resident) {
                s->resident = true;
                s->data_size = s->initialized_size = a->value.len;
                s->allocated_size = ROUND_UP((uint64_t) a->value.len, 8);
                s->data_size_where = ntfs_attr_where(rec, a, NTFS_ATTR_OFF_VALUE_LENGTH);
                s->value = malloc(a->value.len ? a->value.len : 1);
                if (!s->value)
                        return -ENOMEM;
                memcpy(s->value, a->value.p, a->value.len);
                return 0;
        }
        s->allocated_size = a->allocated_size;
        s->data_size = a->data_size;
        s->initialized_size = a->initialized_size;
        s->data_size_where = ntfs_attr_where(rec, a, NTFS_ATTR_OFF_DATA_SIZE);
        if (s->allocated_size % v->boot.cluster_size != 0)
                return ATTR_CORRUPT("allocated_size", a->offset + NTFS_ATTR_OFF_ALLOCATED_SIZE,
                                    "%s: allocated size %llu is not a multiple of the cluster "
                                    "size", what, (unsigned long long) s->allocated_size);
        if (s->data_size > s->allocated_size)
                return ATTR_CORRUPT("data_size", a->offset + NTFS_ATTR_OFF_DATA_SIZE,
                                    "%s: data size %llu exceeds the allocated size %llu", what,
                                    (unsigned long long) s->data_size,
                                    (unsigned long long) s->allocated_size);
        if (s->initialized_size > s->data_size)
                return ATTR_CORRUPT("initialized_size", a->offset + NTFS_ATTR_OFF_INITIALIZED_SIZE,
                                    "%s: initialized size %llu exceeds the data size %llu", what,
                                    (unsigned long long) s->initialized_size,
                                    (unsigned long long) s->data_size);
        return 0;
}

/* Appends the runs of one non-resident extent @a of @rec to @rl. */
static int add_extent(struct ntfs_volume *v, const struct ntfs_record *rec,
                      const struct ntfs_attr *a, const char *what, struct ntfs_runlist *rl)
{
        struct vc_problems *problems = v->problems;

        if (!a->non_resident)
                return ATTR_CORRUPT("non_resident", a->offset + NTFS_ATTR_OFF_NON_RESIDENT,
                                    "%s: extent at VCN > 0 is resident", what);
        if (a->lowest_vcn != ntfs_runlist_vcn_end(rl))
                return ATTR_CORRUPT("lowest_vcn", a->offset + NTFS_ATTR_OFF_LOWEST_VCN,
                                    "%s: extent in MFT record %llu starts at VCN %llu, the "
                                    "previous extents end at VCN %llu", what,
                                    (unsigned long long) rec->recno,
                                    (unsigned long long) a->lowest_vcn,
                                    (unsigned long long) ntfs_runlist_vcn_end(rl));
        return ntfs_runlist_decode(rl, &a->mapping_pairs, a->lowest_vcn, a->highest_vcn,
                                   v->boot.total_clusters,
                                   ntfs_attr_where(rec, a, a->mapping_pairs_offset), problems);
}

/* The stream's total: runs cover exactly allocated_size. */
static int check_total(struct ntfs_volume *v, const struct ntfs_stream *s,
                       const struct ntfs_runlist *rl, const char *what)
{
        uint64_t vcns = ntfs_runlist_vcn_end(rl), bytes;

        if (s->resident)
                return 0;
        if (MUL_OVERFLOW(vcns, (uint64_t) v->boot.cluster_size, &bytes) || bytes != s->allocated_size)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                      "ntfs.attr.allocated_size",
                                      s->data_size_where - NTFS_ATTR_OFF_DATA_SIZE +
                                              NTFS_ATTR_OFF_ALLOCATED_SIZE,
                                      "%s: runs cover %llu clusters but the allocated size is "
                                      "%llu bytes", what, (unsigned long long) vcns,
                                      (unsigned long long) s->allocated_size);
        return 0;
}

/* Reads the value of an $ATTRIBUTE_LIST (resident or not) into a buffer. */
static int read_attr_list(struct ntfs_volume *v, const struct ntfs_record *rec,
                          const struct ntfs_attr *al, uint8_t **ret_buf, size_t *ret_len,
                          uint64_t *ret_where)
{
        struct vc_problems *problems = v->problems;
        struct ntfs_stream ls = {};
        uint8_t *buf;
        int r;

        if (al->flags & (NTFS_ATTR_FLAG_COMPRESSED | NTFS_ATTR_FLAG_ENCRYPTED | NTFS_ATTR_FLAG_SPARSE))
                return ATTR_CORRUPT("flags", al->offset + NTFS_ATTR_OFF_FLAGS,
                                    "MFT record %llu: $ATTRIBUTE_LIST has flags 0x%04x",
                                    (unsigned long long) rec->recno, al->flags);
        if (!al->non_resident) {
                buf = malloc(al->value.len ? al->value.len : 1);
                if (!buf)
                        return -ENOMEM;
                memcpy(buf, al->value.p, al->value.len);
                *ret_buf = buf;
                *ret_len = al->value.len;
                *ret_where = ntfs_attr_where(rec, al, al->value_offset);
                return 0;
        }
        if (al->lowest_vcn != 0)
                return ATTR_CORRUPT("lowest_vcn", al->offset + NTFS_ATTR_OFF_LOWEST_VCN,
                                    "MFT record %llu: $ATTRIBUTE_LIST starts at VCN %llu",
                                    (unsigned long long) rec->recno,
                                    (unsigned long long) al->lowest_vcn);
        r = take_first_extent(v, rec, al, "$ATTRIBUTE_LIST", &ls);
        if (r < 0)
                goto out;
        if (ls.data_size > NTFS_MAX_ATTR_LIST_SIZE) {
                r = vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP,
                                   "ntfs.attr.data_size", ls.data_size_where,
                                   "MFT record %llu: $ATTRIBUTE_LIST of %llu bytes is above %u",
                                   (unsigned long long) rec->recno,
                                   (unsigned long long) ls.data_size, NTFS_MAX_ATTR_LIST_SIZE);
                goto out;
        }
        r = add_extent(v, rec, al, "$ATTRIBUTE_LIST", &ls.rl);
        if (r < 0)
                goto out;
        r = check_total(v, &ls, &ls.rl, "$ATTRIBUTE_LIST");
        if (r < 0)
                goto out;
        buf = malloc(ls.data_size ? ls.data_size : 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        r = ntfs_stream_pread(v, &ls, buf, ls.data_size, 0, "ntfs.attrlist.data");
        if (r < 0) {
                free(buf);
                goto out;
        }
        r = ntfs_volume_note_used(v, &ls.rl);
        if (r < 0) {
                free(buf);
                goto out;
        }
        *ret_buf = buf;
        *ret_len = ls.data_size;
        *ret_where = ls.rl.n && ls.rl.v[0].lcn != NTFS_LCN_HOLE ? ntfs_lcn_offset(v, ls.rl.v[0].lcn)
                                                                 : ls.attr_where;
out:
        ntfs_stream_done(&ls);
        return r;
}

#define AL_CORRUPT(field, where, ...) \
        vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "ntfs.attrlist." field, \
                       (where), __VA_ARGS__)

/*
 * The entries of list @buf for attribute @type named @name (NULL: any name).
 * With @by_vcn they are sorted by starting VCN and must start at VCN 0
 * without duplicates (the extents of one stream); otherwise they stay in
 * list order.
 */
static int list_entries(struct ntfs_volume *v, const uint8_t *buf, size_t len, uint64_t where,
                        uint32_t type, const char *name, bool by_vcn, const char *what,
                        struct list_entry **ret, size_t *ret_n)
{
        struct vc_problems *problems = v->problems;
        const struct span s = SPAN(buf, len);
        struct list_entry *e = NULL;
        size_t n = 0, namelen = name ? strlen(name) : 0;
        uint64_t pos = 0;

        while (pos < len) {
                uint32_t etype = 0;
                uint16_t elen = 0;
                uint8_t nlen = 0, noff = 0;
                struct span es = {};
                bool match;

                /* A (rare) list padded with zeros after the last entry ends here. */
                if (len - pos < NTFS_AL_ENTRY_MIN) {
                        free(e);
                        return AL_CORRUPT("entry_length", where + pos,
                                          "%s: attribute list entry at byte %llu is truncated",
                                          what, (unsigned long long) pos);
                }
                (void) span_get_le32(&s, pos + NTFS_AL_OFF_TYPE, &etype);
                (void) span_get_le16(&s, pos + NTFS_AL_OFF_LENGTH, &elen);
                (void) span_get_u8(&s, pos + NTFS_AL_OFF_NAME_LENGTH, &nlen);
                (void) span_get_u8(&s, pos + NTFS_AL_OFF_NAME_OFFSET, &noff);
                if (elen < NTFS_AL_ENTRY_MIN || span_sub(&s, pos, elen, &es) < 0) {
                        free(e);
                        return AL_CORRUPT("entry_length", where + pos + NTFS_AL_OFF_LENGTH,
                                          "%s: attribute list entry at byte %llu has length %u",
                                          what, (unsigned long long) pos, elen);
                }
                if (nlen && span_check(&es, noff, 2ull * nlen) < 0) {
                        free(e);
                        return AL_CORRUPT("name_offset", where + pos + NTFS_AL_OFF_NAME_OFFSET,
                                          "%s: name of attribute list entry at byte %llu is "
                                          "outside it", what, (unsigned long long) pos);
                }
                match = etype == type && (!name || nlen == namelen);
                for (size_t i = 0; match && name && i < namelen; i++)
                        if (get_le16(es.p + noff + 2 * i) != (uint8_t) name[i])
                                match = false;
                if (match) {
                        if (n >= NTFS_MAX_EXTENTS) {
                                free(e);
                                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED,
                                                      -EOPNOTSUPP, "ntfs.attrlist.entry_length",
                                                      where + pos, "%s has more than %u extents",
                                                      what, NTFS_MAX_EXTENTS);
                        }
                        if (n % 64 == 0) {
                                struct list_entry *ne = realloc(e, (n + 64) * sizeof *ne);
                                if (!ne) {
                                        free(e);
                                        return -ENOMEM;
                                }
                                e = ne;
                        }
                        e[n].where = where + pos;
                        (void) span_get_le64(&es, NTFS_AL_OFF_START_VCN, &e[n].vcn);
                        (void) span_get_le64(&es, NTFS_AL_OFF_MREF, &e[n].mref);
                        (void) span_get_le16(&es, NTFS_AL_OFF_ATTR_ID, &e[n].id);
                        n++;
                }
                pos += elen;
        }

        if (!by_vcn)
                goto done;
        if (n > 1)
                qsort(e, n, sizeof *e, cmp_entry);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 && e[0].vcn != 0) {
                        uint64_t w = e[0].where + NTFS_AL_OFF_START_VCN;
                        uint64_t vcn = e[0].vcn;
                        free(e);
                        return AL_CORRUPT("start_vcn", w, "%s: first extent in the attribute "
                                          "list starts at VCN %llu, not 0", what,
                                          (unsigned long long) vcn);
                }
                if (i > 0 && e[i].vcn == e[i - 1].vcn) {
                        uint64_t w = e[i].where + NTFS_AL_OFF_START_VCN;
                        uint64_t vcn = e[i].vcn;
                        free(e);
                        return AL_CORRUPT("start_vcn", w, "%s: two attribute list entries "
                                          "claim VCN %llu", what, (unsigned long long) vcn);
                }
        }
done:
        *ret = e;
        *ret_n = n;
        return 0;
}

/*
 * The record an attribute list entry points to: @base itself, or an
 * extension record read into @ext, which must be in use, name @base (number
 * and sequence) as its base record, and hold no attribute list of its own.
 * The entry's sequence number must match the record's.
 */
static int entry_record(struct ntfs_volume *v, const struct ntfs_record *base,
                        const struct list_entry *e, struct ntfs_record *ext, const char *what,
                        const struct ntfs_record **ret)
{
        struct vc_problems *problems = v->problems;
        uint64_t recno = NTFS_MREF_RECORD(e->mref);
        uint16_t seq = NTFS_MREF_SEQ(e->mref);
        const struct ntfs_record *rec = base;
        struct ntfs_attr al;
        int r;

        if (recno != base->recno) {
                r = ntfs_mft_read(v, recno, ext);
                if (r < 0)
                        return r;
                rec = ext;
                if (!(ext->flags & NTFS_MFT_FLAG_IN_USE) ||
                    NTFS_MREF_RECORD(ext->base_ref) != base->recno ||
                    NTFS_MREF_SEQ(ext->base_ref) != base->seq)
                        return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                              "ntfs.mft.base_record",
                                              ntfs_block_where(&ext->blk, NTFS_MFT_OFF_BASE_REF),
                                              "%s: extension record %llu %s (base reference "
                                              "%llu/%u, expected %llu/%u)", what,
                                              (unsigned long long) recno,
                                              ext->flags & NTFS_MFT_FLAG_IN_USE
                                                      ? "belongs to another file"
                                                      : "is not in use",
                                              (unsigned long long) NTFS_MREF_RECORD(ext->base_ref),
                                              NTFS_MREF_SEQ(ext->base_ref),
                                              (unsigned long long) base->recno, base->seq);
                r = ntfs_attr_find(ext, NTFS_AT_ATTRIBUTE_LIST, "", UINT64_MAX, &al, problems);
                if (r < 0)
                        return r;
                if (r > 0)
                        return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                              "ntfs.attr.type", ntfs_attr_where(ext, &al, 0),
                                              "%s: extension record %llu holds an attribute "
                                              "list of its own", what, (unsigned long long) recno);
        }
        if (seq != rec->seq)
                return AL_CORRUPT("mft_reference", e->where + NTFS_AL_OFF_MREF,
                                  "%s: attribute list entry names record %llu sequence %u, the "
                                  "record has sequence %u", what, (unsigned long long) recno, seq,
                                  rec->seq);
        *ret = rec;
        return 0;
}

/* The attribute (@type, @name or any name if NULL, the entry's id) an
 * attribute list entry points to. */
static int entry_attr(struct ntfs_volume *v, const struct ntfs_record *base,
                      const struct list_entry *e, uint32_t type, const char *name,
                      struct ntfs_record *ext, const char *what,
                      const struct ntfs_record **ret_rec, struct ntfs_attr *ret)
{
        struct vc_problems *problems = v->problems;
        const struct ntfs_record *rec = NULL;
        uint32_t cursor = 0;
        struct ntfs_attr a;
        int r;

        r = entry_record(v, base, e, ext, what, &rec);
        if (r < 0)
                return r;
        while ((r = ntfs_attr_next(rec, &cursor, &a, problems)) > 0)
                if (a.type == type && a.id == e->id && (!name || ntfs_attr_name_is(&a, name))) {
                        *ret_rec = rec;
                        *ret = a;
                        return 0;
                }
        if (r < 0)
                return r;
        return AL_CORRUPT("mft_reference", e->where + NTFS_AL_OFF_MREF,
                          "%s: MFT record %llu has no attribute 0x%x with id %u (VCN %llu)", what,
                          (unsigned long long) rec->recno, type, e->id,
                          (unsigned long long) e->vcn);
}

int ntfs_file_for_each(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                       const char *what, ntfs_attr_cb cb, void *ctx)
{
        struct vc_problems *problems = v->problems;
        struct ntfs_record *ext = NULL;
        struct list_entry *e = NULL;
        uint8_t *list = NULL;
        size_t n = 0, list_len = 0;
        uint64_t list_where = 0;
        uint32_t cursor = 0;
        struct ntfs_attr a, al;
        int r;

        r = ntfs_attr_find(base, NTFS_AT_ATTRIBUTE_LIST, "", UINT64_MAX, &al, problems);
        if (r < 0)
                return r;
        if (r == 0) {
                while ((r = ntfs_attr_next(base, &cursor, &a, problems)) > 0) {
                        if (a.type != type)
                                continue;
                        r = cb(ctx, base, &a);
                        if (r != 0)
                                return r;
                }
                return r;
        }
        r = read_attr_list(v, base, &al, &list, &list_len, &list_where);
        if (r < 0)
                goto out;
        r = list_entries(v, list, list_len, list_where, type, NULL, false, what, &e, &n);
        if (r < 0)
                goto out;
        ext = malloc(sizeof *ext);
        if (!ext) {
                r = -ENOMEM;
                goto out;
        }
        r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                const struct ntfs_record *rec;

                r = entry_attr(v, base, &e[i], type, NULL, ext, what, &rec, &a);
                if (r == 0)
                        r = cb(ctx, rec, &a);
        }
out:
        free(ext);
        free(e);
        free(list);
        return r;
}

struct find_ctx {
        const char *name;
        struct ntfs_record *keep;       /* where a found attribute in an extension is kept */
        const struct ntfs_record *rec;
        struct ntfs_attr a;
};

static int find_cb(void *userdata, const struct ntfs_record *rec, const struct ntfs_attr *a)
{
        struct find_ctx *c = userdata;

        if (!ntfs_attr_name_is(a, c->name) || (a->non_resident && a->lowest_vcn != 0))
                return 0;
        c->a = *a;
        c->rec = rec;
        return 1;
}

int ntfs_file_find_attr(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                        const char *name, struct ntfs_record *keep,
                        const struct ntfs_record **ret_rec, struct ntfs_attr *ret)
{
        struct find_ctx c = { .name = name, .keep = keep };
        int r = ntfs_file_for_each(v, base, type, name, find_cb, &c);

        if (r <= 0)
                return r;
        if (c.rec != base) {
                /* The extension buffer of the walk is gone: keep a copy and
                 * re-point the attribute's spans into it. */
                const uint8_t *old = c.rec->buf;
                ptrdiff_t d;

                memcpy(keep, c.rec, sizeof *keep);
                keep->blk.p = keep->buf;
                d = keep->buf - old;
                c.a.name.p = c.a.name.p ? c.a.name.p + d : NULL;
                c.a.value.p = c.a.value.p ? c.a.value.p + d : NULL;
                c.a.mapping_pairs.p = c.a.mapping_pairs.p ? c.a.mapping_pairs.p + d : NULL;
                c.rec = keep;
        }
        *ret_rec = c.rec;
        *ret = c.a;
        return 1;
}

struct name_ctx {
        const char *name;
        uint64_t parent;
        const char *field;
        struct vc_problems *problems;
        bool seen;
        uint64_t where;
};

static int name_cb(void *userdata, const struct ntfs_record *rec, const struct ntfs_attr *a)
{
        struct name_ctx *c = userdata;
        size_t n = strlen(c->name);
        uint8_t len = 0;
        uint64_t par = 0;

        if (a->non_resident)
                return 0;
        if (!c->seen)
                c->where = ntfs_attr_where(rec, a, a->value_offset + NTFS_FN_OFF_NAME);
        c->seen = true;
        if (span_get_u8(&a->value, NTFS_FN_OFF_NAME_LENGTH, &len) < 0 ||
            span_check(&a->value, NTFS_FN_OFF_NAME, 2ull * len) < 0)
                return vc_problem_add(c->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, c->field,
                                      ntfs_attr_where(rec, a, a->value_offset),
                                      "MFT record %llu: $FILE_NAME value is truncated",
                                      (unsigned long long) rec->recno);
        (void) span_get_le64(&a->value, NTFS_FN_OFF_PARENT, &par);
        if (len != n || NTFS_MREF_RECORD(par) != c->parent)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (get_le16(a->value.p + NTFS_FN_OFF_NAME + 2 * i) != (uint8_t) c->name[i])
                        return 0;
        return 1;
}

int ntfs_record_check_name(struct ntfs_volume *v, const struct ntfs_record *rec, const char *name,
                           uint64_t parent, const char *field)
{
        struct name_ctx c = {
                .name = name, .parent = parent, .field = field, .problems = v->problems,
                .where = ntfs_block_where(&rec->blk, rec->attrs_offset),
        };
        int r = ntfs_file_for_each(v, rec, NTFS_AT_FILE_NAME, name, name_cb, &c);

        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field, c.where,
                              "MFT record %llu is not named '%s' in directory %llu%s",
                              (unsigned long long) rec->recno, name, (unsigned long long) parent,
                              c.seen ? "" : " (it has no $FILE_NAME)");
}

int ntfs_stream_open(struct ntfs_volume *v, const struct ntfs_record *base, uint32_t type,
                     const char *name, const char *what, struct ntfs_runlist *rl_target,
                     struct ntfs_stream *ret)
{
        struct vc_problems *problems = v->problems;
        struct ntfs_stream s = {};
        struct ntfs_runlist *rl = rl_target ? rl_target : &s.rl;
        const size_t rl_n0 = rl->n;
        struct ntfs_record *ext = NULL;
        struct list_entry *e = NULL;
        uint8_t *list = NULL;
        size_t n = 0, list_len = 0;
        uint64_t list_where = 0;
        struct ntfs_attr a, al;
        int r;

        r = ntfs_attr_find(base, NTFS_AT_ATTRIBUTE_LIST, "", UINT64_MAX, &al, problems);
        if (r < 0)
                goto out;
        if (r == 0) {
                /* Everything is in the base record: one extent. */
                r = ntfs_attr_find(base, type, name, UINT64_MAX, &a, problems);
                if (r <= 0)
                        goto out;
                if (a.non_resident && a.lowest_vcn != 0) {
                        r = vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG,
                                           "ntfs.attr.lowest_vcn",
                                           ntfs_attr_where(base, &a, NTFS_ATTR_OFF_LOWEST_VCN),
                                           "%s: only extent starts at VCN %llu and there is no "
                                           "attribute list", what,
                                           (unsigned long long) a.lowest_vcn);
                        goto out;
                }
                r = take_first_extent(v, base, &a, what, &s);
                if (r < 0)
                        goto out;
                if (a.non_resident && rl == &v->mft_rl)
                        v->mft_valid = s.initialized_size;
                if (a.non_resident) {
                        r = add_extent(v, base, &a, what, rl);
                        if (r < 0)
                                goto out;
                }
                s.extents = 1;
        } else {
                r = read_attr_list(v, base, &al, &list, &list_len, &list_where);
                if (r < 0)
                        goto out;
                r = list_entries(v, list, list_len, list_where, type, name, true, what, &e, &n);
                if (r < 0)
                        goto out;
                if (n == 0) {
                        r = 0;
                        goto out;
                }
                ext = malloc(sizeof *ext);
                if (!ext) {
                        r = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        uint64_t recno = NTFS_MREF_RECORD(e[i].mref);
                        const struct ntfs_record *rec = base;

                        r = entry_attr(v, base, &e[i], type, name, ext, what, &rec, &a);
                        if (r < 0)
                                goto out;
                        if (i == 0) {
                                if (!a.non_resident && n > 1) {
                                        r = AL_CORRUPT("start_vcn", e[1].where + NTFS_AL_OFF_START_VCN,
                                                       "%s: resident stream has more than one "
                                                       "extent", what);
                                        goto out;
                                }
                                r = take_first_extent(v, rec, &a, what, &s);
                                if (r < 0)
                                        goto out;
                                if (a.non_resident && rl == &v->mft_rl)
                                        v->mft_valid = s.initialized_size;
                                if (!a.non_resident)
                                        break;
                        }
                        if (a.lowest_vcn != e[i].vcn) {
                                r = AL_CORRUPT("start_vcn", e[i].where + NTFS_AL_OFF_START_VCN,
                                               "%s: attribute list says VCN %llu, the extent in "
                                               "record %llu starts at VCN %llu", what,
                                               (unsigned long long) e[i].vcn,
                                               (unsigned long long) recno,
                                               (unsigned long long) a.lowest_vcn);
                                goto out;
                        }
                        r = add_extent(v, rec, &a, what, rl);
                        if (r < 0)
                                goto out;
                        s.extents++;
                }
                if (s.extents == 0)
                        s.extents = 1;
        }

        r = check_total(v, &s, rl, what);
        if (r < 0)
                goto out;
        *ret = s;
        s = (struct ntfs_stream) {};
        r = 1;
out:
        if (r <= 0 && rl_target)
                ntfs_runlist_truncate(rl_target, rl_n0);
        ntfs_stream_done(&s);
        free(ext);
        free(e);
        free(list);
        return r;
}

void ntfs_stream_done(struct ntfs_stream *s)
{
        free(s->value);
        ntfs_runlist_done(&s->rl);
        *s = (struct ntfs_stream) {};
}

int ntfs_stream_pread(struct ntfs_volume *v, const struct ntfs_stream *s, void *buf,
                      size_t count, uint64_t pos, const char *field)
{
        const uint32_t shift = v->boot.cluster_shift;
        uint8_t *out = buf;
        uint64_t end;

        if (ADD_OVERFLOW(pos, (uint64_t) count, &end) || end > s->data_size)
                return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field,
                                      s->data_size_where,
                                      "reading %zu bytes at %llu goes past the data size %llu",
                                      count, (unsigned long long) pos,
                                      (unsigned long long) s->data_size);
        if (s->resident) {
                memcpy(out, s->value + pos, count);
                return 0;
        }
        while (count > 0) {
                const struct ntfs_run *run;
                uint64_t vcn = pos >> shift, run_end, piece;

                if (pos >= s->initialized_size) {
                        memset(out, 0, count);
                        return 0;
                }
                run = ntfs_runlist_lookup(&s->rl, vcn);
                if (!run)
                        return vc_problem_add(v->problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, field,
                                              s->attr_where, "byte %llu (VCN %llu) is not mapped",
                                              (unsigned long long) pos, (unsigned long long) vcn);
                run_end = (run->vcn + run->len) << shift;
                piece = MIN(MIN(run_end, s->initialized_size) - pos, (uint64_t) count);
                if (run->lcn == NTFS_LCN_HOLE)
                        memset(out, 0, piece);
                else {
                        int r = ntfs_read(v, out, piece,
                                          ntfs_lcn_offset(v, run->lcn) + (pos - (run->vcn << shift)),
                                          field);
                        if (r < 0)
                                return r;
                }
                out += piece;
                pos += piece;
                count -= piece;
        }
        return 0;
}
