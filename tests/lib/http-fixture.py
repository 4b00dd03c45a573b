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
  POST /echo      200, the request body back (Content-Type kept)

Usage: http-fixture.py [--tls CERT KEY]
"""
import http.server
import socketserver
import ssl
import sys
import time

CHUNK = b"x" * 65536


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "vc-fixture"

    def log_message(self, fmt, *args):  # quiet: tests read only the port from stdout
        pass

    def body(self, n):
        while n > 0:
            k = min(n, len(CHUNK))
            self.wfile.write(CHUNK[:k])
            n -= k

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
                self.wfile.write(b"error")
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
                while True:
                    self.wfile.write(CHUNK)
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
