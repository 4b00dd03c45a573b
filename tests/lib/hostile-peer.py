#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""A hostile client of the vacataire peer port (and control socket), for tests/integration/test-hostile-*.

It speaks the wire format of agent/frame.h independently (header, payload, HMAC-SHA256 over
receiver_nonce || sender_nonce || header || payload), so it can send frames that are almost
right. Each attack prints one JSON line describing what the agent did, and exits 0 when the
agent behaved (closed the connection in time, never answered a forged frame), 1 otherwise.

    hostile-peer.py random    HOST:PORT [--count N]          random bytes on N connections
    hostile-peer.py oversized HOST:PORT                      header announcing a huge payload
    hostile-peer.py truncated HOST:PORT                      half a frame, then silence
    hostile-peer.py bad-hmac  HOST:PORT --name N             HELLO signed with the wrong key
    hostile-peer.py forged    HOST:PORT --name N --type take|release [--hello FILE]
                              a request signed with an unknown key, after a forged HELLO or
                              after a real HELLO captured on the wire
    hostile-peer.py replay    HOST:PORT --capture FILE       captured bytes on a new connection
    hostile-peer.py flood     HOST:PORT --count N --seconds S [--reopen]
                              N idle connections held for S seconds (reopened when closed)
    hostile-peer.py slow      HOST:PORT --seconds S          one byte per second
    hostile-peer.py snapshot|steady --ctl CTL --baseline FILE [--settle S] SOCKET...
                              records each agent's state, epoch and peer link; then checks
                              they are unchanged and that status answers within 1 s
    hostile-peer.py control-send SOCKET DATA [--shutdown]
                              raw bytes (a Python bytes expression) on the control socket
    hostile-peer.py control-flood SOCKET [--count N] [--seconds S] [--reopen]
                              idle connections held on the control socket
    hostile-peer.py mitm      LISTEN_PORT TARGET --record DIR
                              a recording TCP relay; SIGUSR1 makes it send the next complete
                              frame from the dialing side twice (a replay on the same
                              connection), SIGUSR2 cuts the relayed connections
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MAGIC = 0x56435452
VERSION = 1
HEADER = struct.Struct(">IBBBBIIQQ")  # magic version type state flags len request_id counter epoch
HEADER_SIZE = 32
NONCE_SIZE = 32
HMAC_SIZE = 32
MAX_PAYLOAD = 512
TYPES = {"hello": 1, "heartbeat": 2, "take": 3, "take-done": 4, "take-failed": 5, "release": 6,
         "release-refused": 7, "released": 8}
assert HEADER.size == HEADER_SIZE


def encode(key, receiver_nonce, sender_nonce, ftype, counter, payload=b"", state=0, flags=0,
           request_id=0, epoch=0, payload_len=None):
    header = HEADER.pack(MAGIC, VERSION, ftype, state, flags,
                         len(payload) if payload_len is None else payload_len, request_id,
                         counter, epoch)
    mac = hmac.new(key, receiver_nonce + sender_nonce + header + payload, hashlib.sha256)
    return header + payload + mac.digest()


def encode_hello(key, nonce, name):
    return encode(key, bytes(NONCE_SIZE), nonce, TYPES["hello"], 0, nonce + name.encode())


def split_frames(data):
    """Complete frames at the start of data, and the rest."""
    frames = []
    while len(data) >= HEADER_SIZE:
        length = HEADER.unpack_from(data)[5]
        total = HEADER_SIZE + length + HMAC_SIZE
        if length > MAX_PAYLOAD or len(data) < total:
            break
        frames.append(data[:total])
        data = data[total:]
    return frames, data


def address(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def connect(target, timeout=2.0):
    s = socket.create_connection(address(target), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_closed(s, limit):
    """Reads until the agent closes; returns (seconds it took or None, bytes received)."""
    start = time.monotonic()
    received = b""
    while True:
        left = limit - (time.monotonic() - start)
        if left <= 0:
            return None, received
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return None, received
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start, received
        if not chunk:
            return time.monotonic() - start, received
        received += chunk


def send_quietly(s, data):
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False  # already refused: fine


def read_hello(s, limit=2.0):
    """The agent's HELLO (it sends one first on every connection): its nonce and name."""
    data = b""
    deadline = time.monotonic() + limit
    while True:
        frames, _ = split_frames(data)
        if frames:
            payload = frames[0][HEADER_SIZE:-HMAC_SIZE]
            return payload[:NONCE_SIZE], payload[NONCE_SIZE:].decode(errors="replace")
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("agent closed before its HELLO")
        data += chunk


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    return 0 if ok else 1


def one_shot(target, data, limit, name, expect_before=None):
    """Sends data on a new connection; the agent must close it within limit seconds (and, with
    expect_before, not before that many seconds) and send nothing but its own HELLO."""
    s = connect(target)
    send_quietly(s, data)
    took, received = wait_closed(s, limit)
    s.close()
    frames, _ = split_frames(received)
    # The agent sends its HELLO, and a heartbeat after a HELLO that verifies; nothing else.
    extra = [f[5] for f in frames if f[5] not in (TYPES["hello"], TYPES["heartbeat"])]
    ok = took is not None and not extra and (expect_before is None or took >= expect_before)
    return report(ok, attack=name, closed_after=took, frames_after_hello=extra)


def cmd_random(a):
    rng = random.Random(a.seed)
    failures = 0
    slowest = 0.0
    for _ in range(a.count):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(64, 2048)))
        s = connect(a.target)
        send_quietly(s, data)
        took, _ = wait_closed(s, 3.0)
        s.close()
        if took is None:
            failures += 1
        else:
            slowest = max(slowest, took)
    return report(failures == 0, attack="random", connections=a.count, not_closed=failures,
                  slowest_close=slowest)


def cmd_oversized(a):
    rc = 0
    for length in (MAX_PAYLOAD + 1, 0xFFFFFFFF):
        header = HEADER.pack(MAGIC, VERSION, TYPES["hello"], 0, 0, length, 0, 0, 0)
        rc |= one_shot(a.target, header, 1.0, "oversized-%d" % length)
    return rc


def cmd_truncated(a):
    key = os.urandom(32)
    frame = encode_hello(key, os.urandom(NONCE_SIZE), "someone")
    # The handshake deadline (at least 2 s) closes it, not the missing bytes.
    return one_shot(a.target, frame[: len(frame) // 2], 6.0, "truncated")


def cmd_bad_hmac(a):
    return one_shot(a.target, encode_hello(os.urandom(48), os.urandom(NONCE_SIZE), a.name), 1.0,
                    "bad-hmac")


def cmd_forged(a):
    """A TAKE or RELEASE from someone without the key. With --hello, the HELLO is a real one
    captured on the wire (it verifies: a HELLO binds no receiver nonce); the request after it
    cannot be signed without the key."""
    bad_key = os.urandom(48)
    s = connect(a.target)
    agent_nonce, _ = read_hello(s)
    if a.hello:
        with open(a.hello, "rb") as f:
            hello = split_frames(f.read())[0][0]
        sender_nonce = hello[HEADER_SIZE:HEADER_SIZE + NONCE_SIZE]
    else:
        sender_nonce = os.urandom(NONCE_SIZE)
        hello = encode_hello(bad_key, sender_nonce, a.name)
    request = encode(bad_key, agent_nonce, sender_nonce, TYPES[a.type], 1,
                     b"forged by hostile-peer", state=0, flags=0x07, request_id=4242,
                     epoch=a.epoch)
    send_quietly(s, hello + request)
    took, received = wait_closed(s, 1.0)
    s.close()
    frames, _ = split_frames(received)
    answers = [f[5] for f in frames if f[5] not in (TYPES["hello"], TYPES["heartbeat"])]
    return report(took is not None and not answers, attack="forged-" + a.type,
                  captured_hello=bool(a.hello), closed_after=took, answers=answers)


def cmd_replay(a):
    """Bytes recorded from a real connection, sent verbatim on a new one."""
    with open(a.capture, "rb") as f:
        frames, _ = split_frames(f.read())
    if len(frames) < 2:
        return report(False, attack="replay", error="capture holds %d frames" % len(frames))
    return one_shot(a.target, b"".join(frames[: a.frames]), 1.0, "replay")


def cmd_flood(a):
    """Holds up to count idle connections for seconds; with reopen, each one the agent closes
    is opened again at once. Reports how the agent handled them."""
    sel = selectors.DefaultSelector()
    opened = closed_by_agent = refused = 0
    deadline = time.monotonic() + a.seconds

    def open_one():
        nonlocal opened, refused
        s = socket.socket(socket.AF_INET6 if ":" in address(a.target)[0] else socket.AF_INET)
        s.setblocking(False)
        try:
            s.connect_ex(address(a.target))
        except OSError:
            refused += 1
            s.close()
            return
        opened += 1
        sel.register(s, selectors.EVENT_READ)

    for _ in range(a.count):
        open_one()
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(0.2, deadline - time.monotonic()))):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                continue  # the agent's HELLO: stay silent
            sel.unregister(s)
            s.close()
            closed_by_agent += 1
            if a.reopen and time.monotonic() < deadline:
                open_one()
    still_open = len(sel.get_map())
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return report(True, attack="flood", opened=opened, closed_by_agent=closed_by_agent,
                  still_open_at_end=still_open, connect_errors=refused)


def cmd_slow(a):
    """One byte per second of a plausible HELLO: the agent must not wait for it forever."""
    frame = encode_hello(os.urandom(48), os.urandom(NONCE_SIZE), "slowloris")
    s = connect(a.target)
    start = time.monotonic()
    sent = 0
    took = None
    try:
        while sent < len(frame) and time.monotonic() - start < a.seconds:
            s.sendall(frame[sent:sent + 1])
            sent += 1
            if wait_closed(s, 1.0)[0] is not None:
                took = time.monotonic() - start
                break
    except (BrokenPipeError, ConnectionResetError):
        took = time.monotonic() - start
    s.close()
    return report(took is not None, attack="slow", bytes_sent=sent, closed_after=took)


def ctl_status(ctl, sock):
    """status --json from one agent, and how long it took to answer."""
    start = time.monotonic()
    try:
        out = subprocess.run([ctl, "-s", sock, "status", "--json"], capture_output=True,
                             timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - start
    took = time.monotonic() - start
    try:
        s = json.loads(out.stdout)
    except ValueError:
        sys.stderr.write("%s: status: exit %d: %s" % (sock, out.returncode,
                                                      out.stderr.decode(errors="replace")))
        return None, took
    return {"state": s["state"], "epoch": s["epoch"], "handed_over": s.get("handed_over"),
            "peer_connected": s["peer"]["connected"], "peer_state": s["peer"]["state"]}, took


def cmd_snapshot(a):
    snap = {}
    for sock in a.sockets:
        snap[sock], took = ctl_status(a.ctl, sock)
        if snap[sock] is None:
            return report(False, check="snapshot", socket=sock, error="no status")
    with open(a.baseline, "w") as f:
        json.dump(snap, f)
    return report(True, check="snapshot", baseline=snap)


def cmd_steady(a):
    """Every agent still answers status within a second, in the state (and epoch, and peer
    link) of the baseline; within settle seconds for a link that was legitimately cut."""
    with open(a.baseline) as f:
        base = json.load(f)
    deadline = time.monotonic() + a.settle
    slowest = 0.0
    while True:
        now = {}
        for sock in base:
            now[sock], took = ctl_status(a.ctl, sock)
            slowest = max(slowest, took)
            if now[sock] is None or took > 1.0:
                return report(False, check="steady", socket=sock, answered_in=took,
                              error="no status answer within 1 s")
        if now == base:
            return report(True, check="steady", slowest_answer=round(slowest, 3))
        if time.monotonic() > deadline:
            return report(False, check="steady", expected=base, got=now)
        time.sleep(0.1)


def cmd_control_send(a):
    """Sends DATA (a Python bytes expression, e.g. b'x' * 2000) on the control socket, optionally shuts down the
    sending side, and prints the reply; the agent must answer (or close) within 2 s."""
    data = eval(a.data, {"__builtins__": {}})  # the test's own expression, not outside input
    if not isinstance(data, bytes):
        return report(False, attack="control-send", error="DATA is not bytes")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(a.socket)
    except OSError as e:
        return report(False, attack="control-send", error=str(e))
    send_quietly(s, data)
    if a.shutdown:
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    took, reply = wait_closed(s, 2.0)
    s.close()
    print(reply.decode(errors="replace"), end="", flush=True)
    return 0 if took is not None else 1


def cmd_control_flood(a):
    """Holds count idle connections on the control socket for seconds (with reopen, each one
    the agent closes is opened again at once)."""
    sel = selectors.DefaultSelector()
    opened = closed = errors = 0
    deadline = time.monotonic() + a.seconds

    def open_one():
        nonlocal opened, errors
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(a.socket)
        except OSError:
            errors += 1
            s.close()
            return
        s.setblocking(False)
        opened += 1
        sel.register(s, selectors.EVENT_READ)

    for _ in range(a.count):
        open_one()
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=max(0.0, min(0.2, deadline - time.monotonic()))):
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if data:
                continue
            sel.unregister(key.fileobj)
            key.fileobj.close()
            closed += 1
            if a.reopen and time.monotonic() < deadline:
                open_one()
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return report(True, attack="control-flood", opened=opened, closed_by_agent=closed,
                  connect_errors=errors)


def cmd_mitm(a):
    """A relay from LISTEN_PORT to TARGET that records both directions of each connection
    (dialer.N and listener.N in the record directory)."""
    os.makedirs(a.record, exist_ok=True)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", a.listen_port))
    lsock.listen(16)
    duplicate_next = threading.Event()
    live = []
    lock = threading.Lock()

    signal.signal(signal.SIGUSR1, lambda *_: duplicate_next.set())

    def cut(*_):
        with lock:
            for s in live:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    signal.signal(signal.SIGUSR2, cut)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    def pump(src, dst, path, from_dialer):
        pending = b""
        with open(path, "ab", buffering=0) as rec:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                rec.write(data)
                out = data
                if from_dialer:
                    pending += data
                    frames, pending = split_frames(pending)
                    # A heartbeat (never the HELLO) is sent a second time right after itself.
                    if duplicate_next.is_set() and any(f[5] == TYPES["heartbeat"] for f in frames):
                        duplicate_next.clear()
                        out = b""
                        done = False
                        for f in frames:
                            out += f
                            if not done and f[5] == TYPES["heartbeat"]:
                                out += f
                                done = True
                        out += pending
                        pending = b""
                try:
                    dst.sendall(out)
                except OSError:
                    break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    n = 0
    print(json.dumps({"mitm": "listening", "port": a.listen_port}), flush=True)
    while True:
        try:
            c, _ = lsock.accept()
        except InterruptedError:
            continue
        try:
            up = connect(a.target)
        except OSError:
            c.close()
            continue
        up.settimeout(None)
        c.settimeout(None)
        n += 1
        with lock:
            live[:] = [c, up]
        threading.Thread(target=pump, args=(c, up, "%s/dialer.%d" % (a.record, n), True),
                         daemon=True).start()
        threading.Thread(target=pump, args=(up, c, "%s/listener.%d" % (a.record, n), False),
                         daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, target=True):
        sp = sub.add_parser(name)
        if target:
            sp.add_argument("target")
        sp.set_defaults(fn=fn)
        return sp

    add("random", cmd_random).add_argument("--count", type=int, default=20)
    sub.choices["random"].add_argument("--seed", type=int, default=1)
    add("oversized", cmd_oversized)
    add("truncated", cmd_truncated)
    add("bad-hmac", cmd_bad_hmac).add_argument("--name", required=True)
    sp = add("forged", cmd_forged)
    sp.add_argument("--name", required=True)
    sp.add_argument("--type", choices=["take", "release"], required=True)
    sp.add_argument("--hello")
    sp.add_argument("--epoch", type=int, default=1 << 40)
    sp = add("replay", cmd_replay)
    sp.add_argument("--capture", required=True)
    sp.add_argument("--frames", type=int, default=8)
    sp = add("flood", cmd_flood)
    sp.add_argument("--count", type=int, default=300)
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.add_argument("--reopen", action="store_true")
    add("slow", cmd_slow).add_argument("--seconds", type=float, default=10.0)
    for name, fn in (("snapshot", cmd_snapshot), ("steady", cmd_steady)):
        sp = add(name, fn, target=False)
        sp.add_argument("--ctl", required=True)
        sp.add_argument("--baseline", required=True)
        sp.add_argument("--settle", type=float, default=0.0)
        sp.add_argument("sockets", nargs="+")
    sp = add("control-send", cmd_control_send, target=False)
    sp.add_argument("socket")
    sp.add_argument("data")
    sp.add_argument("--shutdown", action="store_true")
    sp = add("control-flood", cmd_control_flood, target=False)
    sp.add_argument("socket")
    sp.add_argument("--count", type=int, default=200)
    sp.add_argument("--seconds", type=float, default=5.0)
    sp.add_argument("--reopen", action="store_true")
    sp = add("mitm", cmd_mitm, target=False)
    sp.add_argument("listen_port", type=int)
    sp.add_argument("target")
    sp.add_argument("--record", required=True)

    a = p.parse_args()
    sys.exit(a.fn(a))


if __name__ == "__main__":
    main()
