#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""A hostile client of the vacataire peer port (and control socket), for tests/integration/test-hostile-*.

It speaks the wire format of agent/frame.h (version 2) independently: the clear header, HELLO,
the BLAKE2b key derivation and ChaCha20-Poly1305 (RFC 8439, written out below: Python's stdlib
has BLAKE2b but no AEAD; `selftest` checks it against the RFC's test vector), so it can send
frames that are almost right. An attacker has no key: "wrong key" frames are sealed under a
random one. Each attack prints one JSON line describing what the agent did, and exits 0 when the
agent behaved (closed the connection in time, never answered beyond its HELLO and AUTH), 1
otherwise.

    hostile-peer.py selftest                                 the AEAD against RFC 8439 2.8.2
    hostile-peer.py random    HOST:PORT [--count N]          random bytes on N connections
    hostile-peer.py oversized HOST:PORT                      header announcing a huge body
    hostile-peer.py truncated HOST:PORT                      half a frame, then silence
    hostile-peer.py wrong-key HOST:PORT --name N             full handshake with the wrong key
    hostile-peer.py forged    HOST:PORT --name N --type take|release [--hello FILE]
                              a request sealed with an unknown key, after a forged HELLO or
                              after a real HELLO captured on the wire
    hostile-peer.py replay    HOST:PORT --capture FILE       captured bytes on a new connection
    hostile-peer.py flood     HOST:PORT --count N --seconds S [--reopen] [--hello FILE]
                              N idle connections held for S seconds (reopened when closed),
                              each sending a captured HELLO first with --hello
    hostile-peer.py source    HOST:PORT --source ADDR        a connection from another address
    hostile-peer.py splice    HOST:PORT HOST:PORT --relay S --hold S
                              connects to both agents' peer ports, relays bytes between the
                              two connections for S seconds, then holds both silent
    hostile-peer.py snapshot|steady --ctl CTL --baseline FILE [--settle S] SOCKET...
                              records each agent's state, epoch and peer link; then checks
                              they are unchanged and that status answers within 1 s
    hostile-peer.py control-send SOCKET DATA [--shutdown]
                              raw bytes (a Python bytes expression) on the control socket
    hostile-peer.py control-flood SOCKET [--count N] [--seconds S] [--reopen]
                              idle connections held on the control socket
    hostile-peer.py mitm      LISTEN_PORT TARGET --record DIR
                              a recording TCP relay (each direction's bytes, and the arrival
                              time of each frame in a .times file beside them); SIGUSR1 makes it send the next complete
                              sealed frame (counter >= 2) from the dialing side twice (a replay on
                              the same connection), SIGUSR2 cuts the relayed connections; each
                              relayed connection is logged with its time
"""

import argparse
import collections
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
VERSION = 2
HEADER = struct.Struct(">IBBHIQ")  # magic version kind reserved body_len counter
HEADER_SIZE = 20
INNER = struct.Struct(">BBBBIQ")  # type state flags reserved request_id epoch
INNER_SIZE = 16
TAG_SIZE = 16
NONCE_SIZE = 32
NAME_MAX = 63
MAX_PAYLOAD = 512
MAX_BODY = INNER_SIZE + MAX_PAYLOAD + TAG_SIZE
KIND_HELLO, KIND_SEALED = 1, 2
TYPES = {"hello": 1, "heartbeat": 2, "take": 3, "take-done": 4, "take-failed": 5, "release": 6,
         "release-refused": 7, "released": 8, "auth": 9, "refused": 10}
assert HEADER.size == HEADER_SIZE and INNER.size == INNER_SIZE


# ChaCha20-Poly1305 (RFC 8439), slow and simple: a few frames per connection.
def _rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def _chacha_block(key, counter, nonce):
    c = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s = c + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    x = s[:]

    def qr(a, b, c_, d):
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF; x[d] = _rotl(x[d] ^ x[a], 16)
        x[c_] = (x[c_] + x[d]) & 0xFFFFFFFF; x[b] = _rotl(x[b] ^ x[c_], 12)
        x[a] = (x[a] + x[b]) & 0xFFFFFFFF; x[d] = _rotl(x[d] ^ x[a], 8)
        x[c_] = (x[c_] + x[d]) & 0xFFFFFFFF; x[b] = _rotl(x[b] ^ x[c_], 7)

    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<16I", *((x[i] + s[i]) & 0xFFFFFFFF for i in range(16)))


def _chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        block = _chacha_block(key, counter + i // 64, nonce)
        out += bytes(a ^ b for a, b in zip(data[i:i + 64], block))
    return bytes(out)


def _poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s_ = int.from_bytes(key[16:], "little")
    acc, p = 0, (1 << 130) - 5
    for i in range(0, len(msg), 16):
        n = int.from_bytes(msg[i:i + 16] + b"\x01", "little")
        acc = (acc + n) * r % p
    return ((acc + s_) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(b):
    return b"\x00" * (-len(b) % 16)


def aead_seal(key, nonce, plaintext, ad):
    otk = _chacha_block(key, 0, nonce)[:32]
    ct = _chacha20(key, 1, nonce, plaintext)
    mac = _poly1305(otk, ad + _pad16(ad) + ct + _pad16(ct) +
                    struct.pack("<QQ", len(ad), len(ct)))
    return ct + mac


def aead_open(key, nonce, sealed, ad):
    ct, tag = sealed[:-16], sealed[-16:]
    otk = _chacha_block(key, 0, nonce)[:32]
    mac = _poly1305(otk, ad + _pad16(ad) + ct + _pad16(ct) +
                    struct.pack("<QQ", len(ad), len(ct)))
    if not hmac.compare_digest(mac, tag):
        return None
    return _chacha20(key, 1, nonce, ct)


def session_keys(shared_key, dialer_hello, listener_hello, we_dial):
    """The two direction keys of a connection (send, receive), from the HELLO bodies."""
    base = hashlib.blake2b(b"vacataire peer key v2\x00" + shared_key, digest_size=32).digest()
    t = hashlib.blake2b(b"vacataire handshake v2\x00" + bytes([len(dialer_hello)]) + dialer_hello +
                        bytes([len(listener_hello)]) + listener_hello, digest_size=32).digest()
    d2l = hashlib.blake2b(b"dialer to listener\x00" + t, key=base, digest_size=32).digest()
    l2d = hashlib.blake2b(b"listener to dialer\x00" + t, key=base, digest_size=32).digest()
    return (d2l, l2d) if we_dial else (l2d, d2l)


def encode_hello(nonce, name):
    body = nonce + name.encode()
    return HEADER.pack(MAGIC, VERSION, KIND_HELLO, 0, len(body), 0) + body


def encode_sealed(key, ftype, counter, payload=b"", state=0, flags=0, request_id=0, epoch=0):
    header = HEADER.pack(MAGIC, VERSION, KIND_SEALED, 0, INNER_SIZE + len(payload) + TAG_SIZE,
                         counter)
    inner = INNER.pack(ftype, state, flags, 0, request_id, epoch) + payload
    return header + aead_seal(key, bytes(4) + struct.pack(">Q", counter), inner, header)


def split_frames(data):
    """Complete frames at the start of data, and the rest."""
    frames = []
    while len(data) >= HEADER_SIZE:
        _, _, _, _, length, _ = HEADER.unpack_from(data)
        total = HEADER_SIZE + length
        if length > MAX_BODY or len(data) < total:
            break
        frames.append(data[:total])
        data = data[total:]
    return frames, data


def frame_kind(f):
    return f[5]


def frame_counter(f):
    return HEADER.unpack_from(f)[5]


def hello_body(f):
    return f[HEADER_SIZE:]


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
    """The agent's HELLO (it sends one first on every connection): its body (nonce, name), and
    whatever came after it."""
    data = b""
    deadline = time.monotonic() + limit
    while True:
        frames, _ = split_frames(data)
        if frames:
            if frame_kind(frames[0]) != KIND_HELLO:
                raise RuntimeError("agent did not start with a HELLO")
            return hello_body(frames[0]), data[len(frames[0]):]
        s.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("agent closed before its HELLO")
        data += chunk


def report(ok, **fields):
    fields["ok"] = ok
    print(json.dumps(fields), flush=True)
    return 0 if ok else 1


def agent_answers(received):
    """What the agent sent beyond its HELLO and its AUTH (the only sealed frame it may send
    before the other side proved the key): a list of (kind, counter)."""
    frames, _ = split_frames(received)
    return [(frame_kind(f), frame_counter(f)) for f in frames
            if not (frame_kind(f) == KIND_HELLO or
                    (frame_kind(f) == KIND_SEALED and frame_counter(f) == 0))]


def one_shot(target, data, limit, name, expect_before=None):
    """Sends data on a new connection; the agent must close it within limit seconds (and, with
    expect_before, not before that many seconds) and send nothing but its own HELLO and AUTH."""
    s = connect(target)
    send_quietly(s, data)
    took, received = wait_closed(s, limit)
    s.close()
    extra = agent_answers(received)
    ok = took is not None and not extra and (expect_before is None or took >= expect_before)
    return report(ok, attack=name, closed_after=took, frames_after_auth=extra)


def cmd_selftest(a):
    """RFC 8439 section 2.8.2, and a round trip."""
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    ad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
          b"the future, sunscreen would be it.")
    sealed = aead_seal(key, nonce, pt, ad)
    ok = (sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691" and
          sealed[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2" and
          aead_open(key, nonce, sealed, ad) == pt and
          aead_open(key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), ad) is None)
    return report(ok, check="selftest")


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
    for length in (MAX_BODY + 1, 0xFFFFFFFF):
        header = HEADER.pack(MAGIC, VERSION, KIND_SEALED, 0, length, 0)
        rc |= one_shot(a.target, header, 1.0, "oversized-%d" % length)
    return rc


def cmd_truncated(a):
    frame = encode_hello(os.urandom(NONCE_SIZE), "someone")
    # The handshake deadline (at least 2 s) closes it, not the missing bytes.
    return one_shot(a.target, frame[: len(frame) // 2], 6.0, "truncated")


def handshake_with(s, key, name, hello=None):
    """Plays the dialer on s: sends a HELLO (ours, or a captured one), reads the agent's, and
    returns our send key derived from key (the agent's own HELLO is the listener's)."""
    agent_hello, _ = read_hello(s)
    hello = hello or encode_hello(os.urandom(NONCE_SIZE), name)
    send_quietly(s, hello)
    send_key, _ = session_keys(key, hello_body(hello), agent_hello, True)
    return send_key


def cmd_wrong_key(a):
    """A full handshake by someone holding another key: the agent refuses our AUTH."""
    s = connect(a.target)
    k = handshake_with(s, os.urandom(48), a.name)
    send_quietly(s, encode_sealed(k, TYPES["auth"], 0))
    took, received = wait_closed(s, 1.0)
    s.close()
    extra = agent_answers(received)
    return report(took is not None and not extra, attack="wrong-key", closed_after=took,
                  frames_after_auth=extra)


def cmd_forged(a):
    """A TAKE or RELEASE from someone without the key. With --hello, the HELLO is a real one
    captured on the wire (a HELLO is clear and proves nothing); the AUTH and the request after
    it cannot be sealed without the key."""
    hello = None
    if a.hello:
        with open(a.hello, "rb") as f:
            hello = split_frames(f.read())[0][0]
    s = connect(a.target)
    k = handshake_with(s, os.urandom(48), a.name, hello)
    request = encode_sealed(k, TYPES[a.type], 1, b"forged by hostile-peer", state=0,
                            flags=0x07, request_id=4242, epoch=a.epoch)
    send_quietly(s, encode_sealed(k, TYPES["auth"], 0) + request)
    took, received = wait_closed(s, 1.0)
    s.close()
    answers = agent_answers(received)
    return report(took is not None and not answers, attack="forged-" + a.type,
                  captured_hello=bool(a.hello), closed_after=took, answers=answers)


def cmd_replay(a):
    """Bytes recorded from a real connection, sent verbatim on a new one."""
    with open(a.capture, "rb") as f:
        frames, _ = split_frames(f.read())
    if len(frames) < 2:
        return report(False, attack="replay", error="capture holds %d frames" % len(frames))
    return one_shot(a.target, b"".join(frames[: a.frames]), 1.0, "replay")


def cmd_keyed(a):
    """Interoperability: a handshake with the real key (read from --key, as the agent reads it),
    up to decrypting the agent's AUTH with the keys derived here; our own AUTH is not sent, so
    nothing is adopted and the agent closes at its handshake deadline."""
    with open(a.key, "rb") as f:
        key = f.read()
    s = connect(a.target)
    agent_hello, rest = read_hello(s)
    hello = encode_hello(os.urandom(NONCE_SIZE), a.name)
    send_quietly(s, hello)
    _, recv_key = session_keys(key, hello_body(hello), agent_hello, True)
    data = rest
    deadline = time.monotonic() + 2.0
    while not split_frames(data)[0] and time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    frames, _ = split_frames(data)
    if not frames:
        return report(False, check="keyed", error="no AUTH from the agent")
    f = frames[0]
    inner = aead_open(recv_key, bytes(4) + struct.pack(">Q", frame_counter(f)),
                      f[HEADER_SIZE:], f[:HEADER_SIZE])
    ok = inner is not None and inner[0] == TYPES["auth"]
    return report(ok, check="keyed", agent_name=agent_hello[NONCE_SIZE:].decode(errors="replace"),
                  auth_decrypted=inner is not None)


def cmd_source(a):
    """A connection from another local address than the configured peer's: closed at once,
    before any HELLO."""
    host, port = address(a.target)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((a.source, 0))
    s.settimeout(2.0)
    s.connect((host, port))
    took, received = wait_closed(s, 1.0)
    s.close()
    return report(took is not None and not received, attack="source", source=a.source,
                  closed_after=took, bytes_received=len(received))


def cmd_splice(a):
    """Connects to both agents' peer ports and relays bytes between the two connections for
    --relay seconds (each agent talks to the other through us, each believing it accepted the
    other's dial), then holds both sockets open and silent for --hold seconds."""
    x, y = connect(a.targets[0]), connect(a.targets[1])
    relayed = {"x": 0, "y": 0}
    closed = {}
    sel = selectors.DefaultSelector()
    sel.register(x, selectors.EVENT_READ, ("x", y))
    sel.register(y, selectors.EVENT_READ, ("y", x))
    start = time.monotonic()
    relay_end = start + a.relay
    end = relay_end + a.hold
    while time.monotonic() < end and len(closed) < 2:
        for key, _ in sel.select(timeout=0.05):
            name, other = key.data
            try:
                data = key.fileobj.recv(65536)
            except OSError:
                data = b""
            if not data:
                closed[name] = round(time.monotonic() - start, 3)
                sel.unregister(key.fileobj)
                continue
            if time.monotonic() < relay_end:
                relayed[name] += len(data)
                send_quietly(other, data)
    x.close()
    y.close()
    # The agents must not have adopted the spliced connection: they close it at the handshake
    # deadline at the latest.
    return report(len(closed) == 2, attack="splice", relayed_bytes=relayed, closed_after=closed)


def cmd_flood(a):
    """Holds up to count idle connections for seconds; with reopen, each one the agent closes
    is opened again at once. Reports how the agent handled them."""
    sel = selectors.DefaultSelector()
    opened = closed_by_agent = refused = 0
    deadline = time.monotonic() + a.seconds
    hello = b""
    if a.hello:
        with open(a.hello, "rb") as f:
            hello = split_frames(f.read())[0][0]

    def open_one():
        nonlocal opened, refused
        s = socket.socket(socket.AF_INET6 if ":" in address(a.target)[0] else socket.AF_INET)
        try:
            # Blocking connect on loopback is immediate; the HELLO goes out at once.
            s.settimeout(1.0)
            s.connect(address(a.target))
            if hello:
                s.sendall(hello)
            s.setblocking(False)
        except OSError:
            refused += 1
            s.close()
            return
        opened += 1
        sel.register(s, selectors.EVENT_READ)

    if a.churn:
        # As many new connections as we can: each sends its HELLO, and the oldest of ours is
        # closed once count are open.
        held = collections.deque()
        while time.monotonic() < deadline:
            s = socket.socket(socket.AF_INET6 if ":" in address(a.target)[0] else socket.AF_INET)
            try:
                s.settimeout(0.2)
                s.connect(address(a.target))
                if hello:
                    s.sendall(hello)
            except OSError:
                refused += 1
                s.close()
                continue
            opened += 1
            held.append(s)
            if len(held) > a.count:
                held.popleft().close()
        for s in held:
            s.close()
        return report(True, attack="flood-churn", opened=opened, connect_errors=refused,
                      per_second=round(opened / a.seconds), replayed_hello=bool(hello))
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
                  still_open_at_end=still_open, connect_errors=refused,
                  per_second=round(opened / a.seconds), replayed_hello=bool(hello))


def cmd_slow(a):
    """One byte per second of a plausible HELLO: the agent must not wait for it forever."""
    frame = encode_hello(os.urandom(NONCE_SIZE), "slowloris")
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
        seen = b""  # for the arrival times of whole frames
        with open(path, "ab", buffering=0) as rec, open(path + ".times", "a", buffering=1) as tf:
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                now = time.monotonic()
                rec.write(data)
                seen += data
                frames, seen = split_frames(seen)
                for _ in frames:
                    tf.write("%.6f\n" % now)
                out = data
                if from_dialer:
                    pending += data
                    frames, pending = split_frames(pending)
                    # A sealed frame after the handshake (never the HELLO or AUTH) is sent a
                    # second time right after itself.
                    def late(f):
                        return frame_kind(f) == KIND_SEALED and frame_counter(f) >= 2
                    if duplicate_next.is_set() and any(late(f) for f in frames):
                        duplicate_next.clear()
                        out = b""
                        done = False
                        for f in frames:
                            out += f
                            if not done and late(f):
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
        print(json.dumps({"mitm": "relaying", "n": n, "t": time.time()}), flush=True)
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
    add("selftest", cmd_selftest, target=False)
    add("wrong-key", cmd_wrong_key).add_argument("--name", required=True)
    add("source", cmd_source).add_argument("--source", required=True)
    sp = add("keyed", cmd_keyed)
    sp.add_argument("--key", required=True)
    sp.add_argument("--name", required=True)
    sp = add("splice", cmd_splice, target=False)
    sp.add_argument("targets", nargs=2)
    sp.add_argument("--relay", type=float, default=0.4)
    sp.add_argument("--hold", type=float, default=3.0)
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
    sp.add_argument("--churn", action="store_true")
    sp.add_argument("--hello")
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
