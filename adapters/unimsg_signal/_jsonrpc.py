"""Sans-I/O JSON-RPC 2.0 codec for signal-cli.

Nothing here touches a socket. Feed bytes in, get events out; ask for bytes to
write. The same :class:`JsonRpcConnection` serves the line-framed transports
(stdio, UNIX socket, TCP), and :func:`decode_http_body` reads the single JSON
value of an HTTP response. ``_sse`` reads ``GET /api/v1/events``.

Line framing follows signal-cli: one JSON value per line, a line ends at
``\\n``, ``\\r`` or ``\\r\\n``. Blank lines are skipped. A line that is not a
valid JSON-RPC message raises :class:`~unimsg.RemoteProtocolError`;
the bad line is dropped and the stream stays usable.
"""

from __future__ import annotations

import functools
import itertools
import json
import json.encoder
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias, cast

import attrs

from unimsg import InvalidArgumentError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_LINE_LENGTH",
    "ErrorResponse",
    "Event",
    "JsonRpcConnection",
    "JsonValue",
    "LineBuffer",
    "Notification",
    "RequestId",
    "Response",
    "decode_http_body",
    "encode_json",
    "parse_message",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
RequestId: TypeAlias = int | str

# Incoming envelopes with inline data (previews, quotes) stay far below this;
# the guard exists so a peer that never sends a newline cannot grow us forever.
DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024


@attrs.frozen
class Response:
    """A successful answer to the request with the same ``id``."""

    id: RequestId
    result: JsonValue


@attrs.frozen
class ErrorResponse:
    """A failed request. ``id`` is ``None`` when the server could not read it."""

    id: RequestId | None
    code: int
    message: str
    data: JsonValue = None


@attrs.frozen
class Notification:
    """A request without ``id`` sent by the server, e.g. ``receive``."""

    method: str
    params: JsonValue = None


Event: TypeAlias = Response | ErrorResponse | Notification


# One encoder and one decoder for the process: json.dumps/json.loads given any
# option build a new one per call, which was a visible share of a request's cost.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# JSONEncoder.encode builds a new C encoder on every call (its arguments never change):
# build it once. Without circular-reference markers, as what we encode is ours and
# acyclic; Python builds without the C accelerator take the encoder's own path.
_C_MAKE_ENCODER: Any = vars(json.encoder).get("c_make_encoder")
_C_ENCODE: Callable[[Any, int], Any] | None = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
)


def encode_json(value: JsonValue) -> bytes:
    """Compact UTF-8 JSON without a line terminator."""
    if _C_ENCODE is None:
        return _ENCODER.encode(value).encode()
    return "".join(_C_ENCODE(value, 0)).encode()


def _reject_constant(name: str) -> Any:
    raise RemoteProtocolError(f"invalid JSON from the daemon: {name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# What ``raw_decode`` calls, without its wrapper (StopIteration: no value at all).
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, _DECODER).scan_once


def _loads(data: bytes) -> JsonValue:
    try:
        text = data.decode("utf-8")
        value: JsonValue = _DECODER.decode(text)
    except RecursionError:
        raise RemoteProtocolError("JSON nested too deeply") from None
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError and the int-digits limit are all ValueErrors.
        raise RemoteProtocolError(f"invalid JSON from the daemon: {exc}") from None
    return value


def _is_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _parse_object(obj: JsonValue) -> Event:
    if type(obj) is dict and len(obj) == 3 and "result" in obj and obj.get("jsonrpc") == "2.0":
        # The common shape, a successful answer, checked in one go.
        rid = obj.get("id")
        if type(rid) is int or type(rid) is str:
            return Response(rid, obj["result"])
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"expected a JSON-RPC object, got {type(obj).__name__}")
    if obj.get("jsonrpc") != "2.0":
        raise RemoteProtocolError(f"unsupported jsonrpc version: {obj.get('jsonrpc')!r}")
    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str):
            raise RemoteProtocolError("JSON-RPC method must be a string")
        if obj.get("id") is not None:
            # signal-cli never calls methods on its clients; an id would expect an answer.
            raise RemoteProtocolError(f"unexpected request {method!r} with an id from the daemon")
        params = obj.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            raise RemoteProtocolError("JSON-RPC params must be an object or an array")
        return Notification(method, params)
    has_result, has_error = "result" in obj, "error" in obj
    if has_result == has_error:
        raise RemoteProtocolError("JSON-RPC response needs exactly one of result and error")
    if "id" not in obj:
        raise RemoteProtocolError("JSON-RPC response without id")
    rid = obj["id"]
    if has_result:
        if not _is_id(rid):
            raise RemoteProtocolError(f"invalid JSON-RPC response id: {rid!r}")
        assert isinstance(rid, (int, str))
        return Response(rid, obj["result"])
    if rid is not None and not _is_id(rid):
        raise RemoteProtocolError(f"invalid JSON-RPC response id: {rid!r}")
    error = obj["error"]
    if not isinstance(error, dict):
        raise RemoteProtocolError("JSON-RPC error must be an object")
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        raise RemoteProtocolError(f"JSON-RPC error code must be an integer, got {code!r}")
    if not isinstance(message, str):
        raise RemoteProtocolError("JSON-RPC error message must be a string")
    assert rid is None or isinstance(rid, (int, str))
    return ErrorResponse(rid, code, message, error.get("data"))


def _one_object(line: bytes) -> Event | None:
    """The event of ``line`` (one line, its ``\\n`` included) when it holds one JSON
    object, decoded without the general path's layers; ``None`` for anything else (a
    batch, blank or bad JSON), which that path then handles and reports."""
    try:
        text = line.decode()
        value, end = _SCAN(text, 0)
    except (ValueError, RecursionError, StopIteration):
        return None
    if end != len(text) - 1 or type(value) is not dict:
        return None
    return _parse_object(value)


def parse_message(data: bytes) -> list[Event]:
    """Decode one JSON value (object or batch array) into events.

    Raises :class:`RemoteProtocolError` if anything is wrong; a batch is
    accepted or rejected as a whole.
    """
    value = _loads(data)
    if isinstance(value, list):
        if not value:
            raise RemoteProtocolError("empty JSON-RPC batch")
        return [_parse_object(item) for item in value]
    return [_parse_object(value)]


def decode_http_body(body: bytes) -> list[Event]:
    """Events of one HTTP ``/api/v1/rpc`` response body; empty for ``201``."""
    if not body.strip():
        return []
    return parse_message(body)


class LineBuffer:
    """Splits a byte stream into lines ending at ``\\n``, ``\\r`` or ``\\r\\n``.

    A ``\\r`` that ends one chunk and a ``\\n`` that starts the next count
    as one terminator, so the result never depends on how bytes were chunked.
    """

    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self.max_line_length = max_line_length
        self._buf = bytearray()
        self._skip_lf = False
        self._discarding = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def one_line(self, data: bytes) -> bool:
        """Whether ``data`` is exactly one ``\\n``-ended line and nothing is buffered (a
        daemon's answer, nearly always); if so the caller takes it whole."""
        end = len(data) - 1
        if (
            end <= 0
            or data.find(b"\n") != end
            or self._buf
            or self._discarding
            or end > self.max_line_length
            or b"\r" in data
        ):
            return False
        self._skip_lf = False
        return True

    def split(self, data: bytes) -> list[bytes] | None:
        """The lines of ``data`` when it holds whole ``\\n``-ended lines and nothing is
        buffered (what a daemon's answers nearly always look like); otherwise ``None``
        and nothing consumed, for :meth:`feed` and :meth:`next_line` to take over."""
        if self._buf or self._discarding or data[-1:] != b"\n" or b"\r" in data:
            return None
        lines = data.split(b"\n")
        lines.pop()
        if len(data) > self.max_line_length and any(
            len(line) > self.max_line_length for line in lines
        ):
            return None
        # A "\r" that ended the previous chunk pairs with a leading "\n": that blank
        # line is skipped by the JSON-RPC reader, so the flag only needs clearing.
        self._skip_lf = False
        return lines

    def next_line(self) -> bytes | None:
        """The next complete line without terminator, or ``None`` if none is complete.

        Raises :class:`RemoteProtocolError` once for each over-long line; its
        bytes are dropped up to the next terminator.
        """
        buf = self._buf
        while True:
            if self._skip_lf and buf[:1] == b"\n":
                del buf[:1]
            if buf:
                self._skip_lf = False
            lf, cr = buf.find(b"\n"), buf.find(b"\r")
            end = min(lf, cr) if lf >= 0 and cr >= 0 else max(lf, cr)
            if end < 0:
                if len(buf) > self.max_line_length:
                    del buf[:]
                    if not self._discarding:
                        self._discarding = True
                        raise RemoteProtocolError(
                            f"line longer than {self.max_line_length} bytes from the daemon"
                        )
                return None
            line = bytes(buf[:end])
            self._skip_lf = buf[end : end + 1] == b"\r"
            del buf[: end + 1]
            if self._discarding:
                # The tail of an over-long line whose start is already gone.
                self._discarding = False
                continue
            if len(line) > self.max_line_length:
                raise RemoteProtocolError(
                    f"line longer than {self.max_line_length} bytes from the daemon"
                )
            return line


@functools.lru_cache(maxsize=64)
def _request_head(method: str) -> bytes:
    """``{"jsonrpc":"2.0","method":…`` of a request, without its closing brace."""
    return encode_json({"jsonrpc": "2.0", "method": method})[:-1]


class JsonRpcConnection:
    """Client side of a line-framed JSON-RPC stream.

    ``send_*`` return the bytes to write (one line each); :meth:`receive_data`
    takes whatever the transport read and returns the complete events.
    """

    def __init__(self, *, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self._ids = itertools.count(1)
        self._lines = LineBuffer(max_line_length)
        self._ready: list[Event] = []

    @staticmethod
    def _request(method: str, params: JsonValue, rid: RequestId | None) -> dict[str, JsonValue]:
        message: dict[str, JsonValue] = {"jsonrpc": "2.0", "method": method}
        # signal-cli tolerates "params": null but omitting it is the canonical form.
        if params is not None:
            message["params"] = params
        if rid is not None:
            message["id"] = rid
        return message

    def next_id(self) -> int:
        """A fresh request id, unique within this connection."""
        return next(self._ids)

    def send_request(self, method: str, params: JsonValue = None) -> tuple[int, bytes]:
        """A request line and the id its response will carry."""
        rid = next(self._ids)
        # The same bytes as encoding the whole request, without building it: only the
        # params vary, the envelope around them is cached per method.
        head = _request_head(method)
        if params is None:
            return rid, b'%s,"id":%d}\n' % (head, rid)
        return rid, b'%s,"params":%s,"id":%d}\n' % (head, encode_json(params), rid)

    def send_notification(self, method: str, params: JsonValue = None) -> bytes:
        """A request line that the daemon executes without answering."""
        return encode_json(self._request(method, params, None)) + b"\n"

    def send_batch(self, calls: Iterable[tuple[str, JsonValue]]) -> tuple[list[int], bytes]:
        """One line holding several requests; the daemon answers with one array."""
        ids: list[int] = []
        batch: list[JsonValue] = []
        for method, params in calls:
            rid = self.next_id()
            ids.append(rid)
            batch.append(self._request(method, params, rid))
        if not batch:
            raise InvalidArgumentError("a JSON-RPC batch needs at least one request")
        return ids, encode_json(batch) + b"\n"

    def receive_data(self, data: bytes) -> list[Event]:
        """Buffer ``data`` and return every event completed so far.

        On a bad line this raises :class:`RemoteProtocolError` after dropping
        that line. Events decoded before it, and any lines after it, are kept:
        the next call (``receive_data(b"")`` will do) returns them.
        """
        if not self._ready:
            if self._lines.one_line(data):
                event = _one_object(data)
                if event is not None:
                    return [event]
                lines: list[bytes] | None = [data[:-1]]
            else:
                lines = self._lines.split(data)
            if lines is not None:
                return self._parse_lines(lines)
        self._lines.feed(data)
        events, self._ready = self._ready, []
        while True:
            try:
                line = self._lines.next_line()
                if line is None:
                    return events
                if line.strip():
                    events.extend(parse_message(line))
            except RemoteProtocolError:
                self._ready = events
                raise

    def _parse_lines(self, lines: list[bytes]) -> list[Event]:
        events: list[Event] = []
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                events.extend(parse_message(line))
            except RemoteProtocolError:
                # As on the buffered path: the bad line is gone, the lines after it wait.
                self._ready = events
                for rest in lines[index + 1 :]:
                    self._lines.feed(rest + b"\n")
                raise
        return events
