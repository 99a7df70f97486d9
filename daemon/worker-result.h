/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The worker's last message: "result ok K=V ..." or "result fail ERRNO ID
 * MESSAGE" (worker-protocol.h).
 */
#pragma once

#include <stdbool.h>

#include "compact/compact.h"
#include "worker-channel.h"

int worker_result_ok(struct channel *c, enum compact_mode mode, const struct compact_report *rep);

/*
 * r: the engine's negative errno; problems: what it found (may be empty).
 * ID is the first problem's id, or "-"; MESSAGE is what vhdctl prints after
 * "vhdctl: 'FILE': " for the same failure, made one line of printable
 * text.  A cancel (-ECANCELED) has no id, whatever the engine recorded.
 */
int worker_result_fail(struct channel *c, int r, const struct vc_problems *problems, bool dry_run);
