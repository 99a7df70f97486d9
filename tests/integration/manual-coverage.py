#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""manual-coverage.py --srcdir DIR --pages DIR [--vhdctl PROG] [--daemon PROG]
[--plugin SO]: every option and D-Bus member is documented in its manual.

The pages are read as rendered by pod2text (PAGES/NAME.SECTION.txt).  What
must be there is taken from the programs and the contract, never from a
list kept here:

  vhdctl(1)            the verbs of `vhdctl --help` and client/vhdctl.c; each
                       verb's long options, from `vhdctl VERB --help` and its
                       getopt table (client/cmd-VERB.c, or vhdctl.c's for the
                       verbs that use parse_file_json), each an item of the
                       verb's section; the problem ids of lib/util/problem.c
                       and vhdctl's own ids (client/*.c); the environment
                       variables client/ and lib/ read; and the keys
                       `vhdctl analyze --json` prints (client/cmd-analyze.c)
                       are in the table of docs/vhdctl-analyze.md
  vhd-compactd(8)      the long options of `vhd-compactd --help` and
                       daemon/main.c's table, each an item of OPTIONS; the
                       worker's options (daemon/worker.c); its environment
                       variables, the signals it handles, the
                       polkit action, the units in systemd/
  org.vhd.Compact(5)   from dbus/org.vhd.Compact.xml: every interface (a
                       section), method "Name (IN t arg, ..., OUT t arg)",
                       property "Name (t, read-only)" and signal
                       "Name (t arg, ...)" as an item of its interface's
                       section; every option "name (t)" an item of OPTIONS;
                       every error name (the XML's, daemon/*.c's,
                       lib/util/bus-names.h's) an item of ERRORS; the keys of
                       Analyze's report; the job states; the objects
  nbdkit-vhd-plugin(1) the config keys of `nbdkit PLUGIN --help` and of
                       plugin/vhd.c, each an item "KEY=..." of PARAMETERS;
                       its debug flags (-D vhd.NAME=1)

Variables named *TEST* or *FAULT* are test hooks and are not required (nor
advertised).  Also checks that each verb's --help (and `vhdctl --help`)
names every option of the verb's getopt table.  Prints what is missing;
exit status 1 if anything is.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

missing = []
checked = 0


def miss(page, what):
    missing.append("%s: %s" % (page, what))


def need(ok, page, what):
    """One requirement: OK, or WHAT is missing from PAGE."""
    global checked
    checked += 1
    if not ok:
        miss(page, what)


def norm(s):
    """Rendered text without pod2text's quotes and asterisks, whitespace
    collapsed."""
    return " ".join(s.replace("*", "").replace('"', "").split())


def indent(line):
    return len(line) - len(line.lstrip(" "))


class Page:
    """A page as pod2text renders it: =head1 at column 0, =head2 at 2,
    paragraphs at 4, an =item's tag at 4 (or deeper) with its body 4
    further in."""

    def __init__(self, path):
        self.name = os.path.basename(path)[: -len(".txt")]
        with open(path, encoding="utf-8") as f:
            self.lines = f.read().split("\n")
        self.text = norm("\n".join(self.lines))

    def section(self, title, level=0):
        """The lines under the heading TITLE at indent LEVEL (0: =head1,
        2: =head2), up to the next heading of that level or above."""
        return section_in(self.lines, title, level)

    @staticmethod
    def items(lines):
        """The item tags among LINES: after a blank line or a heading,
        lines at one indent (a long tag wraps) directly followed by a
        body at least 4 further in."""
        tags, i = [], 0
        while i < len(lines):
            # After a blank line, or right under a heading.
            if lines[i].strip() and (i == 0 or not lines[i - 1].strip() or indent(lines[i - 1]) < indent(lines[i]) - 1):
                j, n = i, indent(lines[i])
                while j < len(lines) and lines[j].strip() and indent(lines[j]) == n:
                    j += 1
                if j < len(lines) and lines[j].strip() and indent(lines[j]) >= n + 4:
                    tags.append(norm(" ".join(lines[i:j])))
                i = j
            else:
                i += 1
        return tags


def run(*argv, env=None):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    return r.stdout


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def long_options_of_table(src):
    """Long options of the getopt tables in C source SRC."""
    return set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument', src))


def long_options_of_help(text):
    return set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", text))


def env_vars(files):
    names = set()
    for f in files:
        names |= set(re.findall(r'getenv\("([A-Z0-9_]+)"\)', read(f)))
    return {n for n in names if "TEST" not in n and "FAULT" not in n}


def has_item(tags, token):
    """An item tag that starts with TOKEN as a word."""
    return any(re.match(re.escape(token) + r"(?![\w-])", t) for t in tags)


def check_vhdctl(page, src, vhdctl):
    main_c = read(os.path.join(src, "client/vhdctl.c"))
    verbs = re.findall(r'\{\s*"([a-z]+)",\s*cmd_\w+,', main_c)
    top_help = run(vhdctl, "--help") if vhdctl else ""
    if vhdctl:
        for v in re.findall(r"^  ([a-z]+)(?: |$)", top_help, re.M):
            if v not in verbs:
                verbs.append(v)
    need(verbs, page.name, "found no verbs in client/vhdctl.c (has its table changed?)")
    verbs_sec = page.section("VERBS")
    if verbs_sec is None:
        miss(page.name, "no VERBS section")
        verbs_sec = []
    for verb in verbs:
        cmd = os.path.join(src, "client/cmd-%s.c" % verb)
        table = long_options_of_table(read(cmd)) if os.path.exists(cmd) else set()
        if os.path.exists(cmd) and "parse_file_json(" in read(cmd):
            table |= long_options_of_table(main_c)
        opts = set(table)
        if vhdctl:
            verb_help = run(vhdctl, verb, "--help")
            opts |= long_options_of_help(verb_help)
            # The usage texts name every option of the table.
            m = re.search(r"^  %s (.*(?:\n {10}.*)*)" % verb, top_help, re.M)
            top_line = m.group(1) if m else ""
            for o in sorted(table - {"help"}):
                need("--" + o in verb_help, page.name, "vhdctl %s --help does not name --%s (in its getopt table)" % (verb, o))
                need("--" + o in top_line, page.name, "vhdctl --help does not name --%s of %s (in its getopt table)" % (o, verb))
        sec = section_in(verbs_sec, verb, 2)
        if sec is None:
            miss(page.name, "verb %s has no section under VERBS" % verb)
            continue
        tags = Page.items(sec)
        for o in sorted(opts - {"help"}):
            need(has_item(tags, "--" + o), page.name, "option --%s of vhdctl %s is not an item of its section" % (o, verb))
    for o in ("--help", "--version"):
        need(o in page.text, page.name, "%s is not mentioned" % o)

    ids = re.findall(r'\[VC_PROBLEM_\w+\]\s*=\s*"([a-z][a-z-]*)"', read(os.path.join(src, "lib/util/problem.c")))
    client = "".join(read(f) for f in sorted(glob.glob(os.path.join(src, "client/*.c"))))
    ids += re.findall(r'\{\s*"org\.[\w.]+",\s*"([a-z][a-z-]*)"\s*\}', client)
    ids += re.findall(r"vhdctl: '%s': ([a-z]+(?:-[a-z]+)+):", client)
    sec = page.section("PROBLEM IDS")
    if sec is None:
        miss(page.name, "no PROBLEM IDS section")
    else:
        words = set(re.findall(r"[a-z]+(?:-[a-z]+)*", norm("\n".join(sec))))
        for i in sorted(set(ids)):
            need(i in words, page.name, "problem id %s is not in PROBLEM IDS" % i)
    envs = env_vars(glob.glob(os.path.join(src, "client/*.c")) + glob.glob(os.path.join(src, "lib/**/*.c"), recursive=True))
    check_env(page, envs)
    for s in ("EXIT STATUS", "EXAMPLES"):
        need(page.section(s) is not None, page.name, "no %s section" % s)
    check_analyze_json(src)


def check_analyze_json(src):
    """Every key vhdctl analyze --json prints is in docs/vhdctl-analyze.md's
    table, as `key` or as `parent.key` (`volumes[].clean`, `.clusters-free`)."""
    doc_name = "docs/vhdctl-analyze.md"
    doc_path = os.path.join(src, doc_name)
    need(os.path.exists(doc_path), doc_name, "missing")
    if not os.path.exists(doc_path):
        return
    doc = read(doc_path)
    keys = set(re.findall(r'\bjson_\w+\(&j,\s*"([a-z][a-z0-9-]*)"', read(os.path.join(src, "client/cmd-analyze.c"))))
    need(keys, doc_name, "found no JSON keys in client/cmd-analyze.c (has its printer changed?)")
    for k in sorted(keys):
        need(re.search(r"[`.]%s[`.[]" % re.escape(k), doc), doc_name, "JSON key %s of vhdctl analyze is not in its table" % k)


def section_in(lines, title, level):
    """See Page.section."""
    out, inside = None, False
    for line in lines:
        if line.strip() and indent(line) <= level:
            if inside:
                break
            if indent(line) == level and norm(line) == title:
                inside, out = True, []
                continue
        if inside:
            out.append(line)
    return out


def check_env(page, envs):
    sec = page.section("ENVIRONMENT")
    if sec is None:
        miss(page.name, "no ENVIRONMENT section")
        return
    tags = " ".join(Page.items(sec))
    for e in sorted(envs):
        need(re.search(r"(?<![\w$])%s(?!\w)" % e, tags), page.name, "environment variable %s is not an item of ENVIRONMENT" % e)


def check_daemon(page, src, daemon):
    main_c = read(os.path.join(src, "daemon/main.c"))
    opts = long_options_of_table(main_c)
    need(opts, page.name, "found no options in daemon/main.c (has its table changed?)")
    if daemon:
        opts |= long_options_of_help(run(daemon, "--help"))
    sec = page.section("OPTIONS")
    if sec is None:
        miss(page.name, "no OPTIONS section")
        sec = []
    tags = Page.items(sec)
    for o in sorted(opts):
        need(has_item(tags, "--" + o), page.name, "option --%s is not an item of OPTIONS" % o)
    # The worker's command line, which the daemon builds (not for users).
    worker = os.path.join(src, "daemon/worker.c")
    sec = page.section("WORKER ISOLATION")
    need(sec is not None, page.name, "no WORKER ISOLATION section")
    for o in sorted(long_options_of_table(read(worker)) if os.path.exists(worker) else ()):
        need(sec is not None and "--" + o in norm("\n".join(sec)), page.name,
             "worker option --%s (daemon/worker.c) is not in WORKER ISOLATION" % o)
    check_env(page, env_vars(glob.glob(os.path.join(src, "daemon/*.c"))))
    sigs = set(re.findall(r"sd_event_add_signal\([^;]*?\b(SIG[A-Z]+)\b", main_c))
    sec = page.section("SIGNALS")
    if sec is None:
        miss(page.name, "no SIGNALS section")
    else:
        for s in sorted(sigs):
            need(s in norm("\n".join(sec)), page.name, "signal %s (handled in daemon/main.c) is not in SIGNALS" % s)
    for a in re.findall(r'<action id="([^"]+)"', read(os.path.join(src, "dbus/org.vhd.Compact.policy"))):
        need(a in page.text, page.name, "polkit action %s is not mentioned" % a)
    for f in sorted(os.listdir(os.path.join(src, "systemd"))):
        if f.endswith((".service", ".service.in", ".timer")):
            unit = f[: -len(".in")] if f.endswith(".in") else f
            need(unit in page.text, page.name, "unit %s is not mentioned" % unit)
    for n in ("org.vhd.Compact", "/org/vhd/Compact", "CompactFd", "AnalyzeFd", "VHDCOMPACT_WORKER"):
        need(n in page.text, page.name, "%s is not mentioned" % n)


def check_dbus(page, src):
    path = os.path.join(src, "dbus/org.vhd.Compact.xml")
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser=parser).getroot()
    xml_text = read(path)
    head = xml_text.split("<node", 1)[0]

    for iface in root.iter("interface"):
        name = iface.get("name")
        sec = page.section("INTERFACE " + name)
        if sec is None:
            miss(page.name, "interface %s has no section INTERFACE %s" % (name, name))
            continue
        tags = Page.items(sec)
        for el in iface:
            if el.tag == "method":
                args = ", ".join("%s %s %s" % (a.get("direction", "in").upper(), a.get("type"), a.get("name"))
                                 for a in el if a.tag == "arg")
                want = "%s (%s)" % (el.get("name"), args)
            elif el.tag == "signal":
                want = "%s (%s)" % (el.get("name"), ", ".join("%s %s" % (a.get("type"), a.get("name"))
                                                            for a in el if a.tag == "arg"))
            elif el.tag == "property":
                access = {"read": "read-only", "write": "write-only", "readwrite": "read-write"}[el.get("access")]
                want = "%s (%s, %s)" % (el.get("name"), el.get("type"), access)
            else:
                continue
            need(want in tags, page.name, "%s %s.%s: no item \"%s\" in INTERFACE %s" % (el.tag, name, el.get("name"), want, name))
            if el.tag == "method" and el.get("name") == "Analyze":
                doc = analyze_doc(iface, el)
                all_tags = " , ".join(Page.items(sec))
                for key, typ in re.findall(r"^\s+([a-z][a-z-]+)\s+([a-z]{1,2})\s{2,}", doc, re.M):
                    need(re.search(r"(^|, )%s \(%s\)" % (re.escape(key), typ), all_tags), page.name, "Analyze's report key %s (%s) is not an item" % (key, typ))
            if el.tag == "property" and el.get("name") == "State":
                doc = analyze_doc(iface, el)
                for state in re.findall(r'"([a-z]+)"', doc):
                    need(state in norm("\n".join(sec)), page.name, "job state %s is not in INTERFACE %s" % (state, name))

    m = re.search(r"^\s*Options[^\n]*\n(.*?)^\s*Unknown options", head, re.M | re.S)
    opts = re.findall(r"^\s{4}([a-z][a-z-]*)\s+([a-z{}]+)\s{2,}", m.group(1), re.M) if m else []
    need(opts, page.name, "found no options in the contract's comment (has its layout changed?)")
    sec = page.section("OPTIONS")
    tags = Page.items(sec) if sec is not None else []
    for key, typ in opts:
        need("%s (%s)" % (key, typ) in tags, page.name, "option %s (%s) is not an item of OPTIONS" % (key, typ))
    # The contract's error names, any the daemon's sources use, and those
    # of the names shared with the clients (lib/util/bus-names.h).
    daemon_src = "".join(read(f) for f in sorted(glob.glob(os.path.join(src, "daemon/*.c")) +
                                                  glob.glob(os.path.join(src, "lib/util/bus-names.h"))))
    errors = set(re.findall(r"org\.vhd\.Compact\.Error\.[A-Za-z]+", xml_text + daemon_src))
    errors |= {"org.vhd.Compact.Error." + e for e in re.findall(r'\b(?:E|ERR)\("([A-Za-z]+)"\)', daemon_src)}
    errors |= {"org.vhd.Compact.Error." + e for e in re.findall(r'\bVC_ERROR_PREFIX "([A-Za-z]+)"', daemon_src)}
    errors = sorted(errors)
    sec = page.section("ERRORS")
    tags = Page.items(sec) if sec is not None else []
    for e in errors:
        need(e in tags, page.name, "error %s is not an item of ERRORS" % e)
    for n in sorted(set(re.findall(r"/org/vhd/Compact(?:/job/N)?\b", head) +
                        re.findall(r"org\.freedesktop\.DBus\.[A-Za-z]+", head))):
        need(n in page.text, page.name, "%s (the contract's objects) is not mentioned" % n)
    need(re.search(r"busctl (--user )?call", page.text), page.name, "no busctl call example")


def analyze_doc(iface, el):
    """The comment right before EL in IFACE."""
    prev = None
    for child in iface:
        if child is el:
            return prev.text if prev is not None and prev.tag is ET.Comment else ""
        prev = child
    return ""


def check_plugin(page, src, plugin):
    vhd_c = read(os.path.join(src, "plugin/vhd.c"))
    keys = set(re.findall(r'strcmp\s*\(\s*key,\s*"([a-z_]+)"\s*\)', vhd_c))
    need(keys, page.name, "found no config keys in plugin/vhd.c (has it changed?)")
    if plugin:
        # A sanitizer build's plugin needs its runtime preloaded into nbdkit.
        env = dict(os.environ)
        if os.environ.get("VHD_SANITIZER_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["VHD_SANITIZER_PRELOAD"]
        out = run("nbdkit", plugin, "--help", env=env)
        need(re.search(r"^plugin: vhd\b", out, re.M), page.name, "nbdkit %s --help failed: %s" % (plugin, out.strip()))
        keys |= set(re.findall(r"^\[?([a-z][a-z0-9_]*)=\]?<", out, re.M))
    sec = page.section("PARAMETERS")
    tags = Page.items(sec) if sec is not None else []
    for k in sorted(keys):
        need(any(re.match(r"\[?%s=" % k, t) for t in tags), page.name, "config key %s= is not an item of PARAMETERS" % k)
    sec = page.section("DEBUG FLAGS")
    tags = Page.items(sec) if sec is not None else []
    for flag in sorted(set(re.findall(r"\bvhd_debug_([a-z0-9_]+)\b", vhd_c))):
        need(any(t.startswith("-D vhd.%s=" % flag) for t in tags), page.name, "debug flag -D vhd.%s=1 is not an item of DEBUG FLAGS" % flag)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--pages", required=True)
    ap.add_argument("--vhdctl")
    ap.add_argument("--daemon")
    ap.add_argument("--plugin")
    a = ap.parse_args()
    checks = [("vhdctl.1", lambda p: check_vhdctl(p, a.srcdir, a.vhdctl)),
              ("vhd-compactd.8", lambda p: check_daemon(p, a.srcdir, a.daemon)),
              ("org.vhd.Compact.5", lambda p: check_dbus(p, a.srcdir)),
              ("nbdkit-vhd-plugin.1", lambda p: check_plugin(p, a.srcdir, a.plugin))]
    for name, check in checks:
        path = os.path.join(a.pages, name + ".txt")
        if not os.path.exists(path):
            miss(name, "not rendered (%s)" % path)
            continue
        check(Page(path))
    for m in missing:
        print(m)
    print("%d pages, %d requirements checked; %d things missing" % (len(checks), checked, len(missing)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
