#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-compact-resume.sh for VHDX (issue 15 item 5): a differencing child
# and a dynamic VHDX interrupted at every fault point of a compaction,
# then run again, end at exactly the uninterrupted run's size, reading
# the same.  A test of its own, with its own timeout.
VHDCOMPACT_TEST_FORMATS=vhdx exec "$(dirname "$0")/test-compact-resume.sh" "$@"
