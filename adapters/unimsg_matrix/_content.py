"""unimsg content to Matrix event content: text, markdown, mentions, replies, edits, files."""

from __future__ import annotations

import json
from typing import Any

from unimsg import Attachment, Content, InvalidContentError
from unimsg.markdown import plain_to_html, to_html

__all__ = [
    "EVENT_BYTES",
    "encrypted_content_size",
    "event_size",
    "json_size",
    "attachment_content",
    "check_size",
    "edit_content",
    "message_content",
    "reaction_content",
]

#: Synapse refuses an event whose canonical JSON (content, ids, hashes, signatures)
#: exceeds this many bytes with 413 M_TOO_LARGE.
EVENT_BYTES = 65_536
#: What Synapse 1.163 adds around the content, less the sender, room id, event type
#: and server name (counted separately): measured with one previous event, two
#: auth events and a depth of one digit.
_ENVELOPE = 491
#: Room for up to nine more previous events and one more auth event (47 bytes each),
#: depths of up to ten digits and longer signing key ids.
_ENVELOPE_SLACK = 600
#: Megolm message framing: version byte, the message index (a varint of at most
#: five bytes) and the ciphertext length (tag + varint), an 8-byte MAC and an
#: Ed25519 signature.
_MEGOLM_FRAMING = 1 + 1 + 5 + 1 + 64 + 8
_CURVE_KEY = "k" * 43  # unpadded base64 of 32 bytes: a sender key or a session id


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


def _json(value: Any, *, ascii_only: bool) -> int:
    # Synapse measures canonical JSON (UTF-8); matrix-nio serialises the payload
    # it encrypts with ensure_ascii, where a CJK character takes 6 bytes and an
    # emoji (a surrogate pair) 12.
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
    return len(text) if ascii_only else len(text.encode())


def json_size(content: dict[str, Any]) -> int:
    """Length of ``content`` as compact ASCII-only JSON, the one measure sizes start from."""
    return _json(content, ascii_only=True)


def _quoted_len(text: str) -> int:
    """Length of ``text`` as an ASCII-only JSON string (ids and event types are plain)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return _json(text, ascii_only=True)


#: The ``m.room.encrypted`` content without its device id, ciphertext and relation.
_ENCRYPTED_FIXED = _json(
    {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "",
        "device_id": "",
        "sender_key": _CURVE_KEY,
        "session_id": _CURVE_KEY,
    },
    ascii_only=False,
)


def encrypted_content_size(
    content: dict[str, Any],
    event_type: str,
    room_id: str,
    device_id: str,
    *,
    measured: int | None = None,
) -> int:
    """Bytes of the ``m.room.encrypted`` content matrix-nio makes of ``content``.

    ``measured`` is ``json_size(content)`` if the caller has it already.
    """
    if measured is None:
        measured = json_size(content)
    # json.dumps({"type": event_type, "content": content, "room_id": room_id}) without
    # serialising the content a second time.
    payload = (
        len('{"type":,"content":,"room_id":}')
        + _quoted_len(event_type)
        + measured
        + _quoted_len(room_id)
    )
    ciphertext = (payload // 16 + 1) * 16  # AES-CBC with PKCS#7 padding
    message = _MEGOLM_FRAMING + _varint_len(ciphertext) + ciphertext
    # {"algorithm": ..., "ciphertext": "<base64>", "device_id": ..., "sender_key": ...,
    # "session_id": ...}, the device id as nio writes it (UTF-8).
    envelope = _ENCRYPTED_FIXED - 2 + _json(device_id, ascii_only=False)
    if "m.relates_to" in content:
        # nio repeats the relation in the clear so servers can aggregate it.
        relation = _json(content["m.relates_to"], ascii_only=False)
        envelope += len(',"m.relates_to":') + relation
    return envelope + (4 * message + 2) // 3  # unpadded base64


def event_size(
    content: dict[str, Any],
    event_type: str,
    *,
    sender: str,
    room_id: str,
    device_id: str | None = None,
    measured: int | None = None,
) -> int:
    """The size Synapse checks for the event that sending ``content`` creates.

    ``device_id`` is our device when the room is encrypted (the content then
    goes out as ``m.room.encrypted``), None for a plaintext room. ``measured``
    is ``json_size(content)`` if the caller has it already.
    """
    server = sender.partition(":")[2]
    if device_id is None:
        names = len(sender) + len(room_id) + len(event_type) + len(server)
        fixed = names + _ENVELOPE + _ENVELOPE_SLACK
        # ASCII-only JSON is never shorter than UTF-8 JSON: when it fits, so does the event.
        if measured is not None and measured + fixed <= EVENT_BYTES:
            return measured + fixed
        return _json(content, ascii_only=False) + fixed
    body = encrypted_content_size(content, event_type, room_id, device_id, measured=measured)
    names = len(sender) + len(room_id) + len("m.room.encrypted") + len(server)
    return body + names + _ENVELOPE + _ENVELOPE_SLACK


def check_size(
    content: dict[str, Any],
    event_type: str,
    *,
    sender: str,
    room_id: str,
    device_id: str | None = None,
    measured: int | None = None,
) -> None:
    """Refuse ``content`` that the homeserver would refuse as too large."""
    size = event_size(
        content,
        event_type,
        sender=sender,
        room_id=room_id,
        device_id=device_id,
        measured=measured,
    )
    if size > EVENT_BYTES:
        where = "an encrypted" if device_id is not None else "a"
        raise InvalidContentError(
            f"the message would make an event of about {size} bytes; {where} Matrix room "
            f"takes at most {EVENT_BYTES} bytes per event (encryption makes non-ASCII text "
            "up to 4 times larger): split the text or send it as a file"
        )


def _user_ids(content: Content) -> list[str]:
    return sorted({m.user.id for m in content.mentions if m.user.network == "matrix"})


def message_content(content: Content, *, msgtype: str = "m.text") -> dict[str, Any]:
    """``m.room.message`` content for the text of ``content`` (no attachments)."""
    body: dict[str, Any] = {"msgtype": msgtype, "body": content.text}
    mentions = [m for m in content.mentions if m.user.network == "matrix"]
    if content.format == "markdown":
        body["format"] = "org.matrix.custom.html"
        body["formatted_body"] = to_html(content.text)
    elif mentions:
        body["format"] = "org.matrix.custom.html"
        body["formatted_body"] = plain_to_html(content.text, mentions)
    # An empty m.mentions tells clients that nobody is mentioned, rather than
    # letting them guess from the body.
    body["m.mentions"] = {"user_ids": _user_ids(content)} if mentions else {}
    if content.reply_to is not None:
        body["m.relates_to"] = {"m.in_reply_to": {"event_id": content.reply_to.id}}
    return body


def edit_content(target_id: str, content: Content) -> dict[str, Any]:
    new = message_content(
        Content(text=content.text, format=content.format, mentions=content.mentions)
    )
    fallback = dict(new)
    fallback["body"] = f"* {new['body']}"
    if "formatted_body" in new:
        fallback["formatted_body"] = f"* {new['formatted_body']}"
    fallback["m.new_content"] = new
    fallback["m.relates_to"] = {"rel_type": "m.replace", "event_id": target_id}
    return fallback


def reaction_content(target_id: str, emoji: str) -> dict[str, Any]:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": target_id, "key": emoji}}


def _msgtype(mime: str) -> str:
    major = mime.split("/", 1)[0]
    return {"image": "m.image", "audio": "m.audio", "video": "m.video"}.get(major, "m.file")


def attachment_content(
    attachment: Attachment,
    size: int,
    *,
    url: str | None = None,
    file: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A file event: ``url`` for plaintext rooms, ``file`` (with keys) for encrypted ones."""
    mime = attachment.content_type
    body: dict[str, Any] = {
        "msgtype": _msgtype(mime),
        "body": attachment.name,
        "filename": attachment.name,
        "info": {"mimetype": mime, "size": size},
    }
    if file is not None:
        body["file"] = file
    else:
        body["url"] = url
    return body
