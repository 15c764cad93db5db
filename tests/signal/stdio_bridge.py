"""Stand-in for ``signal-cli jsonRpc``: relays stdin/stdout to an emulated daemon's TCP port.

``python stdio_bridge.py PORT jsonRpc`` lets an adapter use its stdio
transport (a child process, its pipes and framing) against a daemon that
shares an in-process emulated network with other accounts.
"""

import socket
import sys
import threading


def main() -> None:
    conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))

    def upstream() -> None:
        while data := sys.stdin.buffer.read1(65536):
            conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True).start()
    while data := conn.recv(65536):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
