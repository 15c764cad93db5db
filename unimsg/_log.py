"""The package's loggers, made on first use.

Importing `logging` costs more than several of the client's own modules;
a client that never logs (or an application that imported it already)
should not pay it twice at start-up. Names are unchanged: configure
``logging.getLogger("unimsg")`` as usual.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["logger"]


@cache
def logger(name: str = "unimsg") -> logging.Logger:
    import logging

    return logging.getLogger(name)
