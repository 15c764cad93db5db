"""Sends COUNT messages to one account of a multi-account emulated daemon, fast.

``python flood_sender.py PORT TO FROM1 [FROM2 ...] --count N``: each sender
pipelines its share in batches and waits for every answer; exit 0 when all
were accepted. A separate process, so the test process measures only itself.
"""

import argparse
import json
import socket


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("to")
    parser.add_argument("senders", nargs="+")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    conn = socket.create_connection(("127.0.0.1", args.port))
    reader = conn.makefile("rb")
    rid = 0
    for start in range(0, args.count, 200):
        batch = []
        for n in range(start, min(start + 200, args.count)):
            rid += 1
            sender = args.senders[n % len(args.senders)]
            params = {"account": sender, "recipient": [args.to], "message": f"m{n}"}
            batch.append({"jsonrpc": "2.0", "method": "send", "params": params, "id": rid})
        conn.sendall(json.dumps(batch).encode() + b"\n")
        answers = json.loads(reader.readline())
        bad = [a for a in answers if "error" in a]
        if bad:
            raise SystemExit(f"send failed: {bad[0]}")
    conn.close()


if __name__ == "__main__":
    main()
