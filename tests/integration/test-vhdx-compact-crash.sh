#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-compact-crash.sh for VHDX (issue 15 item 5): a dynamic VHDX and a
# differencing child of 1 MiB blocks crashed at fault points of every name
# (the header, the log entry, the in-place pages, the BAT, the block
# copies, the truncation: formats/vhdx.sh's fmt_fault_points, each met in
# order), and a larger one killed with -9 at random instants; every state
# checked clean by vhdctl, libvhdi, 7-Zip and qemu (a log replayed by
# `qemu-img check -r all` on a copy), the guest's NTFS intact, and a second
# run reaching the optimum.  A test of its own, with its own timeout: on
# top of VHD's it would not fit test-compact-crash's.
VHDCOMPACT_TEST_FORMATS=vhdx exec "$(dirname "$0")/test-compact-crash.sh" "$@"
