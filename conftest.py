"""Every Python block in README.md and docs/ runs as written, on the fake network.

A block that is only a fragment (it needs servers, or names defined around
it) is marked ``<!-- skip: next "why" -->`` right above it.
"""

import logging
from typing import Any

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser


def _teardown(namespace: dict[str, Any]) -> None:
    # The logging page's samples set levels: later tests must not inherit them.
    for name in ("unimsg", "nio", "peewee"):
        logging.getLogger(name).setLevel(logging.NOTSET)


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
    teardown=_teardown,
).pytest()
