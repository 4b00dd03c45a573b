#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""A line server for tests of the tcp plugin: binds ADDRESS (127.0.0.1 or ::1) on an ephemeral
port, prints the port on one line of stdout, then serves each connection until killed:

  echo     (default) answers each line with "echo: LINE\\r\\n"
  banner   says "HELLO vc-line-server\\r\\n" on connect, then echoes
  silent   accepts and never says anything

Usage: line-server.py [--mode echo|banner|silent] [ADDRESS]
"""
import socket
import socketserver
import sys
import time


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        mode = self.server.mode
        try:
            if mode == "silent":
                time.sleep(3600)
                return
            if mode == "banner":
                self.wfile.write(b"HELLO vc-line-server\r\n")
            for line in self.rfile:
                self.wfile.write(b"echo: " + line.rstrip(b"\r\n") + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    args = sys.argv[1:]
    mode = "echo"
    if len(args) >= 2 and args[0] == "--mode":
        mode, args = args[1], args[2:]
    address = args[0] if args else "127.0.0.1"
    Server.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = Server((address, 0), Handler)
    server.mode = mode
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
