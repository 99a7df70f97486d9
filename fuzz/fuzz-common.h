/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the libFuzzer targets in this folder.
 *
 * Design note: a target feeds the parsers exactly the bytes a hostile disk
 * could hold, through the same entry points production uses (a memory
 * source for the partition and NTFS scanners, a descriptor for lib/vhd).
 * Two things are bent on purpose, and only in the harness:
 *   - checksums and CRCs are recomputed over the input before parsing
 *     (fuzz_vhd_fix_checksums, the GPT target), or the fuzzer would almost
 *     never get past them; the checks themselves are covered by the unit
 *     tests' corruption tables;
 *   - invariants the callers rely on are checked after every successful
 *     parse and a violation calls abort(), which libFuzzer reports as a
 *     crash, the same as a sanitizer report.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/endian.h"
#include "vhd/format.h"
#include "vhd/vhd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() with the reason: a broken invariant is a crash like any other. */
#define FUZZ_CHECK(x)                                                               \
        do {                                                                        \
                if (!(x)) {                                                         \
                        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,   \
                                __LINE__, #x);                                      \
                        abort();                                                    \
                }                                                                   \
        } while (0)

/* A small deterministic generator for choices derived from the input. */
static inline uint64_t fuzz_rnd(uint64_t *state)
{
        uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return *state = x;
}

/* A memfd holding @size bytes of @data, positioned at 0; -errno on failure. */
static inline int fuzz_memfd(const char *name, const uint8_t *data, size_t size)
{
        int fd = memfd_create(name, MFD_CLOEXEC);
        size_t done = 0;

        if (fd < 0)
                return -errno;
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);
                if (n <= 0) {
                        close(fd);
                        return -EIO;
                }
                done += (size_t) n;
        }
        return fd;
}

/*
 * Recomputes the checksums a VHD parser checks: the end footer, the copy
 * at offset 0, and the dynamic header at the footer's data offset when it
 * lies inside the buffer.  Only the checksum fields are written.
 */
static inline void fuzz_vhd_fix_checksums(uint8_t *buf, size_t size)
{
        uint8_t *end;
        uint64_t hdr;

        if (size < VHD_FOOTER_SIZE)
                return;
        end = buf + size - VHD_FOOTER_SIZE;
        vhd_footer_set_checksum(end);
        if (size >= 2 * VHD_FOOTER_SIZE)
                vhd_footer_set_checksum(buf);
        hdr = get_be64(end + VHD_FOOTER_OFF_DATA_OFFSET);
        if (hdr <= size && size - hdr >= VHD_DYN_SIZE)
                vhd_dyn_header_set_checksum(buf + hdr);
        /* The copy at 0 may name another header than the end footer does. */
        hdr = get_be64(buf + VHD_FOOTER_OFF_DATA_OFFSET);
        if (size >= 2 * VHD_FOOTER_SIZE && hdr <= size && size - hdr >= VHD_DYN_SIZE)
                vhd_dyn_header_set_checksum(buf + hdr);
}
