/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Assertions for the C unit tests.  Each prints both sides and the place,
 * then aborts, so a failure under the sanitizers or valgrind is one clear
 * line.  Tests exit 77 to be counted as skipped.
 */
#pragma once

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RUNNING_ON_VALGRIND: tests that do less under valgrind (20 times
 * slower) ask it; 0 where valgrind's header is not installed. */
#if defined __has_include
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define TEST_FAIL(...)                                                              \
        do {                                                                        \
                fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
                fprintf(stderr, __VA_ARGS__);                                       \
                fputc('\n', stderr);                                                \
                abort();                                                            \
        } while (0)

#define ASSERT_TRUE(x)                                                              \
        do {                                                                        \
                if (!(x))                                                           \
                        TEST_FAIL("assertion failed: %s", #x);                      \
        } while (0)

#define ASSERT_EQ_U64(a, b)                                                         \
        do {                                                                        \
                uint64_t _a = (uint64_t) (a), _b = (uint64_t) (b);                  \
                if (_a != _b)                                                       \
                        TEST_FAIL("%s == %" PRIu64 ", expected %s == %" PRIu64, #a, _a, #b, _b); \
        } while (0)

#define ASSERT_EQ_INT(a, b)                                                         \
        do {                                                                        \
                long long _a = (long long) (a), _b = (long long) (b);               \
                if (_a != _b)                                                       \
                        TEST_FAIL("%s == %lld, expected %s == %lld", #a, _a, #b, _b); \
        } while (0)

#define ASSERT_OK(expr)                                                             \
        do {                                                                        \
                long long _r = (long long) (expr);                                  \
                if (_r < 0)                                                         \
                        TEST_FAIL("%s failed: %s", #expr, strerror((int) -_r));     \
        } while (0)

#define ASSERT_STREQ(a, b)                                                          \
        do {                                                                        \
                const char *_a = (a), *_b = (b);                                    \
                if (strcmp(_a, _b) != 0)                                            \
                        TEST_FAIL("%s == \"%s\", expected \"%s\"", #a, _a, _b);      \
        } while (0)

#define ASSERT_MEMEQ(a, b, n)                                                       \
        do {                                                                        \
                if (memcmp((a), (b), (n)) != 0)                                     \
                        TEST_FAIL("%s and %s differ in their first %zu bytes", #a, #b, (size_t) (n)); \
        } while (0)

#define ASSERT_FALSE(x)                                                             \
        do {                                                                        \
                if (x)                                                              \
                        TEST_FAIL("assertion failed: !(%s)", #x);                   \
        } while (0)

/* Either both NULL or equal strings. */
#define ASSERT_STREQ_NULLABLE(a, b)                                                 \
        do {                                                                        \
                const char *_a = (a), *_b = (b);                                    \
                if ((_a == NULL) != (_b == NULL) || (_a && strcmp(_a, _b) != 0))    \
                        TEST_FAIL("%s == %s%s%s, expected %s%s%s", #a,              \
                                  _a ? "\"" : "", _a ? _a : "NULL", _a ? "\"" : "",  \
                                  _b ? "\"" : "", _b ? _b : "NULL", _b ? "\"" : ""); \
        } while (0)

/* A struct vc_problem (needs util/problem.h) has this id, field and offset. */
#define ASSERT_PROBLEM(p, id_, field_, offset_)                                     \
        do {                                                                        \
                const struct vc_problem *_p = (p);                                  \
                if ((int) _p->id != (int) (id_))                                    \
                        TEST_FAIL("%s: problem %s (%s), expected %s", #p,           \
                                  vc_problem_id_to_string(_p->id), _p->message,     \
                                  vc_problem_id_to_string(id_));                    \
                ASSERT_STREQ_NULLABLE(_p->field, (field_));                         \
                ASSERT_EQ_U64(_p->offset, (offset_));                               \
        } while (0)
