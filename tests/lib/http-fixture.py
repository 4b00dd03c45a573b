#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""A small HTTP server for tests: binds 127.0.0.1 on an ephemeral port, prints the port on one
line of stdout, then answers until killed.

  /bytes/N        200, N bytes, Content-Length: N
  /close/N        200, N bytes, no Content-Length: the body ends when the connection closes
  /status/CODE    CODE, a short body
  /redirect/N     302 to /bytes/N
  /truncated/N    Content-Length: N, but only N-1 bytes, then close
  /endless        200, no Content-Length, bytes until the client goes away
  /hang           reads the request and never answers
  /text/WORD      200, "<html>state: WORD</html>" (WORD may be percent-encoded)
  /header/NAME    200 with the value of the request's header NAME as the body, 404 without it
  /big-text/N     200, N bytes of 'x' then "MARK", no Content-Length

HEAD is answered like GET, without the body.
  POST /echo      200, the request body back (Content-Type kept)

Usage: http-fixture.py [--tls CERT KEY]
"""
import http.server
import socketserver
import ssl
import sys
import time
import urllib.parse

CHUNK = b"x" * 65536


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "vc-fixture"

    def log_message(self, fmt, *args):  # quiet: tests read only the port from stdout
        pass

    head = False

    def write(self, data):
        if not self.head:
            self.wfile.write(data)

    def body(self, n):
        while n > 0:
            k = min(n, len(CHUNK))
            self.write(CHUNK[:k])
            n -= k

    def fixed(self, code, data):
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.write(data)

    def do_HEAD(self):
        self.head = True
        self.do_GET()

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        route, arg = parts[0], (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0)
        try:
            if route == "bytes":
                self.send_response(200)
                self.send_header("Content-Length", str(arg))
                self.end_headers()
                self.body(arg)
            elif route == "close":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.body(arg)
            elif route == "status":
                self.send_response(arg)
                self.send_header("Content-Length", "5")
                self.end_headers()
                self.write(b"error")
            elif route == "redirect":
                self.send_response(302)
                self.send_header("Location", "/bytes/%d" % arg)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif route == "truncated":
                self.send_response(200)
                self.send_header("Content-Length", str(arg))
                self.end_headers()
                self.body(arg - 1)
            elif route == "endless":
                self.send_response(200)
                self.end_headers()
                while not self.head:
                    self.wfile.write(CHUNK)
            elif route == "text" and len(parts) > 1:
                word = urllib.parse.unquote(parts[1])
                self.fixed(200, ("<html>state: %s</html>" % word).encode())
            elif route == "header" and len(parts) > 1:
                value = self.headers.get(parts[1])
                self.fixed(200 if value is not None else 404, (value or "none").encode())
            elif route == "big-text":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                self.body(arg)
                self.write(b"MARK")
            elif route == "hang":
                time.sleep(3600)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        try:
            if self.path == "/echo":
                self.send_response(200)
                self.send_header("Content-Type", self.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif self.path == "/hang":
                time.sleep(3600)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
