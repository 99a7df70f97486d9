/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl check FILE [--json]`: every structural problem, each with its
 * field and byte offset.  Exit codes are our own: 0 clean, 1 problems
 * found, 2 the file cannot be opened (or bad usage).
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "image/image.h"
#include "image/open.h"
#include "vhdctl.h"

int cmd_check(int argc, char **argv)
{
        struct vc_problems problems = {};
        struct vc_open_ctx ctx = VC_OPEN_CTX_INIT;
        const char *file;
        bool json;
        int r;

        r = parse_file_json(argc, argv, "vhdctl check FILE [--json] [--parent PATH]", &file, &json,
                            &ctx.parent_path);
        if (r != 0)
                return r < 0 ? 2 : 0;
        r = vc_image_check(file, &ctx, &problems);
        if (r < 0) {
                print_errno(file, r, "cannot open");
                return 2;
        }
        if (json) {
                struct json j = { .f = stdout };
                json_begin_object(&j, NULL);
                json_string(&j, "file", file);
                json_bool(&j, "clean", r == 0);
                json_begin_array(&j, "problems");
                for (size_t i = 0; i < problems.n; i++) {
                        const struct vc_problem *p = &problems.v[i];
                        json_begin_object(&j, NULL);
                        json_string(&j, "id", vc_problem_id_to_string(p->id));
                        if (p->field)
                                json_string(&j, "field", p->field);
                        else
                                json_null(&j, "field");
                        json_u64(&j, "offset", p->offset);
                        json_string(&j, "message", p->message);
                        json_end_object(&j);
                }
                json_end_array(&j);
                json_end_object(&j);
        } else if (r == 0)
                printf("%s: no problems found\n", file);
        else {
                for (size_t i = 0; i < problems.n; i++) {
                        char buf[512];
                        vc_problem_format(&problems.v[i], buf, sizeof buf);
                        printf("%s: %s\n", file, buf);
                }
                printf("%s: %zu problem%s found\n", file, problems.n, problems.n == 1 ? "" : "s");
        }
        vc_problems_done(&problems);
        return r == 0 ? 0 : 1;
}
