/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vhdctl: the command line.  One verb per file (cmd-*.c); this file only
 * dispatches and holds the shared error printers.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "util/errno-id.h"
#include "safe-output.h"
#include "vhdctl.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *args, *help;
} verbs[] = {
        { "info", cmd_info, "FILE [--json] [--parent PATH]",
          "describe a VHD (and its parent chain) or a VHDX" },
        { "check", cmd_check, "FILE [--json] [--parent PATH]",
          "validate every structure (exit 0 clean, 1 problems, 2 cannot open)" },
        { "analyze", cmd_analyze, "FILE [--json] [--force-dirty] [--parent PATH]",
          "what compaction would reclaim (changes nothing)" },
        { "compact", cmd_compact,
          "FILE [--mode full|fs|zero] [--dry-run] [--json] [--no-progress]\n"
          "          [--force-dirty] [--force-children] [--local | --bus] [--user]\n"
          "          [--wait | --no-wait] [--queue-depth N] [--parent PATH] [--no-block-moves]\n"
          "          | FILE|DIR... [--recursive] [--jobs N] [the options above]",
          "shrink in place: through vhd-compactd when org.vhd.Compact is on the\n"
          "system bus (--user: the session bus), else in this process; several\n"
          "disks, or every VHD/VHDX under a folder, ending with a table" },
        { "jobs", cmd_jobs, "[--json] [--user]",
          "list vhd-compactd's jobs" },
        { "cancel", cmd_cancel, "JOB [--user]",
          "stop a vhd-compactd job (its path or number) at its next safe point" },
        { "create", cmd_create, "CHILD --parent PARENT [--format vhd|vhdx] [--block-size BYTES]\n"
          "          | FILE --format vhdx --size BYTES [--sector-size 512|4096] [--block-size BYTES]",
          "make a differencing child (in its parent's format), or a new dynamic VHDX" },
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: vhdctl VERB [OPTIONS]\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                fprintf(f, "  %s %s\n", verbs[i].name, verbs[i].args);
                /* The help, indented under the verb, line by line. */
                for (const char *h = verbs[i].help; *h;) {
                        size_t n = strcspn(h, "\n");
                        fprintf(f, "        %.*s\n", (int) n, h);
                        h += n + (h[n] == '\n');
                }
        }
        fprintf(f, "\nvhdctl --help | --version\n");
}

void print_problem(const char *file, const struct vc_problem *p)
{
        char buf[512];

        vc_problem_format(p, buf, sizeof buf);
        fprintf(stderr, "vhdctl: '%s': %s\n", file, buf);
}

void human_size(uint64_t b, char out[24])
{
        const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double) b;
        int u = 0;

        while (v >= 1024 && u < 5) {
                v /= 1024;
                u++;
        }
        snprintf(out, 24, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

void print_errno(const char *file, int r, const char *what)
{
        fprintf(stderr, "vhdctl: '%s': %s: %s%s%s\n", file, vc_errno_problem_id(r), what ? what : "",
                what ? ": " : "", strerror(-r));
}

int parse_file_json(int argc, char **argv, const char *usage_line, const char **ret_file,
                    bool *ret_json, const char **ret_parent)
{
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "parent", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c;

        *ret_json = false;
        *ret_parent = NULL;
        optind = 1;
        while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1)
                switch (c) {
                case 'j': *ret_json = true; break;
                case 'p': *ret_parent = optarg; break;
                case 'h': printf("Usage: %s\n", usage_line); return 1;
                default: fprintf(stderr, "Usage: %s\n", usage_line); return -1;
                }
        if (optind != argc - 1) {
                fprintf(stderr, "Usage: %s\n", usage_line);
                return -1;
        }
        *ret_file = argv[optind];
        return 0;
}

int main(int argc, char **argv)
{
        /* Per-block tables (the BAT and its planning copy: 16 MiB each for
         * a 2040 GiB disk with 512 KiB blocks) must go back to the system
         * when freed: glibc's self-raising mmap threshold would otherwise
         * keep the first one freed in the heap, and peak memory would
         * grow with the disk's size. */
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        safe_output_install();
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(argv[1], "--version")) {
                printf("vhdctl %s\n", PACKAGE_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (!strcmp(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "vhdctl: unknown verb '%s' (try vhdctl --help)\n", argv[1]);
        return 2;
}
