from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from unimsg_signal._jsonrpc import (
    ErrorResponse,
    Event,
    JsonRpcConnection,
    Notification,
    Response,
    decode_http_body,
    encode_json,
    parse_message,
)
from unimsg_signal._sse import SseEvent, SseParser

from unimsg._exceptions import RemoteProtocolError

RECEIVE = (
    b'{"jsonrpc":"2.0","method":"receive","params":{"account":"+15550000001",'
    b'"envelope":{"timestamp":1767225600123}}}'
)


def drain(conn: JsonRpcConnection, data: bytes) -> tuple[list[Event], int]:
    """Feed data; on errors keep going with the buffered rest, count errors."""
    events: list[Event] = []
    errors = 0
    chunk = data
    while True:
        try:
            events.extend(conn.receive_data(chunk))
            return events, errors
        except RemoteProtocolError:
            errors += 1
            chunk = b""


def test_request_ids_are_unique_and_lines_are_compact() -> None:
    conn = JsonRpcConnection()
    id1, line1 = conn.send_request("version")
    id2, line2 = conn.send_request("send", {"recipient": ["+15550000002"], "message": "hi"})
    assert id1 != id2
    assert line1.endswith(b"\n") and line1.count(b"\n") == 1
    assert json.loads(line1) == {"jsonrpc": "2.0", "method": "version", "id": id1}
    assert json.loads(line2)["params"] == {"recipient": ["+15550000002"], "message": "hi"}
    assert b" " not in line1


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.text(min_size=1), st.none() | st.lists(JSON_VALUES) | st.dictionaries(st.text(), JSON_VALUES)
)
def test_request_lines_are_the_compact_encoding_of_the_whole_request(
    method: str, params: object
) -> None:
    conn = JsonRpcConnection()
    rid, line = conn.send_request(method, params)  # type: ignore[arg-type]
    request = {"jsonrpc": "2.0", "method": method} | ({} if params is None else {"params": params})
    whole = json.dumps(request | {"id": rid}, separators=(",", ":"), ensure_ascii=False)
    assert line == whole.encode() + b"\n"


def test_encoding_refuses_what_json_cannot_carry() -> None:
    for value in (float("nan"), float("inf"), [float("-inf")]):
        with pytest.raises(ValueError, match="not JSON compliant"):
            encode_json(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_json({"a": object()})  # type: ignore[dict-item]
    assert encode_json({1: "é"}) == '{"1":"é"}'.encode()  # type: ignore[dict-item]


def test_notification_and_batch() -> None:
    conn = JsonRpcConnection()
    assert "id" not in json.loads(conn.send_notification("sendTyping", {"recipient": "+1"}))
    ids, line = conn.send_batch([("version", None), ("listGroups", {})])
    batch = json.loads(line)
    assert [m["id"] for m in batch] == ids and len(set(ids)) == 2
    with pytest.raises(ValueError, match="at least one"):
        conn.send_batch([])


def test_events_of_each_kind() -> None:
    conn = JsonRpcConnection()
    events = conn.receive_data(
        b'{"jsonrpc":"2.0","result":{"version":"0.14.6"},"id":1}\n'
        b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"Empty input line","data":null},'
        b'"id":null}\n' + RECEIVE + b"\n"
    )
    assert events == [
        Response(1, {"version": "0.14.6"}),
        ErrorResponse(None, -32700, "Empty input line", None),
        Notification(
            "receive",
            {"account": "+15550000001", "envelope": {"timestamp": 1767225600123}},
        ),
    ]


def test_partial_lines_crlf_cr_and_blank_lines() -> None:
    conn = JsonRpcConnection()
    assert conn.receive_data(b'{"jsonrpc":"2.0","result":{},') == []
    assert conn.receive_data(b'"id":"a"}\r') == [Response("a", {})]
    assert conn.receive_data(b'\n\n\r\n  \n{"jsonrpc":"2.0","result":1,"id":2}\r\n') == [
        Response(2, 1)
    ]


def test_batch_response_is_split() -> None:
    conn = JsonRpcConnection()
    events = conn.receive_data(
        b'[{"jsonrpc":"2.0","result":{},"id":2},{"jsonrpc":"2.0","result":[],"id":1}]\n'
    )
    assert events == [Response(2, {}), Response(1, [])]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b"42", "expected a JSON-RPC object"),
        (b"[]", "empty JSON-RPC batch"),
        (b'{"jsonrpc":"1.0","result":1,"id":1}', "version"),
        (b'{"jsonrpc":"2.0","id":1}', "exactly one of result and error"),
        (b'{"jsonrpc":"2.0","result":1,"error":{},"id":1}', "exactly one"),
        (b'{"jsonrpc":"2.0","result":1}', "without id"),
        (b'{"jsonrpc":"2.0","result":1,"id":null}', "invalid JSON-RPC response id"),
        (b'{"jsonrpc":"2.0","result":1,"id":true}', "invalid JSON-RPC response id"),
        (b'{"jsonrpc":"2.0","error":"boom","id":1}', "error must be an object"),
        (b'{"jsonrpc":"2.0","error":{"code":"x","message":"m"},"id":1}', "code"),
        (b'{"jsonrpc":"2.0","error":{"code":1},"id":1}', "message"),
        (b'{"jsonrpc":"2.0","method":7}', "method must be a string"),
        (b'{"jsonrpc":"2.0","method":"receive","params":3}', "params"),
        (b'{"jsonrpc":"2.0","method":"x","id":1}', "unexpected request"),
        (b'{"jsonrpc":"2.0","result":NaN,"id":1}', "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_garbage_raises_and_stream_recovers(line: bytes, fragment: str) -> None:
    conn = JsonRpcConnection()
    with pytest.raises(RemoteProtocolError, match=fragment):
        conn.receive_data(line + b"\n" + RECEIVE + b"\n")
    assert conn.receive_data(b"") == [
        Notification(
            "receive", {"account": "+15550000001", "envelope": {"timestamp": 1767225600123}}
        )
    ]


def test_events_before_a_bad_line_are_not_lost() -> None:
    conn = JsonRpcConnection()
    good = b'{"jsonrpc":"2.0","result":1,"id":1}\n'
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(good + b"garbage\n" + good)
    assert conn.receive_data(b"") == [Response(1, 1), Response(1, 1)]


def test_max_line_length_guard() -> None:
    conn = JsonRpcConnection(max_line_length=64)
    with pytest.raises(RemoteProtocolError, match="longer than 64"):
        conn.receive_data(b"x" * 100)
    # The rest of the over-long line is skipped silently, then parsing resumes.
    assert conn.receive_data(b"y" * 10 + b'\n{"jsonrpc":"2.0","result":1,"id":3}\n') == [
        Response(3, 1)
    ]
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"z" * 80 + b"\n")
    assert conn.receive_data(b'{"jsonrpc":"2.0","result":1,"id":4}\n') == [Response(4, 1)]


def test_http_body() -> None:
    assert decode_http_body(b"") == []
    assert decode_http_body(b'{"jsonrpc":"2.0","result":{},"id":1}') == [Response(1, {})]
    assert decode_http_body(
        b'{"error":{"code":-32603,"message":"An internal server error has occurred.",'
        b'"data":null},"id":null,"jsonrpc":"2.0"}'
    ) == [ErrorResponse(None, -32603, "An internal server error has occurred.")]
    with pytest.raises(RemoteProtocolError):
        decode_http_body(b"<html>")
    assert parse_message(b'[{"jsonrpc":"2.0","result":1,"id":1}]') == [Response(1, 1)]


def test_sse_parser_signal_cli_frames() -> None:
    parser = SseParser()
    frames = parser.feed(b':\n\nevent:receive\ndata:{"account":"+1"}\n\n:\n')
    assert frames == [SseEvent("receive", '{"account":"+1"}')]
    assert frames[0].json() == {"account": "+1"}
    assert parser.comments == 2


def test_sse_parser_fields() -> None:
    parser = SseParser()
    data = b"\xef\xbb\xbfretry: 1500\r\nid: 7\r\ndata: a\r\ndata:b\r\n\r\ndata\n\nevent: x\n\n"
    assert parser.feed(data) == [
        SseEvent("message", "a\nb", "7", 1500),
        SseEvent("message", "", "7"),
    ]
    assert parser.retry == 1500 and parser.last_event_id == "7"
    # An event without data is not dispatched, and the type resets.
    assert parser.feed(b"data: c\n\n") == [SseEvent("message", "c", "7")]
    with pytest.raises(RemoteProtocolError):
        SseEvent("receive", "{").json()


FRAMES = [
    b'{"jsonrpc":"2.0","result":{"timestamp":1767225600123,"results":[]},"id":1}',
    b'{"jsonrpc":"2.0","error":{"code":-1,"message":"No recipients given","data":null},"id":2}',
    RECEIVE,
    b'[{"jsonrpc":"2.0","result":{},"id":3},{"jsonrpc":"2.0","result":"\\u00e9\\n","id":"4"}]',
    b'{"jsonrpc":"2.0","method":"receive","params":{"subscription":0,"result":{"m":"\xc3\xa9"}}}',
]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(st.sampled_from(FRAMES), min_size=1, max_size=8),
    seps=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n", b"\r\n\r\n"]), min_size=8),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_chunking_does_not_change_events(
    frames: list[bytes], seps: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(f + s for f, s in zip(frames, seps, strict=False))
    expected = JsonRpcConnection().receive_data(stream)
    conn = JsonRpcConnection()
    got: list[Event] = []
    for chunk in split_at(stream, cuts):
        got.extend(conn.receive_data(chunk))
    assert got == expected
    assert len(expected) == sum(2 if f.startswith(b"[") else 1 for f in frames)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_random_bytes_only_raise_protocol_errors(data: bytes, cuts: list[int]) -> None:
    conn = JsonRpcConnection(max_line_length=128)
    for chunk in split_at(data, cuts):
        drain(conn, chunk)
    drain(conn, b"\n")
    # Whatever came before, a good line after a terminator still parses.
    assert drain(conn, b'\n{"jsonrpc":"2.0","result":1,"id":9}\n')[0][-1:] == [Response(9, 1)]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        ["jsonrpc", "id", "result", "error", "method", "params", "code", "message"]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=10,
        ),
        max_size=5,
    )
)
def test_random_json_only_raises_protocol_errors(values: list[object]) -> None:
    conn = JsonRpcConnection()
    stream = b"".join(json.dumps(v).encode() + b"\n" for v in values)
    drain(conn, stream)


def sse_data(data: str) -> str:
    """What a receiver sees: one leading space per data line is syntax, not data."""
    lines = data.replace("\r", "\n").split("\n")
    return "\n".join(line[1:] if line.startswith(" ") else line for line in lines)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["receive", "x"]), st.text(max_size=30)), min_size=1, max_size=5
    ),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
    sep=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_sse_chunking_does_not_change_events(
    events: list[tuple[str, str]], cuts: list[int], sep: bytes
) -> None:
    stream = b""
    for name, data in events:
        lines = [b"event:" + name.encode()] + [
            b"data:" + part.encode() for part in data.replace("\r", "\n").split("\n")
        ]
        stream += b":" + sep + sep.join(lines) + sep + sep
    expected = SseParser().feed(stream)
    parser = SseParser()
    got: list[SseEvent] = []
    for chunk in split_at(stream, cuts):
        got.extend(parser.feed(chunk))
    assert got == expected
    assert [(e.event, e.data) for e in got] == [(name, sse_data(data)) for name, data in events]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_sse_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    parser = SseParser(max_line_length=64)
    with contextlib.suppress(RemoteProtocolError):
        parser.feed(data)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"jsonrpc":"2.0","result":1,"id":1} trailing', "invalid JSON"),
        (b'{"jsonrpc":"2.0","result":NaN,"id":1}', "invalid JSON"),
        (b'{"jsonrpc":"2.0","result":1,"id":true}', "invalid JSON-RPC response id"),
        (b"[]", "empty JSON-RPC batch"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_a_chunk_of_one_bad_line_raises_as_any_other(line: bytes, fragment: str) -> None:
    # One whole line per chunk takes the codec's short path; errors must not change.
    conn = JsonRpcConnection()
    with pytest.raises(RemoteProtocolError, match=fragment):
        conn.receive_data(line + b"\n")
    assert conn.receive_data(b'{"jsonrpc":"2.0","result":[1],"id":2}\n') == [Response(2, [1])]
    assert conn.receive_data(b'[{"jsonrpc":"2.0","result":3,"id":4}]\n') == [Response(4, 3)]
