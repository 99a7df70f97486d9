#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the Cockpit page asks the daemon (root, private system bus):
# - Manager.Analyze's report has "volumes" (aa{sv}): on a 64 MiB dynamic
#   VHD with an MBR, an ext4 partition and a FAT one over random bytes (so
#   their free space is allocated in the VHD), each volume's partition,
#   start, size, filesystem, cluster-size, used, free, clean, free-bytes
#   and note equal `vhdctl analyze --json`'s for the same disk (used and
#   free from its cluster counts), ext4's free equals dumpe2fs's free
#   blocks x block size, and the volumes' reclaimable bytes add up to
#   vhdctl's reclaimable-bytes (no free block begins outside a volume
#   here) and are not 0 for ext4; AnalyzeFd says the same; mode zero has
#   no volumes;
# - Manager.FindImages on a folder with two disks (one named .vhd, one
#   .img: found by content), a text file, a symbolic link to a disk (not
#   followed), a disk in a sub-folder and a FIFO: exactly the three disks,
#   sorted, truncated false; a relative path is InvalidArgs, a missing
#   folder FileNotFound, a file NotSupported, an unknown option
#   InvalidArgs; a folder holding more than 8 levels of folders has its
#   deep disk left out and truncated true; a user granted org.vhd.compact
#   by polkit gets the same answer, one without it AccessDenied; with
#   each search held 3 s in its child (VHDCOMPACT_TEST_FIND_SLEEP_MS), the
#   daemon answers other calls at once, a fifth search is refused
#   (TooManyJobs) and the four answer in full.
set -euo pipefail
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/bus-functions.sh"
(( EUID == 0 )) || skip "needs root (the daemon on a private system bus)"
requires dbus-daemon busctl qemu-img sfdisk mkfs.ext4 mkfs.fat dumpe2fs python3 mkfifo
requires_env VHD_COMPACTD VHD_WORKER VHDCTL
make_tmpdir
d=$tmpdir
cleanup_fn show_daemon_log_on_failure

# The disk: random bytes, an MBR, ext4 at 1-40 MiB holding files, FAT at
# 40-63 MiB.
head -c $((64 << 20)) /dev/urandom > "$d/raw"
printf 'label: dos\nstart=2048, size=79872, type=83\nstart=81920, size=47104, type=c\n' |
  sfdisk -q "$d/raw"
mkdir "$d/src"
for i in 1 2 3 4 5; do head -c $((i * 300000)) /dev/urandom > "$d/src/f$i"; done
head -c $((39 << 20)) /dev/urandom > "$d/p1"
mkfs.ext4 -q -F -E nodiscard -d "$d/src" "$d/p1" >/dev/null
head -c $((23 << 20)) /dev/urandom > "$d/p2"
mkfs.fat -n VOLS "$d/p2" >/dev/null
dd if="$d/p1" of="$d/raw" bs=1M seek=1 conv=notrunc status=none
dd if="$d/p2" of="$d/raw" bs=1M seek=40 conv=notrunc status=none
qemu-img convert -f raw -O vpc -o subformat=dynamic "$d/raw" "$d/disk.vhd"
fs_free=$(dumpe2fs -h "$d/p1" 2>/dev/null | sed -n 's/^Free blocks: *//p')
fs_bsize=$(dumpe2fs -h "$d/p1" 2>/dev/null | sed -n 's/^Block size: *//p')
rm -f -- "$d/raw" "$d/p1" "$d/p2"

py=$(_bus_python)
start_test_bus
start_daemon

call ()
{
  busctl --system --json=short call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager "$@"
}

vhdctl_attaching analyze --json "$d/disk.vhd" > "$d/vhdctl.json"
call Analyze 'sa{sv}' "$d/disk.vhd" 0 > "$d/bus.json"
call Analyze 'sa{sv}' "$d/disk.vhd" 1 mode s zero > "$d/bus-zero.json"
"$py" - "$d/disk.vhd" > "$d/bus-fd.json" <<'PY'
import dbus, json, os, sys
bus = dbus.SystemBus()
m = dbus.Interface(bus.get_object("org.vhd.Compact", "/org/vhd/Compact"), "org.vhd.Compact.Manager")
fd = os.open(sys.argv[1], os.O_RDONLY)
r = m.AnalyzeFd(dbus.types.UnixFd(fd), {}, timeout=120)
vols = [{str(k): (bool(v) if isinstance(v, dbus.Boolean) else str(v) if isinstance(v, dbus.String) else int(v))
         for k, v in vol.items()} for vol in r["volumes"]]
print(json.dumps(vols))
PY

python3 - "$d/vhdctl.json" "$d/bus.json" "$d/bus-zero.json" "$d/bus-fd.json" "$fs_free" "$fs_bsize" <<'PY'
import json, sys
cli = json.load(open(sys.argv[1]))
bus = json.load(open(sys.argv[2]))["data"][0]
zero = json.load(open(sys.argv[3]))["data"][0]
fdvols = json.load(open(sys.argv[4]))
fs_free, fs_bsize = int(sys.argv[5]), int(sys.argv[6])
def fail(msg):
    print("test-daemon-volumes.sh: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)
vols = [{k: v["data"] for k, v in vol.items()} for vol in bus["volumes"]["data"]]
if len(vols) != len(cli["volumes"]) or len(vols) != 2:
    fail("Analyze has %d volumes, vhdctl %d (expected 2)" % (len(vols), len(cli["volumes"])))
for b, c in zip(vols, cli["volumes"]):
    cs = c.get("cluster-size", 0)
    want = {
        "partition": c["partition"], "start": c["offset"], "size": c["size"],
        "filesystem": c["filesystem"] or "", "scanned": c["scanned"], "cluster-size": cs,
        "used": c.get("clusters-used", 0) * cs, "free": c.get("clusters-free", 0) * cs,
        "free-bytes": c["free-bytes"], "clean": c.get("clean", False), "note": c.get("note", ""),
    }
    for k, v in want.items():
        if b.get(k) != v:
            fail("volume %d: %s is %r on the bus, %r from vhdctl analyze --json" % (c["partition"], k, b.get(k), v))
if vols[0]["filesystem"] != "ext2/3/4" or vols[1]["filesystem"] != "fat":
    fail("file systems %r, %r" % (vols[0]["filesystem"], vols[1]["filesystem"]))
if vols[0]["free"] != fs_free * fs_bsize:
    fail("ext4 free %d, dumpe2fs says %d x %d" % (vols[0]["free"], fs_free, fs_bsize))
if not vols[0]["used"] or not vols[0]["clean"]:
    fail("ext4 used %d clean %r" % (vols[0]["used"], vols[0]["clean"]))
total = sum(v["reclaimable"] for v in vols)
if total != cli["reclaimable-bytes"] or vols[0]["reclaimable"] == 0:
    fail("reclaimable per volume %r, vhdctl's total %d" % ([v["reclaimable"] for v in vols], cli["reclaimable-bytes"]))
if zero["volumes"]["data"]:
    fail("mode zero reports volumes: %r" % zero["volumes"]["data"])
if fdvols != vols:
    fail("AnalyzeFd's volumes differ: %r vs %r" % (fdvols, vols))
print("volumes: %r" % [(v["filesystem"], v["used"], v["free"], v["reclaimable"]) for v in vols])
PY

# FindImages.
f=$d/folder
mkdir -p "$f/sub" "$f/x"
cp -- "$d/disk.vhd" "$f/a.vhd"
qemu-img create -q -f vpc -o subformat=dynamic "$f/sub/b.img" 16M
qemu-img create -q -f vhdx "$f/c.vhdx" 16M
echo "not a disk" > "$f/notes.vhd"
head -c 4096 /dev/urandom > "$f/random.bin"
ln -s "$d/disk.vhd" "$f/link.vhd"
ln -s "$d" "$f/x/up"
mkfifo "$f/pipe.vhd"
out=$(call FindImages 'sa{sv}' "$f" 0)
want=$(python3 -c 'import json, sys; print(json.dumps({"type": "asb", "data": [sys.argv[1:], False]}, separators=(",", ":")))' \
  "$f/a.vhd" "$f/c.vhdx" "$f/sub/b.img")
[[ $out = "$want" ]] || fail "FindImages: $out, expected $want"

"$py" - "$f" "$d" <<'PY'
import dbus, sys
f, d = sys.argv[1], sys.argv[2]
bus = dbus.SystemBus()
m = dbus.Interface(bus.get_object("org.vhd.Compact", "/org/vhd/Compact"), "org.vhd.Compact.Manager")
cases = [("relative/path", {}, "org.freedesktop.DBus.Error.InvalidArgs"),
         (d + "/missing", {}, "org.freedesktop.DBus.Error.FileNotFound"),
         (f + "/a.vhd", {}, "org.vhd.Compact.Error.NotSupported"),
         (f, {"depth": dbus.UInt32(3)}, "org.freedesktop.DBus.Error.InvalidArgs")]
for path, opts, name in cases:
    try:
        r = m.FindImages(path, dbus.Dictionary(opts, signature="sv"))
        print("test-daemon-volumes.sh: FAIL: FindImages %s succeeded: %r" % (path, r), file=sys.stderr)
        sys.exit(1)
    except dbus.DBusException as e:
        if e.get_dbus_name() != name:
            print("test-daemon-volumes.sh: FAIL: FindImages %s: %s, expected %s" % (path, e.get_dbus_name(), name),
                  file=sys.stderr)
            sys.exit(1)
        print("FindImages %s: %s: %s" % (path, e.get_dbus_name(), e.get_dbus_message()))
PY

# Depth: a disk 10 folders down is beyond the limit of 8.
deep=$d/deep
mkdir -p "$deep/1/2/3/4/5/6/7/8/9/10"
qemu-img create -q -f vpc -o subformat=dynamic "$deep/1/2/3/4/5/6/7/8/9/10/far.vhd" 8M
qemu-img create -q -f vpc -o subformat=dynamic "$deep/1/2/near.vhd" 8M
out=$(call FindImages 'sa{sv}' "$deep" 0)
want=$(python3 -c 'import json, sys; print(json.dumps({"type": "asb", "data": [sys.argv[1:], True]}, separators=(",", ":")))' \
  "$deep/1/2/near.vhd")
[[ $out = "$want" ]] || fail "FindImages (deep): $out, expected $want"
# Authorisation: a user granted org.vhd.compact by polkit may search, one
# without it gets AccessDenied (root was the caller above).  Skipped where
# polkitd cannot run here.
if [[ -x ${POLKITD:-/usr/lib/polkit-1/polkitd} && -d /etc/polkit-1/rules.d ]] &&
   getent passwd polkitd >/dev/null && command -v useradd >/dev/null &&
   unshare --mount --propagation private true 2>/dev/null; then
  make_test_user
  granted=$test_user
  start_polkitd "$granted"
  make_test_user
  other=$test_user
  out=$(AS_USER_PRELOAD=0 as_user -u "$granted" busctl --system --json=short call org.vhd.Compact /org/vhd/Compact \
          org.vhd.Compact.Manager FindImages 'sa{sv}' "$deep" 0) || fail "FindImages as $granted (granted): $out"
  [[ $out = "$want" ]] || fail "FindImages as $granted: $out, expected $want"
  if err=$(AS_USER_PRELOAD=0 as_user -u "$other" busctl --system call org.vhd.Compact /org/vhd/Compact \
             org.vhd.Compact.Manager FindImages 'sa{sv}' "$deep" 0 2>&1); then
    fail "FindImages as $other (not granted) succeeded: $err"
  fi
  [[ $err = *"not authorised to look for disks"* ]] || fail "FindImages as $other: $err"
  echo "FindImages: $granted (polkit yes) may, $other may not: $err"
else
  echo "$testname: polkitd cannot run here: the authorisation part is skipped"
fi
# The walk runs in a child: with each search held 3 s (test hook), four
# at once leave the daemon answering at once, a fifth is TooManyJobs, and
# the four then answer in full.
stop_daemon
start_daemon VHDCOMPACT_TEST_FIND_SLEEP_MS=3000
want_f=$(python3 -c 'import json, sys; print(json.dumps({"type": "asb", "data": [sys.argv[1:], False]}, separators=(",", ":")))' \
  "$f/a.vhd" "$f/c.vhdx" "$f/sub/b.img")
pids=()
for i in 1 2 3 4; do
  call FindImages 'sa{sv}' "$f" 0 > "$d/slow$i.json" &
  pids+=($!)
done
sleep 0.5
t0=$(date +%s%N)
busctl --system get-property org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager Version >/dev/null ||
  fail "the daemon does not answer while searches run"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
(( ms < 1500 )) || fail "the daemon took $ms ms to answer while searches run"
if err=$(busctl --system call org.vhd.Compact /org/vhd/Compact org.vhd.Compact.Manager FindImages 'sa{sv}' "$f" 0 2>&1); then
  fail "a fifth search ran: $err"
fi
[[ $err = *"searches for disks are running"* ]] || fail "a fifth search: $err"
for i in 1 2 3 4; do
  wait "${pids[$((i - 1))]}" || fail "search $i failed"
  [[ $(cat "$d/slow$i.json") = "$want_f" ]] || fail "search $i: $(cat "$d/slow$i.json")"
done
echo "slow searches: the daemon answered in $ms ms; a fifth: $err"
echo "$testname: ok"
