#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-compact-nospace.sh for VHDX (issue 15 item 5): a sparse VHDX on a
# nearly full tmpfs compacted in rounds, each round's moves made durable
# through the log before their sources are punched; refused up front when
# not one move fits; ENOSPC, a crash at every fault point and power cuts
# in the rounds leave a valid image a rerun finishes.  A test of its own,
# with its own timeout.
VHDCOMPACT_TEST_FORMATS=vhdx exec "$(dirname "$0")/test-compact-nospace.sh" "$@"
