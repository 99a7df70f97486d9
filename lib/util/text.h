/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Text from images and file names made safe to show and to send.  Images
 * are hostile and name things we pass on (parent paths in MacX locators are
 * raw bytes, creator fields, volume labels, partition names), and Linux file
 * names are bytes: a terminal must not act on what they hold, JSON and
 * D-Bus strings must be valid UTF-8.  Safe text is strict UTF-8 (no
 * overlong forms, surrogates or values past U+10FFFF) without control
 * characters (C0, DEL, C1); every other byte is shown as \xNN.  Backslashes
 * are left alone: the escaped form is for people, not to be reversed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the character at s (n bytes available): its length (1-4) and
 * *ret_c, 0 when s may be the start of a valid character cut short, -1
 * when it is not valid UTF-8. */
int utf8_decode(const char *s, size_t n, uint32_t *ret_c);
/* True when s (NUL-terminated) is strict UTF-8, controls allowed. */
bool utf8_is_valid(const char *s);
/* C0 controls, DEL and C1 controls. */
bool text_is_control(uint32_t c);
/* True when s (NUL-terminated) is safe text. */
bool text_is_safe(const char *s);
/* Writes s as safe text into out (out_size >= 1, always NUL-terminated),
 * cut at a character or escape boundary when it does not fit.  Returns
 * the length written. */
size_t text_escape(char *out, size_t out_size, const char *s);
/* text_escape into a new string (NULL when out of memory). */
char *text_escape_dup(const char *s);

/* The same escaping for a stream of text with lines (vhdctl's output):
 * newline and tab pass, and bytes come in any pieces, so a character cut
 * at the end of one piece is held for the next. */
struct text_stream {
        char held[4];
        size_t n_held;
};
#define TEXT_STREAM_OUT_SIZE(n) (4 * ((n) + 3))
/* Escapes n bytes of p, after what s holds, into out (at least
 * TEXT_STREAM_OUT_SIZE(n) bytes; not NUL-terminated); with at_end, a
 * character still cut short is escaped instead of held.  Returns the
 * number of bytes written to out. */
size_t text_stream_feed(struct text_stream *s, const char *p, size_t n, bool at_end, char *out);
