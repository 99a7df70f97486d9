#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-compact-powercut.sh for VHDX (issue 15 item 5): a dynamic VHDX and a
# differencing child of 1 MiB blocks, in modes full, fs and zero, each run
# logged and cut (writes not made durable lost, torn at 4 KiB) before a
# barrier and at a random record (every barrier with
# VHDCOMPACT_SLOW_TESTS=1); a run without the barrier after the copies
# must break.  A test of its own, with its own timeout.
VHDCOMPACT_TEST_FORMATS=vhdx exec "$(dirname "$0")/test-compact-powercut.sh" "$@"
