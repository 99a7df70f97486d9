/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finishing an interrupted compaction on open (issue 17 item 3; Windows:
 * "re-opening a virtual disk file that has been interrupted may result in
 * the reduction of a virtual disk file's size").
 *
 * A compaction cuts the file last (lib/compact/move.h, step 4): stopped
 * before the cut, it leaves a valid image followed by space nothing
 * references (moved blocks' sources, dropped blocks; for VHD also the
 * footer already written at the new end, the old one still at the end of
 * the file).  An image opened read-write under our exclusive lock gives
 * that space back here, in the order of step 4, so that every instant is
 * as safe as the compaction's own:
 *
 *   1. tail_end: the format says where the file may end, from everything
 *      it uses (compaction's layout, and more: VHDX's soft anchors).  A
 *      file the format cannot fully account for is left as it is (a VHDX
 *      whose size is no whole number of MiB was not left so by us).
 *   2. tail_prepare: what the shorter file relies on (VHD: its footer at
 *      the new end, only when not there already; VHDX: a new
 *      FileWriteGuid and no log named, in both header slots); fdatasync;
 *      "finish: tail prepared".
 *   3. ftruncate; "finish: truncated"; fsync; "finish: synced".
 *
 * A crash before 3 leaves the file as long as before and valid (VHD: a
 * second footer in unreferenced space; VHDX: complete header updates);
 * after 3, the file is the one an uninterrupted compaction gives.  The
 * writes go through pwrite_full/vc_sync/vc_ftruncate, so the power-cut
 * log and the fault points (lib/util/fault.h) see them all.  A read-only
 * open, an open without our lock (VC_OPEN_NOLOCK: someone else may be
 * reading the file's layout) and the compaction itself (VC_OPEN_NOFINISH:
 * its own step 4 cuts the same space, and its report counts it) never
 * come here.  Only regular files are cut.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "../util/fault.h"
#include "../util/log.h"
#include "image.h"

int vc_image_finish_tail(struct vc_image *img, struct vc_problems *problems)
{
        const struct vc_compact_ops *ops = vc_image_format(img)->compact;
        int fd = vc_image_fd(img);
        uint64_t end = 0, size = vc_image_file_size(img);
        struct stat st;
        int r;

        if (vc_image_is_readonly(img) || !ops || !ops->tail_end || !ops->tail_prepare)
                return 0;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != size)
                return 0;
        r = ops->tail_end(img, &end);
        if (r < 0 || end == 0 || end >= size)
                return 0;
        vc_debug("%s: %" PRIu64 " bytes of unreferenced space after %" PRIu64 " (an interrupted compaction): "
                 "cutting it", vc_image_path(img), size - end, end);

        r = ops->tail_prepare(img, end, problems);
        if (r < 0)
                return r;
        r = vc_io_fault(VC_IO_SYNC, NULL);
        if (r == 0)
                r = vc_sync(fd, false, "finish: tail prepared");
        if (r < 0)
                return vc_problem_step_failed(problems, r, 0, "finishing an interrupted compaction: fdatasync");
        vc_fault_point("finish: tail prepared");
        r = vc_io_fault(VC_IO_TRUNCATE, NULL);
        if (r == 0)
                r = vc_ftruncate(fd, end);
        if (r < 0)
                return vc_problem_step_failed(problems, r, end,
                                              "finishing an interrupted compaction: ftruncate to %" PRIu64 " bytes",
                                              end);
        vc_fault_point("finish: truncated");
        r = vc_io_fault(VC_IO_SYNC, NULL);
        if (r == 0)
                r = vc_sync(fd, true, "finish: synced");
        if (r < 0)
                return vc_problem_step_failed(problems, r, 0, "finishing an interrupted compaction: fsync");
        vc_fault_point("finish: synced");
        return 1;
}
