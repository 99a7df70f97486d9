/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl info FILE [--json]`: what the image's format says of it (its
 * describe hook: for VHD everything the footer and header say, the
 * allocation count and the parent chain), rendered here as text lines or
 * as one JSON object.  The image is opened read-only without a lock, so a
 * disk in use can be described.  A child whose parent cannot be bound is
 * still described (exit 1, with the reason on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "image/image.h"
#include "image/open.h"
#include "json.h"
#include "vhdctl.h"

/* Text: "label:" padded to 17 columns, then the value. */
static void text_line(void *userdata, const char *label, const char *value)
{
        char l[64];

        snprintf(l, sizeof l, "%s:", label);
        printf("%-17s%s\n", l, value);
}

static void text_string(void *userdata, const char *key, const char *value) {}
static void text_number(void *userdata, const char *key, uint64_t value) {}
static void text_bool(void *userdata, const char *key, bool value) {}
static void text_begin(void *userdata, const char *key, bool array) {}
static void text_end(void *userdata, bool array) {}

static void json_text(void *userdata, const char *label, const char *value) {}

static void json_str(void *userdata, const char *key, const char *value)
{
        if (value)
                json_string(userdata, key, value);
        else
                json_null(userdata, key);
}

static void json_number(void *userdata, const char *key, uint64_t value)
{
        json_u64(userdata, key, value);
}

static void json_boolean(void *userdata, const char *key, bool value)
{
        json_bool(userdata, key, value);
}

static void json_begin(void *userdata, const char *key, bool array)
{
        if (array)
                json_begin_array(userdata, key);
        else
                json_begin_object(userdata, key);
}

static void json_end(void *userdata, bool array)
{
        if (array)
                json_end_array(userdata);
        else
                json_end_object(userdata);
}

int cmd_info(int argc, char **argv)
{
        struct vc_problems problems = {};
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        struct vc_image *img = NULL;
        const char *file;
        bool json, parent_missing = false;
        int r;

        r = parse_file_json(argc, argv, "vhdctl info FILE [--json] [--parent PATH]", &file, &json,
                            &ctx.parent_path);
        if (r != 0)
                return r < 0 ? 2 : 0;
        r = vc_image_open(file, &ctx, VC_OPEN_NOLOCK, &problems, &img);
        if (r < 0 && (problems.first.id == VC_PROBLEM_PARENT_NOT_FOUND ||
                      problems.first.id == VC_PROBLEM_PARENT_MISMATCH ||
                      problems.first.id == VC_PROBLEM_PARENT_LOOP)) {
                print_problem(file, &problems.first);
                parent_missing = true;
                r = vc_image_open(file, &ctx, VC_OPEN_NOLOCK | VC_OPEN_NOPARENT, &problems, &img);
        }
        if (r < 0) {
                if (vc_problems_any(&problems))
                        print_problem(file, &problems.first);
                else
                        print_errno(file, r, NULL);
                return 1;
        }
        if (json) {
                struct json j = { .f = stdout };
                const struct vc_describe d = {
                        .text = json_text, .string = json_str, .number = json_number,
                        .boolean = json_boolean, .begin = json_begin, .end = json_end, .userdata = &j,
                };
                json_begin_object(&j, NULL);
                vc_image_describe(img, &d);
                json_end_object(&j);
        } else {
                const struct vc_describe d = {
                        .text = text_line, .string = text_string, .number = text_number,
                        .boolean = text_bool, .begin = text_begin, .end = text_end,
                };
                vc_image_describe(img, &d);
        }
        vc_image_free(img);
        return parent_missing ? 1 : 0;
}
