/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "tests.h"
#include "vhdx-expect.h"
#include "vhdx/vhdx.h"

int vxe_read_image(void *h, void *buf, size_t len, uint64_t off) { return vc_image_pread(h, buf, len, off); }
int vxe_read_vhdx(void *h, void *buf, size_t len, uint64_t off) { return vhdx_image_pread(h, buf, len, off); }

void vxe_assert_range(struct vxb_image *x, enum vxb_view view, vxe_read_fn rd, void *h, uint64_t off, size_t len,
                      const char *what)
{
        uint8_t *got = malloc(len ? len : 1), *want = malloc(len ? len : 1);
        int r;

        ASSERT_TRUE(got && want);
        r = rd(h, got, len, off);
        if (r < 0)
                TEST_FAIL("%s: reading %zu bytes at %llu: %s", what, len, (unsigned long long) off, strerror(-r));
        vxb_expected_read(x, view, off, want, len);
        if (memcmp(got, want, len)) {
                size_t i = 0;
                while (got[i] == want[i])
                        i++;
                TEST_FAIL("%s: the read at %llu (+%zu) differs from the builder's: got %02x, want %02x", what,
                          (unsigned long long) off, i, got[i], want[i]);
        }
        free(got);
        free(want);
}

void vxe_assert_disk(struct vxb_image *x, enum vxb_view view, vxe_read_fn rd, void *h, bool sample,
                     const char *what)
{
        const uint64_t vsize = x->p.virtual_size, step = VXB_MIB;

        for (uint64_t off = 0; off < vsize; off += !sample || off < 16 * VXB_MIB ? step : vsize / 7 + step)
                vxe_assert_range(x, view, rd, h, off, (size_t) (vsize - off < step ? vsize - off : step), what);
}
