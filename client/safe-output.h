/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Everything vhdctl prints goes through a filter that keeps the terminal
 * safe from what images and file names hold (see lib/util/text.h): control
 * characters other than newline and tab, and bytes that are not UTF-8, come
 * out as \xNN.  JSON output is already plain (json.c escapes), so the
 * filter leaves it unchanged.
 */
#pragma once

#include <stdio.h>

/* Puts the filter on stdout and stderr; first thing in main. */
void safe_output_install(void);
/* The real stderr, unbuffered and unfiltered, for our own terminal
 * control: the progress line's carriage returns. */
FILE *safe_output_terminal(void);
