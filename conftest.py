"""Every Python block in README.md and docs/ runs as written, on the fake network.

A block that is only a fragment (it needs servers, or names defined around
it) is marked ``<!-- skip: next "why" -->`` right above it.
"""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md"],
).pytest()
