"""The few Signal protobuf messages the service stand-in speaks, encoded by hand.

Field numbers from Signal's WebSocketResources.proto and SignalService.proto (Envelope).
"""

from __future__ import annotations

from typing import Any


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(value)


def _bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(number, 2) + _varint(len(data)) + data


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _read_varint(data, i)
            out.append((number, data[i : i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def websocket_request(rid: int, verb: str, path: str, body: bytes = b"") -> bytes:
    request = _bytes(1, verb) + _bytes(2, path) + _int(4, rid)
    if body:
        request += _bytes(3, body)
    return _int(1, 1) + _bytes(2, request)


def websocket_response(rid: int, status: int, body: bytes = b"") -> bytes:
    response = _int(1, rid) + _int(2, status) + _bytes(3, "OK" if status < 300 else "Error")
    if body:
        response += _bytes(4, body) + _bytes(5, "Content-Type:application/json")
    return _int(1, 2) + _bytes(3, response)


def decode_websocket_message(data: bytes) -> dict[str, Any]:
    message: dict[str, Any] = {}
    for number, value in _fields(data):
        if number == 2 and isinstance(value, bytes):
            request: dict[str, Any] = {"headers": []}
            for n, v in _fields(value):
                if n == 1 and isinstance(v, bytes):
                    request["verb"] = v.decode()
                elif n == 2 and isinstance(v, bytes):
                    request["path"] = v.decode()
                elif n == 3:
                    request["body"] = v
                elif n == 4:
                    request["id"] = v
                elif n == 5 and isinstance(v, bytes):
                    request["headers"].append(v.decode())
            message["request"] = request
        elif number == 3 and isinstance(value, bytes):
            message["response"] = dict(_fields(value))
    return message


def envelope(
    *,
    type: int,
    source_service_id: str | None,
    source_device: int,
    timestamp: int,
    server_timestamp: int,
    server_guid: str,
    content: bytes = b"",
    destination_service_id: str | None = None,
) -> bytes:
    out = _int(1, type) + _int(5, timestamp)
    if source_service_id is not None:  # sealed sender: only the ciphertext knows
        out += _int(7, source_device)
    if content:
        out += _bytes(8, content)
    out += _bytes(9, server_guid) + _int(10, server_timestamp)
    if source_service_id is not None:
        out += _bytes(11, source_service_id)
    if destination_service_id:
        out += _bytes(13, destination_service_id)
    return out + _int(14, 1)
