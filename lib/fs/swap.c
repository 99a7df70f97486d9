/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Linux swap areas (FS-AWARE.md §3.1): a "SWAPSPACE2" area holds nothing
 * worth keeping once its guest is off, except its header page and the
 * pages it lists as bad.
 *
 * Design note: swap has no on-disk "in use" flag.  A running guest, or a
 * saved VM whose RAM references swap pages, loses them when we drop them.
 * So the pages are granted only when the caller says the disk provably is
 * not running (vc_fs_scan_opts.offline: it holds the image's exclusive
 * lock and the saved-state flag is clear, which is what a compaction
 * checked before it scans).  Otherwise the area is reported "not clean"
 * and counted as in use; force-dirty is the user's explicit word that the
 * guest is off.  A hibernation image (S1SUSPEND, ULSUSPEND, ...), the old
 * v0 format, a header of another byte order or any field out of bounds is
 * refused: all in use, force or not, since a resume image is the guest's
 * RAM.
 *
 * Only 4 KiB pages are recognised: the probe sees the volume's first
 * VC_FS_PROBE_SIZE bytes, and the signature of a larger page lies beyond
 * them.  An area of another page size is not named, hence all in use.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../util/endian.h"
#include "../util/macro.h"
#include "fs.h"

#define SWAP_PAGE 4096u
#define SWAP_MAGIC_LEN 10u
#define SWAP_MAGIC_OFF (SWAP_PAGE - SWAP_MAGIC_LEN)
#define SWAP_OFF_VERSION 0x400u
#define SWAP_OFF_LAST_PAGE 0x404u
#define SWAP_OFF_NR_BAD 0x408u
#define SWAP_OFF_LABEL 0x41Cu
#define SWAP_LABEL_LEN 16u
#define SWAP_OFF_BADPAGES 0x600u
#define SWAP_MAX_BAD ((SWAP_PAGE - SWAP_OFF_BADPAGES) / 4u)

/* Below a signature: a string outside sector 0 never makes the partition
 * reader doubt a table, yet it names and scans a whole-disk area. */
#define SCORE_SWAP (VC_FS_PROBE_SIGNATURE - 1)

/* What may sit where the signature goes; everything but SWAPSPACE2 keeps
 * the whole area. */
static const char *const hibernation_magic[] = {
        "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001", "SWAP-SPACE",
};

static bool magic_is(const uint8_t *p, const char *m)
{
        return memcmp(p, m, strlen(m)) == 0;
}

static int swap_probe(const struct span *head, uint64_t size, struct vc_fs_evidence *ret)
{
        if (span_check(head, SWAP_MAGIC_OFF, SWAP_MAGIC_LEN) < 0)
                return VC_FS_PROBE_NO;
        const uint8_t *m = head->p + SWAP_MAGIC_OFF;
        bool known = magic_is(m, "SWAPSPACE2");

        for (size_t i = 0; !known && i < ELEMENTSOF(hibernation_magic); i++)
                known = magic_is(m, hibernation_magic[i]);
        if (!known)
                return VC_FS_PROBE_NO;
        *ret = (struct vc_fs_evidence) { .offset = SWAP_MAGIC_OFF, .field = "swap.magic" };
        return SCORE_SWAP;
}

static void copy_label(char out[128], const uint8_t *p)
{
        size_t n = 0;

        /* Untrusted: printable ASCII only, up to the first NUL. */
        for (size_t i = 0; i < SWAP_LABEL_LEN && p[i]; i++)
                out[n++] = p[i] >= 0x20 && p[i] < 0x7F ? (char) p[i] : '?';
        out[n] = '\0';
}

static int swap_scan(struct vc_source *src, uint64_t start, uint64_t size,
                     const struct vc_fs_scan_opts *opts, struct vc_freemap *free_out,
                     struct vc_fs_info *ret_info, void *ret_detail, struct vc_problems *problems)
{
        uint8_t hdr[SWAP_PAGE];
        struct vc_fs_info info = { .cluster_size = SWAP_PAGE };
        uint32_t version, last_page, nr_bad;
        uint64_t limit, pages, free_pages = 0;
        int r;

        if (start >= src->size || src->size - start < SWAP_PAGE || size < SWAP_PAGE)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "swap.header", start,
                                      "swap area at %llu is smaller than its header page",
                                      (unsigned long long) start);
        limit = MIN(size, src->size - start);
        r = vc_source_pread(src, hdr, sizeof hdr, start);
        if (r < 0)
                return vc_problem_add(problems, VC_PROBLEM_IO, r, "swap.header", start,
                                      "reading the swap header: %s", strerror(-r));

        if (!magic_is(hdr + SWAP_MAGIC_OFF, "SWAPSPACE2"))
                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "swap.magic",
                                      start + SWAP_MAGIC_OFF,
                                      "the swap area holds a hibernation image or an old format "
                                      "('%.9s'): counted as in use", (const char *) hdr + SWAP_MAGIC_OFF);
        version = get_le32(hdr + SWAP_OFF_VERSION);
        last_page = get_le32(hdr + SWAP_OFF_LAST_PAGE);
        nr_bad = get_le32(hdr + SWAP_OFF_NR_BAD);
        if (version != 1)
                return vc_problem_add(problems, VC_PROBLEM_FS_UNSUPPORTED, -EOPNOTSUPP, "swap.version",
                                      start + SWAP_OFF_VERSION,
                                      "swap header version %u (or another byte order), not 1", version);
        if (last_page < 1)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "swap.last_page",
                                      start + SWAP_OFF_LAST_PAGE, "swap area's last page is %u", last_page);
        if (nr_bad > SWAP_MAX_BAD)
                return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "swap.nr_badpages",
                                      start + SWAP_OFF_NR_BAD, "%u bad pages listed, at most %u fit",
                                      nr_bad, SWAP_MAX_BAD);
        for (uint32_t i = 0; i < nr_bad; i++) {
                uint32_t bad = get_le32(hdr + SWAP_OFF_BADPAGES + 4u * i);
                if (bad < 1 || bad > last_page)
                        return vc_problem_add(problems, VC_PROBLEM_FS_CORRUPT, -EBADMSG, "swap.badpages",
                                              start + SWAP_OFF_BADPAGES + 4u * i,
                                              "bad page %u is outside the area (1..%u)", bad, last_page);
        }

        /* Pages past the volume are not there: clip (the kernel does too). */
        pages = MIN((uint64_t) last_page + 1, limit / SWAP_PAGE);
        info.total_clusters = pages;
        copy_label(info.label, hdr + SWAP_OFF_LABEL);
        info.clean = opts->offline;
        if (!info.clean) {
                snprintf(info.not_clean_reason, sizeof info.not_clean_reason,
                         "swap space is free only while the disk is held exclusively "
                         "(a compaction), not while a guest may use it");
                if (!opts->force_dirty) {
                        vc_problem_add(problems, VC_PROBLEM_FS_DIRTY, -EUCLEAN, "swap", start, "%s",
                                       info.not_clean_reason);
                        *ret_info = info;
                        return 0;
                }
        }

        /* Pages 1..pages-1, less the bad ones: at most 634 of them, so the
         * next one is found by a scan of the list each time. */
        uint8_t is_bad_seen[SWAP_MAX_BAD] = {};
        uint64_t run = 1;
        for (;;) {
                uint64_t next = pages;  /* first bad page at or after run */
                size_t which = SIZE_MAX;

                for (uint32_t i = 0; i < nr_bad; i++) {
                        uint32_t bad = get_le32(hdr + SWAP_OFF_BADPAGES + 4u * i);
                        if (!is_bad_seen[i] && bad >= run && bad < next) {
                                next = bad;
                                which = i;
                        }
                }
                if (next > run) {
                        r = freemap_add(free_out, start + run * SWAP_PAGE, (next - run) * SWAP_PAGE);
                        if (r < 0)
                                return r;
                        free_pages += next - run;
                }
                if (which == SIZE_MAX)
                        break;
                is_bad_seen[which] = 1;
                run = next + 1;
                /* Duplicates of the same page: skip them too. */
                for (uint32_t i = 0; i < nr_bad; i++)
                        if (get_le32(hdr + SWAP_OFF_BADPAGES + 4u * i) == next)
                                is_bad_seen[i] = 1;
        }
        info.free_clusters = free_pages;
        *ret_info = info;
        return 0;
}

const struct vc_fs_type vc_fs_swap = {
        .name = "swap",
        .probe = swap_probe,
        .scan = swap_scan,
};
