"""Install the independent Matrix client the tests drive (matrix-js-sdk with its Rust crypto).

    python3 scripts/jsclient.py install   # npm ci into .cache/jsclient/<lockfile hash>/
    python3 scripts/jsclient.py path      # print that node_modules folder

The versions are pinned by tests/jsclient/package-lock.json; the install is keyed by the
lockfile's hash, so several checkouts share one cache and a changed lockfile gets a fresh
install. Needs Node 20+ and npm with the npm registry. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "jsclient"
CACHE = ROOT / ".cache" / "jsclient"
MARKER = ".unimsg-installed"


def install_dir() -> Path:
    digest = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:16]
    return CACHE / digest


def modules_dir() -> Path:
    return install_dir() / "node_modules"


def install() -> Path:
    target = install_dir()
    if (target / MARKER).exists():
        return modules_dir()
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            sys.exit(f"jsclient: {tool} is not on PATH; install Node.js 20 or newer")
    # Build next to the final place, then rename, so an interrupted install is never used.
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(SOURCE / name, staging / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=staging,
        check=True,
    )
    (staging / MARKER).write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return modules_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("install", "path"))
    args = parser.parse_args()
    if args.command == "install":
        print(install())
    else:
        print(modules_dir())


if __name__ == "__main__":
    main()
