#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""introspect-compare.py CONTRACT.xml LIVE.xml...: the org.vhd.Compact.*
interfaces of the live introspection data (one file per object) equal the
contract's: same methods with the same argument names, types and
directions, same properties with type and access, same signals with their
arguments.  Also checks that every member of the contract has a doc comment
right before it.  Prints each difference; exit status 1 if there is any."""
import sys
import xml.etree.ElementTree as ET


def members(iface):
    out = {}
    for el in iface:
        if not isinstance(el.tag, str) or el.tag not in ("method", "property", "signal"):
            continue
        name = el.get("name")
        if el.tag == "property":
            out[("property", name)] = (el.get("type"), el.get("access"))
        else:
            args = tuple((a.get("name"), a.get("type"), a.get("direction", "in" if el.tag == "method" else ""))
                         for a in el if isinstance(a.tag, str) and a.tag == "arg")
            out[(el.tag, name)] = args
    return out


def interfaces(root, prefix="org.vhd.Compact."):
    return {i.get("name"): members(i) for i in root.iter("interface") if i.get("name", "").startswith(prefix)}


def undocumented(path):
    """Members (and interfaces) not preceded by a comment."""
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.parse(path, parser=parser).getroot()
    bad = []

    def walk(node):
        prev = None
        for el in node:
            if el.tag in ("interface", "method", "property", "signal"):
                if prev is None or prev.tag is not ET.Comment or not (prev.text or "").strip():
                    bad.append("%s %s" % (el.tag, el.get("name")))
                if el.tag == "interface":
                    walk(el)
            prev = el
    walk(root)
    return bad


def main():
    contract = interfaces(ET.parse(sys.argv[1]).getroot())
    live = {}
    for f in sys.argv[2:]:
        live.update(interfaces(ET.parse(f).getroot()))
    problems = []
    for name in sorted(set(contract) | set(live)):
        if name not in live:
            problems.append("interface %s: in the contract, not served" % name)
            continue
        if name not in contract:
            problems.append("interface %s: served, not in the contract" % name)
            continue
        c, l = contract[name], live[name]
        for key in sorted(set(c) | set(l)):
            if key not in l:
                problems.append("%s %s.%s: in the contract, not served" % (key[0], name, key[1]))
            elif key not in c:
                problems.append("%s %s.%s: served, not in the contract" % (key[0], name, key[1]))
            elif c[key] != l[key]:
                problems.append("%s %s.%s: contract %s, served %s" % (key[0], name, key[1], c[key], l[key]))
    for m in undocumented(sys.argv[1]):
        problems.append("%s: no doc comment in the contract" % m)
    for p in problems:
        print(p)
    n = sum(len(v) for v in contract.values())
    print("%d interfaces, %d members compared; %d differences" % (len(contract), n, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
