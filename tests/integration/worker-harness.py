#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Plays vhd-compactd for one vhd-compact-worker (daemon/worker-protocol.h),
# for tests/integration/test-worker.sh.
#
#   worker-harness.py [OPTIONS] DISK -- WORKER [ARGS...]
#
# Starts WORKER ARGS with a SOCK_SEQPACKET control socket at fd 3, DISK at
# fd 4 (read-write, or read-only with --readonly) and DISK's folder at fd 5,
# answers its "open PATH" requests as the daemon's broker does (regular
# *.vhd / *.avhd files only, read-only), and prints the conversation:
#
#   < MESSAGE      from the worker (an "fd" answer shows as "> fd")
#   > MESSAGE      to the worker
#   exit N         the worker's exit status (or "signal N")
#
# Options:
#   --readonly          DISK at fd 4 is opened read-only (a dry run)
#   --dir DIR           pass DIR at fd 5 instead of DISK's folder
#   --no-dir            leave fd 5 closed
#   --deny-open ERRNO   answer every "open" with "error ERRNO"
#   --cancel-at PREFIX  send "cancel" after the first message from the
#                       worker that starts with PREFIX ("" = at once, before
#                       reading anything)
#   --setpriv           run WORKER as nobody:nogroup with no_new_privs
#                       (setpriv); DISK and the folder are opened here, as
#                       the caller
#
# Exit status: 0 when the worker kept to the protocol (every message known
# and well-formed, at most WORKER_MSG_MAX bytes, exactly one result, last,
# and exit 0 after "result ok", 1 after "result fail"); 3 otherwise, with the
# reason on stderr.  The test judges the content.
import argparse
import fcntl
import os
import re
import socket
import stat
import subprocess
import sys

MSG_MAX = 4096
PHASES = ("attaching", "scanning", "moving", "truncating")
OK_KEYS = ["mode", "size-before", "size-after", "blocks-allocated",
           "blocks-dropped-fs", "blocks-dropped-zero", "blocks-dropped-fs-zero", "blocks-moved",
           "bytes-moved", "bytes-read", "bytes-written", "seconds",
           "allocated-before", "allocated-after"]
# With --no-block-moves, one more at the end.
OK_KEYS_NO_MOVES = OK_KEYS + ["bytes-punched"]


def protocol_error(why):
    print(f"worker-harness: protocol violation: {why}", file=sys.stderr)
    sys.exit(3)


def check_message(msg, state):
    """Checks one worker message; returns the PATH of an open request."""
    if state["result"] is not None:
        protocol_error(f"message after the result: {msg!r}")
    verb, _, rest = msg.partition(" ")
    if verb == "phase":
        if rest not in PHASES:
            protocol_error(f"unknown phase {rest!r}")
    elif verb == "progress":
        m = re.fullmatch(r"(\d+) (\d+)", rest)
        if not m or int(m.group(1)) > int(m.group(2)):
            protocol_error(f"bad progress {rest!r}")
    elif verb == "planned":
        if not re.fullmatch(r"\d+ \d+", rest):
            protocol_error(f"bad planned {rest!r}")
    elif verb == "volume":
        # P START SIZE CLUSTER USED FREE FSFREE RECLAIM 0|1 0|1 FS[ NOTE]
        if not re.fullmatch(r"(0|[1-9]\d*)( (0|[1-9]\d*)){7} [01] [01] [!-~]{1,31}( [^\x00-\x1f\x7f]*)?", rest):
            protocol_error(f"bad volume {rest!r}")
        state["volumes"] = state.get("volumes", 0) + 1
        if state["volumes"] > 128:
            protocol_error("more than 128 volume messages")
    elif verb == "open":
        if not rest:
            protocol_error("open without a path")
        return rest
    elif verb == "result":
        state["result"] = rest
        if rest.startswith("ok "):
            keys = [kv.split("=", 1)[0] for kv in rest[3:].split(" ")]
            if keys != OK_KEYS and keys != OK_KEYS_NO_MOVES:
                protocol_error(f"result ok keys {keys}, expected {OK_KEYS}")
        elif not re.fullmatch(r"fail [1-9]\d* \S+ \S.*", rest):
            protocol_error(f"bad result {rest!r}")
    else:
        protocol_error(f"unknown message {msg!r}")
    return None


def broker_open(path):
    """What the daemon's broker answers: a descriptor or an errno."""
    if not re.search(r"\.a?vhd$", path, re.IGNORECASE):
        return None, 1
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        return None, e.errno
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None, 1
    return fd, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readonly", action="store_true")
    ap.add_argument("--dir")
    ap.add_argument("--no-dir", action="store_true")
    ap.add_argument("--deny-open", type=int)
    ap.add_argument("--cancel-at")
    ap.add_argument("--setpriv", action="store_true")
    ap.add_argument("disk")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no worker command")

    low, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # Our end too must stay clear of 3-5, which the worker's fds replace.
    ours = socket.socket(fileno=fcntl.fcntl(low.fileno(), fcntl.F_DUPFD_CLOEXEC, 10))
    low.close()
    disk = os.open(a.disk, (os.O_RDONLY if a.readonly else os.O_RDWR) | os.O_CLOEXEC)
    folder = None
    if not a.no_dir:
        folder = os.open(a.dir or os.path.dirname(os.path.abspath(a.disk)),
                         os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    # Out of the way of 3-5 first, then into place (pass_fds keeps numbers).
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) if fd is not None else None
            for fd in (theirs.fileno(), disk, folder)]
    theirs.close()
    os.close(disk)
    if folder is not None:
        os.close(folder)
    keep = []
    for target, fd in zip((3, 4, 5), high):
        if fd is None:
            continue
        os.dup2(fd, target, inheritable=True)
        os.close(fd)
        keep.append(target)
    if a.setpriv:
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
               "--no-new-privs", "--"] + cmd
    proc = subprocess.Popen(cmd, pass_fds=keep, close_fds=True)
    for fd in keep:
        os.close(fd)

    state = {"result": None}
    if a.cancel_at == "":
        ours.send(b"cancel")
        print("> cancel", flush=True)
    cancelled = a.cancel_at == ""
    while True:
        data = ours.recv(MSG_MAX + 1)
        if not data:
            break
        if len(data) > MSG_MAX:
            protocol_error(f"message of {len(data)} bytes")
        try:
            msg = data.decode()
        except UnicodeDecodeError:
            protocol_error(f"message not UTF-8: {data!r}")
        print(f"< {msg}", flush=True)
        path = check_message(msg, state)
        if path is not None:
            if a.deny_open is not None:
                fd, err = None, a.deny_open
            else:
                fd, err = broker_open(path)
            if fd is not None:
                socket.send_fds(ours, [b"fd"], [fd])
                os.close(fd)
                print("> fd", flush=True)
            else:
                ours.send(f"error {err}".encode())
                print(f"> error {err}", flush=True)
        if not cancelled and a.cancel_at is not None and msg.startswith(a.cancel_at):
            ours.send(b"cancel")
            print("> cancel", flush=True)
            cancelled = True
    status = proc.wait()
    print(f"exit {status}" if status >= 0 else f"signal {-status}", flush=True)
    if state["result"] is None:
        protocol_error("no result")
    want = 0 if state["result"].startswith("ok ") else 1
    if status != want:
        protocol_error(f"exit status {status} after 'result {state['result'].split(' ')[0]}'")
    return 0



if __name__ == "__main__":
    sys.exit(main())
