"""Send parameters, UTF-16 offsets, results and error mapping, without sockets."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unimsg_signal import CaptchaRequiredError
from unimsg_signal._errors import map_error, parse_results, send_failure
from unimsg_signal._jsonrpc import ErrorResponse
from unimsg_signal._send import (
    delete_params,
    message_params,
    reaction_params,
    receipt,
    receipt_params,
    target_params,
    typing_params,
)
from unimsg_signal._text import code_point_offset, utf16_length, utf16_offset
from unimsg_signal._values import millis, when

from unimsg import (
    Address,
    Attachment,
    AuthenticationError,
    ConnectError,
    Content,
    DeliveryError,
    InvalidContentError,
    Mention,
    MessageRef,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    RateLimitedError,
    RecipientResult,
    RemoteProtocolError,
    SendStatus,
    SentMessage,
    UnimsgError,
    UnregisteredRecipientError,
    UntrustedIdentityError,
)

ME = Address.signal("+15550000001")
BOB = Address.signal("+15550000002")
GROUP = Address.parse("signal:group:" + "a" * 43 + "=")
TS = 1767225600123
REF = MessageRef(conversation=BOB, id=str(TS), sender=BOB, timestamp=datetime.now(UTC))


def test_addressing_uses_one_kind_per_call() -> None:
    assert target_params(BOB) == {"recipient": ["+15550000002"]}
    assert target_params(Address.parse("signal:u:bob.02")) == {"username": ["bob.02"]}
    assert target_params(GROUP) == {"groupId": GROUP.id}
    uuid = Address.signal("0d1e2f30-0000-4000-8000-000000000001")
    assert target_params(uuid) == {"recipient": [uuid.id]}


def test_markdown_styles_and_mentions_in_utf16() -> None:
    content = Content(
        text="😀 **hey** @bob 👍 ~~x~~",
        format="markdown",
        mentions=[Mention(BOB, 10, 4)],
    )
    params = message_params(content, GROUP)
    text = params["message"]
    assert text == "😀 hey @bob 👍 x"
    # 'hey' starts after a two-unit emoji and a space: unit 3; '@bob' after "😀 hey ".
    assert params["textStyle"] == ["3:3:BOLD", "15:1:STRIKETHROUGH"]
    assert params["mention"] == ["7:4:+15550000002"]
    assert params["groupId"] == GROUP.id and "recipient" not in params


def test_reply_edit_and_attachment() -> None:
    content = Content(
        text="re",
        reply_to=REF,
        attachments=[Attachment(data=b"abc", filename="a;b,c.txt", mime_type="text/plain")],
    )
    params = message_params(content, BOB, edit_of=REF)
    assert params["quoteTimestamp"] == TS and params["quoteAuthor"] == BOB.id
    assert params["editTimestamp"] == TS
    uri = params["attachment"][0]
    assert uri == "data:text/plain;filename=a_b_c.txt;base64," + base64.b64encode(b"abc").decode()


def test_reaction_delete_typing_receipt_params() -> None:
    group_ref = MessageRef(conversation=GROUP, id=str(TS), sender=BOB, timestamp=REF.timestamp)
    assert reaction_params(group_ref, "👍", True) == {
        "groupId": GROUP.id,
        "emoji": "👍",
        "targetAuthor": BOB.id,
        "targetTimestamp": TS,
        "remove": True,
    }
    assert delete_params(REF) == {"recipient": [BOB.id], "targetTimestamp": TS}
    assert typing_params(GROUP, False) == {"groupId": GROUP.id, "stop": True}
    assert receipt_params(REF) == {"recipient": BOB.id, "targetTimestamp": [TS], "type": "read"}
    with pytest.raises(InvalidContentError):
        reaction_params(REF, "", False)


@given(st.text(max_size=30), st.data())
def test_utf16_offsets_round_trip(text: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(text)))
    units = utf16_offset(text, index)
    assert units == len(text[:index].encode("utf-16-le")) // 2
    assert code_point_offset(text, units) == index
    assert utf16_length(text) == len(text.encode("utf-16-le")) // 2


def _result(*types: str, **extra: object) -> dict[str, object]:
    return {
        "timestamp": TS,
        "results": [
            {
                "recipientAddress": {"uuid": None, "number": f"+1555000000{i}", "username": None},
                "type": kind,
                **extra,
            }
            for i, kind in enumerate(types, start=2)
        ],
    }


def test_partial_failure_is_a_receipt_with_failed_recipients() -> None:
    sent = receipt(_result("SUCCESS", "UNREGISTERED_FAILURE"), GROUP, ME)
    assert sent.id == str(TS) and sent.conversation == GROUP and sent.sender == ME
    assert [r.status for r in sent.recipients] == [SendStatus.DELIVERED, SendStatus.UNREGISTERED]
    assert [r.recipient.id for r in sent.failed] == ["+15550000003"]


def _general_receipt(result: dict[str, Any], conversation: Address) -> SentMessage:
    """What `receipt` builds from its general readers alone (the oracle of its fast path)."""
    ms = millis(result.get("timestamp"))
    recipients = parse_results(result, conversation)
    if recipients and not any(r.ok for r in recipients):
        raise send_failure(recipients, result)
    if ms is None:
        raise RemoteProtocolError("signal-cli answered a message without a timestamp")
    return SentMessage(
        conversation=conversation, id=str(ms), sender=ME, timestamp=when(ms), recipients=recipients
    )


NAMES = st.none() | st.sampled_from(["", "+15550000002", "+1555", "nonsense"])
ROW = st.fixed_dictionaries(
    {
        "recipientAddress": st.fixed_dictionaries(
            {
                "uuid": st.none() | st.sampled_from(["", "0d1e4f0a-8b8c-4c7e-9a57-0f2b0d6c1a11"]),
                "number": NAMES,
                "username": st.none() | st.sampled_from(["bob.02", "?"]),
            }
        )
        | st.none(),
        "type": st.sampled_from(["SUCCESS", "NETWORK_FAILURE", "IDENTITY_FAILURE", 7]),
    },
    optional={"retryAfterSeconds": st.integers(0, 100), "token": st.sampled_from(["t"])},
)


@given(
    st.integers(-1, 2**53) | st.sampled_from([253_402_300_799_999, True, None, 1.5]),
    st.lists(ROW, max_size=3) | st.none(),
)
def test_receipt_reads_every_answer_as_its_general_readers_do(
    stamp: object, rows: list[dict[str, Any]] | None
) -> None:
    result: dict[str, Any] = {"timestamp": stamp, "results": rows}
    try:
        expected: object = _general_receipt(result, BOB)
    except UnimsgError as exc:
        expected = (type(exc), str(exc))
    try:
        got: object = receipt(result, BOB, ME)
    except UnimsgError as exc:
        got = (type(exc), str(exc))
    assert got == expected


def test_receipt_of_the_usual_answer() -> None:
    sent = receipt(_result("SUCCESS"), BOB, ME)
    assert sent.id == str(TS) and sent.timestamp == datetime.fromtimestamp(TS / 1000, UTC)
    assert sent.recipients == (RecipientResult(recipient=BOB, status=SendStatus.DELIVERED),)
    # Delivered, but with a retry time to honour: the general reading keeps it.
    sent = receipt(_result("SUCCESS", retryAfterSeconds=5), BOB, ME)
    assert sent.recipients[0].detail == "SUCCESS, retry after 5s"


def _error(code: int, message: str, response: object = None) -> ErrorResponse:
    return ErrorResponse(7, code, message, None if response is None else {"response": response})


def _map(error: ErrorResponse, method: str = "send") -> Exception:
    return map_error(method, error, fallback=BOB, account=ME.id)


def test_all_failed_errors_are_typed() -> None:
    limited = _map(
        _error(
            -5,
            "Failed to send message due to rate limiting",
            _result("RATE_LIMIT_FAILURE", token="tok", retryAfterSeconds=86400),
        )
    )
    assert isinstance(limited, CaptchaRequiredError) and isinstance(limited, RateLimitedError)
    assert limited.retry_after == 86400 and limited.captcha_token == "tok"
    untrusted = _map(_error(-4, "untrusted", _result("IDENTITY_FAILURE")))
    assert isinstance(untrusted, UntrustedIdentityError)
    assert untrusted.recipient == BOB and untrusted.results[0].recipient == BOB
    unregistered = _map(_error(-1, "Failed to send message", _result("UNREGISTERED_FAILURE")))
    assert isinstance(unregistered, UnregisteredRecipientError)
    mixed = _map(_error(-1, "Failed", _result("NETWORK_FAILURE", "UNREGISTERED_FAILURE")))
    assert type(mixed) is DeliveryError and len(mixed.results) == 2


@pytest.mark.parametrize(
    ("code", "message", "method", "kind"),
    [
        (-1, "Group not found: abc", "send", NotFoundError),
        (-1, "User is not a member in group: x", "send", PermissionDeniedError),
        (-1, "The user +1 is not registered.", "updateGroup", UnregisteredRecipientError),
        (-1, "Sending empty message is not allowed", "send", InvalidContentError),
        (-3, "Failed to send message", "joinGroup", ConnectError),
        (-6, "Captcha rejected", "submitRateLimitChallenge", AuthenticationError),
        (-32601, "Method not implemented", "subscribeReceive", NotSupportedError),
        (-32602, "Specified account does not exist", "send", NotFoundError),
        (-32603, "Failed to send message: x (IOException)", "send", DeliveryError),
    ],
)
def test_error_codes(code: int, message: str, method: str, kind: type[Exception]) -> None:
    assert isinstance(_map(_error(code, message), method), kind)
