"""A ``signal-cli jsonRpc`` child that works once, then dies during every handshake.

``python flaky_child.py COUNT_FILE PORT jsonRpc``: the first start relays to an
emulated daemon's TCP port (as stdio_bridge.py); later starts print a reason
on stderr and exit before answering anything. COUNT_FILE gets a line per start.
"""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    count_file = sys.argv[1]
    with open(count_file, "a") as f:
        f.write("start\n")
    with open(count_file) as f:
        starts = len(f.readlines())
    if starts > 1:
        sys.stderr.write("INFO  Starting\nERROR Config file is in use by another instance\n")
        sys.exit(3)
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    sys.path.insert(0, here)
    import stdio_bridge

    stdio_bridge.main()


if __name__ == "__main__":
    main()
