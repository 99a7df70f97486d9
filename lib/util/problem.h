/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Problems found in on-disk structures.  A validator reports each problem
 * with a stable id, the field it concerns and the byte offset of that field
 * in the file, so that every refusal can name "what and where".  A problem
 * list either stops at the first problem (open, compaction) or collects
 * them all (`vhdctl check`).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

enum vc_problem_id {
        VC_PROBLEM_IO,                  /* the bytes could not be read */
        VC_PROBLEM_TOO_SMALL,           /* file shorter than any VHD */
        VC_PROBLEM_BAD_COOKIE,
        VC_PROBLEM_BAD_CHECKSUM,
        VC_PROBLEM_BAD_VERSION,
        VC_PROBLEM_BAD_FEATURES,
        VC_PROBLEM_BAD_DISK_TYPE,
        VC_PROBLEM_BAD_SIZE,
        VC_PROBLEM_BAD_DATA_OFFSET,
        VC_PROBLEM_FOOTER_MISMATCH,     /* end footer differs from the copy at 0 */
        VC_PROBLEM_BAD_TABLE_OFFSET,
        VC_PROBLEM_BAD_BLOCK_SIZE,
        VC_PROBLEM_BAD_MAX_ENTRIES,
        VC_PROBLEM_BAT_OUT_OF_FILE,     /* block extends past the footer */
        VC_PROBLEM_BAT_OVERLAP,         /* two blocks, or a block and metadata */
        VC_PROBLEM_BAD_LOCATOR,
        VC_PROBLEM_PARENT_NOT_FOUND,
        VC_PROBLEM_PARENT_MISMATCH,     /* parent unique id differs */
        VC_PROBLEM_PARENT_LOOP,
        VC_PROBLEM_NOT_SUPPORTED,
        VC_PROBLEM_SAVED_STATE,
        VC_PROBLEM_IN_USE,
        VC_PROBLEM_ACCESS_DENIED,       /* no permission to open it as needed */
        VC_PROBLEM_CHANGED,             /* changed by another writer during the run */
        VC_PROBLEM_NO_SPACE,            /* the host file system cannot hold the moves */
        /* Inside the virtual disk: partition tables and file systems.  For
         * these, offset is a byte offset of the *virtual disk*. */
        VC_PROBLEM_PART_TABLE,          /* partition table damaged or inconsistent */
        VC_PROBLEM_FS_CORRUPT,          /* file-system structure fails validation */
        VC_PROBLEM_FS_UNSUPPORTED,      /* valid but not understood: treated as in use */
        VC_PROBLEM_FS_DIRTY,            /* not cleanly shut down / hibernated */
        VC_PROBLEM_TRUNCATED,           /* cut short by another program during the run */
        /* VHDX structures (the ids above serve VHDX too where they fit:
         * signatures are bad-cookie, CRC-32C bad-checksum, blocks
         * block-outside-file and block-overlap). */
        VC_PROBLEM_HEADER_MISMATCH,     /* two valid headers, one sequence number */
        VC_PROBLEM_BAD_LOG,             /* log offset, length or GUID impossible */
        VC_PROBLEM_LOG_REPLAY_NEEDED,   /* the log is not empty */
        VC_PROBLEM_BAD_REGION_TABLE,
        VC_PROBLEM_BAD_METADATA,
        VC_PROBLEM_UNKNOWN_REQUIRED,    /* a region or metadata item we must understand */
        VC_PROBLEM_INCOMPLETE_FILE,     /* creation never finished */
        VC_PROBLEM_BAD_BLOCK_STATE,     /* reserved state or bits of a BAT entry */
        VC_PROBLEM_BAD_LOG_DESCRIPTOR,  /* a log entry would write where it must not */
        VC_PROBLEM_BAD_HEADER,          /* a VHDX header's reserved bytes are set */
        VC_PROBLEM_NO_PUNCH,            /* no-block-moves on a file system that cannot punch holes */
        VC_PROBLEM_HAS_CHILDREN,        /* a differencing child found: file-system drops refused */
        _VC_PROBLEM_MAX,
        _VC_PROBLEM_INVALID = -22,
};

const char *vc_problem_id_to_string(enum vc_problem_id id) _pure_;

struct vc_problem {
        enum vc_problem_id id;
        int error;              /* negative errno the caller should return */
        const char *field;      /* static string, e.g. "footer.checksum" */
        uint64_t offset;        /* byte offset of the field in the file */
        char message[256];      /* one human sentence, without the file name */
};

/*
 * A sink for problems.  With collect == false the first problem is kept and
 * validators stop; with collect == true every problem is appended, up to
 * VC_PROBLEMS_MAX: the last one kept then says that more follow, and n
 * stays at VC_PROBLEMS_MAX (a hostile image could otherwise cost memory in
 * proportion to its BAT).
 */
#define VC_PROBLEMS_MAX 1024u
struct vc_problems {
        bool collect;
        size_t n;
        struct vc_problem *v;
        struct vc_problem first;
        bool oom;
};

/* Records a problem and returns its error (negative errno), so that
 * validators can write `return vc_problem_add(...)`. */
int vc_problem_add(struct vc_problems *ps, enum vc_problem_id id, int error,
                   const char *field, uint64_t offset, const char *fmt, ...) _printf_(6, 7);
/* A compaction step that failed with r at offset of the file: one io-error
 * problem "WHAT failed: REASON; nothing after it was written and the
 * image is valid: run again to finish" (what: printf-style).  Returns r.
 * For the executor and the formats' commit operations alike. */
int vc_problem_step_failed(struct vc_problems *ps, int r, uint64_t offset, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

bool vc_problems_any(const struct vc_problems *ps);
void vc_problems_done(struct vc_problems *ps);

/* Formats "PROBLEM-ID: message (field FIELD at offset N)", or "(at offset N)"
 * when no single field is to blame. */
void vc_problem_format(const struct vc_problem *p, char *buf, size_t size);
