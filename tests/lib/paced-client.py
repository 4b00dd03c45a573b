#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""A paced HTTP client: what a user behind the load balancer sees.

Sends one GET every --interval-ms (request i is due at start + i * interval, whatever happened to
the ones before, so a slow answer does not slow the pace down) for --duration seconds, or until
SIGTERM/SIGINT. The first line of each 200 body names the node that answered. Prints a JSON
summary (and writes it to --out):

  sent, ok, failed, longest_outage_ms (from the first failed request of a run of failures to the
  next request that succeeded), max_latency_ms, answers {node: count}, first_answer {node:
  epoch seconds}, last_answer {node: ...}, switches [[sent, node, answered], ...] (each time the
  answering node changes; epoch seconds), failures [[sent, what], ...] (the first 200). Times
  are when a request was sent unless named otherwise.

--progress SECONDS prints "HH:MM:SS.mmm client -> NODE (ok)" lines meanwhile (the demo).
"""

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

FAILURES_KEPT = 200


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--interval-ms", type=float, default=5.0)
    p.add_argument("--duration", type=float, default=30.0, help="seconds (upper bound)")
    p.add_argument("--timeout", type=float, default=2.0, help="per request, seconds")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--out", help="also write the JSON summary here")
    p.add_argument("--progress", type=float, default=0.0, help="print a line every N seconds")
    p.add_argument(
        "--records", action="store_true", help="add every request: records [[sent, node or null]]"
    )
    return p.parse_args()


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []  # (sent_at, done_at, node or None, error or None)

    def add(self, record):
        with self.lock:
            self.records.append(record)


def one_request(url, timeout):
    """Returns (node, None) or (None, what went wrong)."""
    conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(url.hostname, url.port, timeout=timeout)
    try:
        conn.request("GET", url.path or "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
        if resp.status != 200:
            return None, "HTTP %d" % resp.status
        node = body.splitlines()[0].strip() if body else ""
        if not node:
            return None, "empty body"
        return node, None
    except Exception as e:  # every way a request can fail is a failure the user sees
        return None, type(e).__name__ + (": " + str(e) if str(e) else "")
    finally:
        conn.close()


def worker(index, n_workers, start, interval, deadline, stop, url, timeout, results):
    i = index
    while not stop.is_set():
        due = start + i * interval
        if due >= deadline:
            return
        delay = due - time.time()
        if delay > 0 and stop.wait(delay):
            return
        sent = time.time()
        node, error = one_request(url, timeout)
        results.add((sent, time.time(), node, error))
        i += n_workers


def progress(stop, every, results):
    seen = 0
    while not stop.wait(every):
        with results.lock:
            recent = results.records[seen:]
            seen = len(results.records)
        if not recent:
            continue
        last = max(recent, key=lambda r: r[0])
        failed = sum(1 for r in recent if r[2] is None)
        stamp = time.strftime("%H:%M:%S", time.localtime(last[0])) + ".%03d" % (
            int(last[0] * 1000) % 1000
        )
        if last[2] is not None:
            what = "%s (ok%s)" % (last[2], ", %d failed meanwhile" % failed if failed else "")
        else:
            what = "FAILED: %s" % last[3]
        print("%s client -> %s" % (stamp, what), flush=True)


def summarize(records, start, interval_ms):
    records.sort(key=lambda r: r[0])
    answers, first, last, switches, failures = {}, {}, {}, [], []
    longest = 0.0
    outage_start = None
    current = None
    max_latency = 0.0
    for sent, done, node, error in records:
        if node is None:
            if outage_start is None:
                outage_start = sent
            if len(failures) < FAILURES_KEPT:
                failures.append([round(sent, 3), error])
            continue
        max_latency = max(max_latency, done - sent)
        if outage_start is not None:
            longest = max(longest, sent - outage_start)
            outage_start = None
        answers[node] = answers.get(node, 0) + 1
        first.setdefault(node, round(sent, 3))
        last[node] = round(sent, 3)
        if node != current:
            switches.append([round(sent, 3), node, round(done, 3)])
            current = node
    if outage_start is not None and records:
        longest = max(longest, records[-1][0] - outage_start)
    failed = sum(1 for r in records if r[2] is None)
    return {
        "start": round(start, 3),
        "interval_ms": interval_ms,
        "sent": len(records),
        "ok": len(records) - failed,
        "failed": failed,
        "longest_outage_ms": round(longest * 1000, 1),
        "max_latency_ms": round(max_latency * 1000, 1),
        "answers": answers,
        "first_answer": first,
        "last_answer": last,
        "switches": switches,
        "failures": failures,
    }


def main():
    args = parse_args()
    url = urllib.parse.urlsplit(args.url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    results = Results()
    interval = args.interval_ms / 1000.0
    start = time.time()
    deadline = start + args.duration
    threads = [
        threading.Thread(
            target=worker,
            args=(i, args.workers, start, interval, deadline, stop, url, args.timeout, results),
            daemon=True,
        )
        for i in range(args.workers)
    ]
    if args.progress > 0:
        threads.append(
            threading.Thread(target=progress, args=(stop, args.progress, results), daemon=True)
        )
    for t in threads:
        t.start()
    while not stop.is_set() and time.time() < deadline:
        stop.wait(0.1)
    stop.set()
    for t in threads:
        t.join(args.timeout + 1)

    with results.lock:
        summary = summarize(list(results.records), start, args.interval_ms)
        if args.records:
            summary["records"] = [[round(r[0], 3), r[2]] for r in sorted(results.records)]
    text = json.dumps(summary, indent=1)
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(args.out + ".tmp", args.out)
    if args.progress <= 0:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
