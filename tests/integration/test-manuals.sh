#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The manuals document everything: vhdctl(1), vhd-compactd(8),
# org.vhd.Compact(5) and nbdkit-vhd-plugin(1).
#
#   podchecker       every docs/*.pod is clean (no errors, no warnings)
#   man              the pages meson built render without a warning
#                    (man --warnings -l), and are the four we install
#   coverage         manual-coverage.py: every long option of each
#                    program (its --help and its getopt table), every verb,
#                    problem id and environment variable, every interface,
#                    method, property, signal, option and error of
#                    dbus/org.vhd.Compact.xml, every plugin config key and
#                    debug flag is in its page as pod2text renders it, and
#                    every key of `vhdctl analyze --json` is in the table
#                    of docs/vhdctl-analyze.md
#   the check bites  a page with one option or member taken out, and the
#                    sources or contract with an option, a property, an
#                    error name and an analyze JSON key added, must each
#                    fail it
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires pod2text podchecker python3 perl
requires_env VHDCTL VHD_COMPACTD TOP_SRCDIR
make_tmpdir
docs=$TOP_SRCDIR/docs
pages=(vhdctl.1 vhd-compactd.8 org.vhd.Compact.5 nbdkit-vhd-plugin.1)

echo "== podchecker"
for p in "${pages[@]}"; do
  out=$(podchecker "$docs/$p.pod" 2>&1) ||
    { echo "$out" >&2; fail "podchecker: $p.pod has errors"; }
  ! grep -q WARNING <<<"$out" || { echo "$out" >&2; fail "podchecker: $p.pod has warnings"; }
done

echo "== man --warnings -l"
if command -v man >/dev/null 2>&1 && [[ -n ${MAN_PAGES:-} ]]; then
  read -r -a built <<<"$MAN_PAGES"
  for p in "${pages[@]}"; do
    found=
    for b in "${built[@]}"; do [[ ${b##*/} = "$p" ]] && found=$b; done
    [[ -n $found ]] || fail "meson does not build $p (MAN_PAGES: $MAN_PAGES)"
    [[ -s $found ]] || fail "$found is not built"
    warnings=$(MANWIDTH=80 man --warnings -l "$found" 2>&1 >/dev/null)
    [[ -z $warnings ]] || { echo "$warnings" >&2; fail "man -l $p renders with warnings"; }
    # The page's header names itself in the right section.
    head=$(MANWIDTH=80 man -l "$found" 2>/dev/null | sed -n 1p)
    [[ $head = *"(${p##*.})"* ]] || fail "$p: header '$head' lacks section ${p##*.}"
  done
else
  echo "(man, or \$MAN_PAGES from meson, not available: skipping the rendering check)"
fi

echo "== the units' Documentation= pages are ours"
docs_of_units=$(sed -n 's/^Documentation=//p' "$TOP_SRCDIR"/systemd/*.in "$TOP_SRCDIR"/systemd/*.timer | tr ' ' '\n' | sed -n 's/^man://p')
[[ -n $docs_of_units ]] || fail "no unit in systemd/ has Documentation=man:..."
for d in $docs_of_units; do
  page=${d%%(*}.$(sed 's/.*(\(.*\))/\1/' <<<"$d")
  printf '%s\n' "${pages[@]}" | grep -qxF "$page" || fail "a unit points at man:$d, which is not one of our pages"
done

# render SRCDIR-OF-PODS OUTDIR: pod2text of each page.
render ()
{
  mkdir -p "$2"
  local p
  for p in "${pages[@]}"; do
    pod2text --utf8 "$1/$p.pod" > "$2/$p.txt"
  done
}

# coverage PAGES-DIR [SRCDIR]: the coverage check, with the built programs.
coverage ()
{
  local args=(--srcdir "${2:-$TOP_SRCDIR}" --pages "$1" --vhdctl "$VHDCTL" --daemon "$VHD_COMPACTD")
  # The plugin's own --help too, when nbdkit is here (else its source only).
  if [[ -n ${VHD_PLUGIN:-} && -e $VHD_PLUGIN ]] && command -v nbdkit >/dev/null 2>&1; then
    args+=(--plugin "$VHD_PLUGIN")
  fi
  python3 "$srcdir/manual-coverage.py" "${args[@]}"
}

echo "== coverage"
render "$docs" "$tmpdir/pages"
coverage "$tmpdir/pages" || fail "a manual misses an option or member (listed above)"

# bites NAME PAGE PERL-EXPR EXPECTED: a scratch copy of the pages with
# PERL-EXPR applied to PAGE must fail the check, naming EXPECTED.
bites ()
{
  local d=$tmpdir/bite-$1 out
  rm -rf "$d"
  mkdir -p "$d/pod"
  cp "$docs"/*.pod "$d/pod/"
  perl -0pi -e "$3" "$d/pod/$2.pod"
  cmp -s "$docs/$2.pod" "$d/pod/$2.pod" && fail "bite $1: the edit did not change $2.pod"
  render "$d/pod" "$d/pages"
  if out=$(coverage "$d/pages"); then
    echo "$out" >&2
    fail "bite $1: the check passed with $2.pod edited"
  fi
  grep -qF -- "$4" <<<"$out" || { echo "$out" >&2; fail "bite $1: the failure does not name '$4'"; }
  echo "bite $1: $(grep -F -- "$4" <<<"$out" | sed -n 1p)"
}

# Delete the =item paragraph(s) of an item, up to the next =item or =back.
del_item ()
{
  printf 's/^=item \\Q%s\\E.*?(?=^=(?:item|back))//ms' "$1"
}

echo "== the check bites: one item taken out of a page"
bites vhdctl-option vhdctl.1 "$(del_item 'B<--queue-depth>')" "option --queue-depth of vhdctl compact"
bites vhdctl-verb vhdctl.1 's/^=head2 cancel\n/=head2 kill\n/m' "verb cancel has no section"
bites vhdctl-problem vhdctl.1 's/B<bad-cookie>, //' "problem id bad-cookie"
bites vhdctl-env vhdctl.1 "$(del_item 'B<VHDCOMPACT_PLUGIN>')" "environment variable VHDCOMPACT_PLUGIN"
bites daemon-option vhd-compactd.8 "$(del_item 'B<--keep-finished>')" "option --keep-finished is not an item"
bites dbus-property org.vhd.Compact.5 "$(del_item 'B<Rate> (t, read-only)')" "property org.vhd.Compact.Job.Rate"
bites dbus-signature org.vhd.Compact.5 's/(=item B<CompactFd> \(IN h I<fd>), IN a\{sv\} I<options>/$1/' "method org.vhd.Compact.Manager.CompactFd"
bites dbus-signal org.vhd.Compact.5 "$(del_item 'B<Completed>')" "signal org.vhd.Compact.Job.Completed"
bites dbus-option org.vhd.Compact.5 "$(del_item 'B<force-children> (b)')" "option force-children (b)"
bites dbus-error org.vhd.Compact.5 "$(del_item 'B<org.vhd.Compact.Error.Parent>')" "error org.vhd.Compact.Error.Parent"
bites plugin-key nbdkit-vhd-plugin.1 "$(del_item 'B<lock=>')" "config key lock="

echo "== the check bites: one option or member added to the sources"
src=$tmpdir/src
mkdir -p "$src"
cp -r "$TOP_SRCDIR/client" "$TOP_SRCDIR/daemon" "$TOP_SRCDIR/dbus" "$TOP_SRCDIR/plugin" \
      "$TOP_SRCDIR/systemd" "$src/"
mkdir -p "$src/lib/util" "$src/docs"
cp "$TOP_SRCDIR/lib/util/problem.c" "$TOP_SRCDIR/lib/util/bus-names.h" "$src/lib/util/"
cp "$TOP_SRCDIR/docs/vhdctl-analyze.md" "$src/docs/"
echo 'static const struct option frob[] = { { "frobnicate", no_argument, NULL, 0 }, {} };' >> "$src/daemon/main.c"
perl -0pi -e 's/(<property name="Rate")/<property name="Frobs" type="t" access="read"\/>\n    $1/' \
     "$src/dbus/org.vhd.Compact.xml"
echo '#define VC_ERROR_FROBNICATED VC_ERROR_PREFIX "Frobnicated"' >> "$src/lib/util/bus-names.h"
perl -0pi -e 's/(json_bool\(&j, "scanned")/json_u64(&j, "frob-count", 1);\n                $1/' "$src/client/cmd-analyze.c"
if out=$(coverage "$tmpdir/pages" "$src"); then
  echo "$out" >&2
  fail "the check passed with a new daemon option, property, error and analyze key undocumented"
fi
for want in "option --frobnicate is not an item" "property org.vhd.Compact.Job.Frobs" \
            "error org.vhd.Compact.Error.Frobnicated" "JSON key frob-count of vhdctl analyze"; do
  grep -qF -- "$want" <<<"$out" || { echo "$out" >&2; fail "the failure does not name '$want'"; }
done
echo "$out" | grep -i -e frob
