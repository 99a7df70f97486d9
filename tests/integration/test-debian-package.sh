#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian packages (debian/, issue 18 items 1 and 2), built from a copy
# of the source tree the way a deployer builds them:
#   - `dpkg-buildpackage -us -uc -b` succeeds (debhelper 13, meson) and
#     makes two packages: vhdcompact and cockpit-vhdcompact (the Cockpit
#     page, Architecture: all);
#   - lintian finds no error and no warning in either (--fail-on
#     error,warning);
#   - `dpkg-deb -c` of the two lists every file `meson install` of the
#     package's own build tree puts in place (manual pages compressed),
#     each in one package only, and nothing of ours beyond them but each
#     package's copyright and changelog; cockpit-vhdcompact holds exactly
#     /usr/share/cockpit/vhdcompact/ and vhdcompact nothing of it;
#   - vhdcompact's Depends names nbdkit (the attach runs it), libnbd0
#     (the attach loads it with dlopen) and, for every
#     library an installed ELF file needs, the package that holds it
#     (libc6 aside); cockpit-vhdcompact's names cockpit-bridge and
#     vhdcompact;
#   - installed into a throwaway root (dpkg-deb -x), `vhdctl --version`
#     runs and names the version of debian/changelog, and
#     `systemd-analyze verify --root` accepts the installed units (their
#     ExecStart binaries resolved inside that root).
# About a minute here (the package builds the whole tree once more).
set -euo pipefail
. "$(dirname "$0")/functions.sh"
requires dpkg-buildpackage dpkg-deb dh lintian systemd-analyze file readelf
make_tmpdir
d=$tmpdir
[[ -n ${TOP_SRCDIR:-} && -f $TOP_SRCDIR/debian/control ]] || skip "\$TOP_SRCDIR has no debian/"

echo "== a copy of the source tree"
mkdir "$d/src"
if git -C "$TOP_SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
    # What git has, as it is in the working tree (build trees left out).
    (cd "$TOP_SRCDIR" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$d/src"
else
    (cd "$TOP_SRCDIR" && tar --exclude='./build*' --exclude='./bench/out' -cf - .) | tar -xf - -C "$d/src"
fi

echo "== dpkg-buildpackage -us -uc -b"
(cd "$d/src" && nice dpkg-buildpackage -us -uc -b) > "$d/build.log" 2>&1 ||
    { tail -n 40 "$d/build.log" >&2; fail "dpkg-buildpackage failed"; }
version=$(cd "$d/src" && dpkg-parsechangelog -S Version)
deb=$d/vhdcompact_${version}_$(dpkg-architecture -q DEB_HOST_ARCH).deb
[[ -f $deb ]] || fail "no $deb: $(ls "$d")"
cdeb=$d/cockpit-vhdcompact_${version}_all.deb
[[ -f $cdeb ]] || fail "no $cdeb: $(ls "$d")"
[[ $(dpkg-deb -f "$cdeb" Architecture) = all ]] || fail "cockpit-vhdcompact is not Architecture: all"
echo "built ${deb##*/} ${cdeb##*/}"

echo "== lintian"
lintian --fail-on error,warning "$d"/vhdcompact_"$version"_*.changes > "$d/lintian.txt" 2>&1 ||
    { cat "$d/lintian.txt" >&2; fail "lintian found errors or warnings"; }
grep -E '^[EW]: ' "$d/lintian.txt" && fail "lintian printed errors or warnings"
echo "lintian: no error, no warning"

echo "== the package holds what meson installs"
obj=$(find "$d/src" -maxdepth 1 -type d -name 'obj-*' | sed -n 1p)
[[ -n $obj && -f $obj/build.ninja ]] || fail "no meson build tree in the package's source copy"
meson install -C "$obj" --no-rebuild --quiet --destdir "$d/installed" > "$d/install.log" 2>&1 ||
    { cat "$d/install.log" >&2; fail "meson install of the package's build tree failed"; }
(cd "$d/installed" && find . \( -type f -o -type l \) | sed 's,^\.,,; s,^\(/usr/share/man/.*\)$,\1.gz,' | sort) > "$d/want"
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's,^\.,,' | sort > "$d/have-main"
dpkg-deb -c "$cdeb" | awk '$1 !~ /^d/ { print $6 }' | sed 's,^\.,,' | sort > "$d/have-cockpit"
both=$(comm -12 "$d/have-main" "$d/have-cockpit")
[[ -z $both ]] || fail "files in both packages: $both"
sort "$d/have-main" "$d/have-cockpit" > "$d/have"
missing=$(comm -23 "$d/want" "$d/have")
[[ -z $missing ]] || fail "meson installs what the packages lack: $missing"
extra=$(comm -13 "$d/want" "$d/have" |
        grep -v -e '^/usr/share/doc/\(cockpit-\)\?vhdcompact/\(copyright\|changelog\.gz\)$' || true)
[[ -z $extra ]] || fail "the packages hold files meson does not install: $extra"
grep -q '^/usr/share/cockpit/vhdcompact/manifest\.json$' "$d/have-cockpit" ||
    fail "cockpit-vhdcompact has no /usr/share/cockpit/vhdcompact/manifest.json"
odd=$(grep -v -e '^/usr/share/cockpit/vhdcompact/' -e '^/usr/share/doc/cockpit-vhdcompact/' "$d/have-cockpit" || true)
[[ -z $odd ]] || fail "cockpit-vhdcompact holds more than the page: $odd"
! grep -q '^/usr/share/cockpit/' "$d/have-main" || fail "vhdcompact holds the Cockpit page"
echo "$(wc -l < "$d/have-main") + $(wc -l < "$d/have-cockpit") files, as meson installs them"

echo "== Depends"
depends=$(dpkg-deb -f "$deb" Depends)
grep -Eq '(^|, )nbdkit(,| |$)' <<<"$depends" || fail "Depends lacks nbdkit: $depends"
# The attach loads libnbd itself (lib/attach.c): no ELF file names it.
grep -Eq '(^|, )libnbd0(,| |$)' <<<"$depends" || fail "Depends lacks libnbd0: $depends"
mkdir "$d/root"
dpkg-deb -x "$deb" "$d/root"
while IFS= read -r f; do
    [[ $(file -b "$f") == ELF* ]] || continue
    for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        # Whole-input awk and sed (no early exit): a reader that stops
        # early kills the writer with SIGPIPE, which pipefail reports.
        path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !seen { print $NF; seen = 1 }')
        [[ -n $path ]] || fail "${f#"$d/root"} needs $lib, which this system does not have"
        pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | sed -n '1s/:.*//p') ||
            pkg=$(dpkg -S "$path" | sed -n '1s/:.*//p')
        [[ $pkg = libc6 ]] && continue
        grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends" || fail "${f#"$d/root"} needs $lib ($pkg), not in Depends: $depends"
    done
done < <(find "$d/root" -type f)
echo "Depends: $depends"
cdepends=$(dpkg-deb -f "$cdeb" Depends)
grep -Eq '(^|, )cockpit-bridge(,| |$)' <<<"$cdepends" || fail "cockpit-vhdcompact's Depends lacks cockpit-bridge: $cdepends"
grep -Eq '(^|, )vhdcompact(,| |$)' <<<"$cdepends" || fail "cockpit-vhdcompact's Depends lacks vhdcompact: $cdepends"
echo "cockpit-vhdcompact Depends: $cdepends"

echo "== installed into a throwaway root"
out=$("$d/root/usr/bin/vhdctl" --version) || fail "the installed vhdctl --version failed"
[[ $out = *"${version%%-*}"* ]] || fail "vhdctl --version says '$out', the package is $version"
echo "vhdctl --version: $out"
for u in /usr/lib/systemd/system /lib/systemd/system; do
    [[ -d $u ]] || continue
    mkdir -p "$d/root$u"
    cp -a --no-clobber "$u/." "$d/root$u/"
done
units=()
for u in vhd-compactd.service vhd-compact@.service vhd-compact@.timer vhd-compact-dir@.service vhd-compact-dir@.timer; do
    [[ -f $d/root/lib/systemd/system/$u ]] || fail "the package has no /lib/systemd/system/$u"
    units+=("$d/root/lib/systemd/system/$u")
done
inst=$(systemd-escape --path --template=vhd-compact@.service /srv/vm/disk.vhd)
dinst=$(systemd-escape --path --template=vhd-compact-dir@.service /srv/profiles)
units+=("$d/root/lib/systemd/system/$inst" "$d/root/lib/systemd/system/$dinst")
msgs=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no --root="$d/root" "${units[@]}" 2>&1) ||
    { echo "$msgs" >&2; fail "systemd-analyze verify of the installed units failed"; }
[[ -z $msgs ]] || { echo "$msgs" >&2; fail "systemd-analyze verify complained about the installed units"; }
echo "systemd-analyze verify: ${#units[@]} units clean"
echo "all package checks passed"
