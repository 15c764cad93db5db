from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from signal_rpc_client import ALICE, BOB, CAROL, LineClient
from unimsg_signal._jsonrpc import ErrorResponse, Response
from unimsg_signal.emulator import (
    Daemon,
    EmulatedNetwork,
    Failure,
    ReceiveMode,
    safety_number,
    serve_tcp,
    serve_unix,
)

pytestmark = pytest.mark.anyio

TS = 1767225600123  # a realistic 13-digit timestamp


@pytest.fixture
def network() -> EmulatedNetwork:
    net = EmulatedNetwork()
    net.register(ALICE, username="alice.01", given_name="Alice")
    net.register(BOB, username="bob.02", given_name="Bob")
    net.register(CAROL)
    return net


async def read_until_closed(c: LineClient) -> bytes:
    try:
        while True:
            await c.stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return b""


@asynccontextmanager
async def client(
    stack: AsyncExitStack, daemon: Daemon, transport: str = "tcp", tmp: Path | None = None
) -> AsyncIterator[LineClient]:
    if transport == "tcp":
        server = await stack.enter_async_context(serve_tcp(daemon))
        stream: Any = await anyio.connect_tcp("127.0.0.1", server.port)
    else:
        assert tmp is not None
        path = tmp / f"s{id(daemon)}.sock"
        await stack.enter_async_context(serve_unix(daemon, path))
        stream = await anyio.connect_unix(path)
    c = LineClient(stream)
    # A round trip guarantees the server side (and its subscription) is set up.
    await c.call("version")
    try:
        yield c
    finally:
        await c.aclose()


@asynccontextmanager
async def pair(
    network: EmulatedNetwork, transport: str = "tcp", tmp: Path | None = None, **kw: Any
) -> AsyncIterator[tuple[LineClient, LineClient]]:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE], **kw))
        db = await stack.enter_async_context(Daemon(network, [BOB], **kw))
        a = await stack.enter_async_context(client(stack, da, transport, tmp))
        b = await stack.enter_async_context(client(stack, db, transport, tmp))
        yield a, b


@pytest.mark.parametrize("transport", ["tcp", "unix"])
async def test_send_and_receive_with_receipts(
    network: EmulatedNetwork, transport: str, tmp_path: Path
) -> None:
    async with pair(network, transport, tmp_path) as (a, b):
        result = await a.call("send", {"recipient": [BOB], "message": "hello"})
        bob = network.account(BOB)
        assert result["results"] == [
            {
                "recipientAddress": {"uuid": bob.aci, "number": BOB, "username": None},
                "type": "SUCCESS",
            }
        ]
        env = await b.envelope()
        assert env["sourceNumber"] == ALICE and env["sourceName"] == "Alice"
        assert env["timestamp"] == result["timestamp"]
        assert env["dataMessage"] == {
            "timestamp": result["timestamp"],
            "message": "hello",
            "expiresInSeconds": 0,
            "isExpirationUpdate": False,
            "viewOnce": False,
        }
        receipt = await a.envelope()
        assert receipt["receiptMessage"]["isDelivery"] is True
        assert receipt["receiptMessage"]["timestamps"] == [result["timestamp"]]
        await b.call("sendReceipt", {"recipient": ALICE, "targetTimestamp": result["timestamp"]})
        read = (await a.envelope())["receiptMessage"]
        assert read["isRead"] and not read["isDelivery"]
        await b.call("sendTyping", {"recipient": ALICE})
        assert (await a.envelope())["typingMessage"]["action"] == "STARTED"


async def test_timestamps_strictly_increase_and_notification_has_account(
    network: EmulatedNetwork,
) -> None:
    async with pair(network) as (a, b):
        first = await a.call("send", {"recipients": [BOB], "message": "1"})
        second = await a.call("send", {"recipient": BOB, "message": "2"})
        assert second["timestamp"] > first["timestamp"] > 10**12
        note = await b.notification()
        assert isinstance(note.params, dict) and note.params["account"] == BOB


async def test_reaction_edit_delete_quote_mentions_styles_attachment(
    network: EmulatedNetwork,
) -> None:
    async with pair(network) as (a, b):
        sent = await a.call("send", {"recipient": BOB, "message": "hi"})
        ts = sent["timestamp"]
        await b.envelope()
        await b.call(
            "sendReaction",
            {"recipient": ALICE, "emoji": "👍", "targetAuthor": ALICE, "targetTimestamp": ts},
        )
        reaction = (await a.envelope(kind="dataMessage"))["dataMessage"]
        assert reaction["message"] is None
        assert reaction["reaction"] == {
            "emoji": "👍",
            "targetAuthor": ALICE,
            "targetAuthorNumber": ALICE,
            "targetAuthorUuid": network.account(ALICE).aci,
            "targetSentTimestamp": ts,
            "isRemove": False,
        }
        edit = await a.call("send", {"recipient": BOB, "message": "hi!", "editTimestamp": ts})
        env = await b.envelope(kind="editMessage")
        assert env["editMessage"]["targetSentTimestamp"] == ts
        assert env["editMessage"]["dataMessage"]["timestamp"] == edit["timestamp"]
        assert env["editMessage"]["dataMessage"]["message"] == "hi!"
        await a.call("remoteDelete", {"recipient": BOB, "targetTimestamp": ts})
        deleted = (await b.envelope(kind="dataMessage"))["dataMessage"]
        assert deleted["remoteDelete"] == {"timestamp": ts}
        data = base64.b64encode(b"hello").decode()
        await a.call(
            "send",
            {
                "recipient": BOB,
                "message": "\ufffc look",
                "mention": f"0:1:{BOB}",
                "textStyle": ["2:4:BOLD"],
                "quoteTimestamp": ts,
                "quoteAuthor": ALICE,
                "quoteMessage": "hi",
                "attachment": f"data:text/plain;filename=a.txt;base64,{data}",
            },
        )
        msg = (await b.envelope(kind="dataMessage"))["dataMessage"]
        assert msg["mentions"][0]["number"] == BOB and msg["mentions"][0]["start"] == 0
        assert msg["textStyles"] == [{"style": "BOLD", "start": 2, "length": 4}]
        assert msg["quote"]["id"] == ts and msg["quote"]["attachments"] == []
        att = msg["attachments"][0]
        assert att["contentType"] == "text/plain" and att["filename"] == "a.txt"
        assert att["size"] == 5
        got = await b.call("getAttachment", {"id": att["id"]})
        assert base64.b64decode(got["data"]) == b"hello"


async def test_group_fan_out_and_updates(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        db = await stack.enter_async_context(Daemon(network, [BOB]))
        dc = await stack.enter_async_context(Daemon(network, [CAROL]))
        a = await stack.enter_async_context(client(stack, da))
        b = await stack.enter_async_context(client(stack, db))
        c = await stack.enter_async_context(client(stack, dc))
        created = await a.call("updateGroup", {"name": "Team", "members": [BOB, CAROL]})
        gid = created["groupId"]
        assert len(base64.b64decode(gid)) == 32
        for peer in (b, c):
            update = (await peer.envelope())["dataMessage"]["groupInfo"]
            assert update["type"] == "UPDATE" and update["groupId"] == gid
        await a.call("updateGroup", {"groupId": gid, "expiration": 3600})
        await b.envelope()
        await c.envelope()
        result = await a.call("send", {"groupId": gid, "message": "all"})
        assert {r["recipientAddress"]["number"] for r in result["results"]} == {BOB, CAROL}
        assert all(r["groupId"] == gid for r in result["results"])
        for peer in (b, c):
            msg = (await peer.envelope())["dataMessage"]
            assert msg["groupInfo"]["type"] == "DELIVER" and msg["groupInfo"]["groupName"] == "Team"
            assert msg["expiresInSeconds"] == 3600
        groups = await b.call("listGroups")
        assert groups[0]["id"] == gid and groups[0]["messageExpirationTime"] == 3600
        admins = [m["number"] for m in groups[0]["members"] if m["isAdmin"]]
        assert admins == [ALICE]
        await c.call("sendTyping", {"groupId": gid})
        assert (await b.envelope())["typingMessage"]["groupId"] == gid
        err = await a.error("quitGroup", {"groupId": gid})
        assert err.code == -1 and "new admin" in err.message
        await b.call("quitGroup", {"groupId": gid})
        left = await b.call("listGroups")
        assert left[0]["isMember"] is False
        err = await b.error("send", {"groupId": gid, "message": "x"})
        assert err.code == -1 and err.message.startswith("User is not a member in group")


async def test_invite_link_join(network: EmulatedNetwork) -> None:
    async with pair(network) as (a, b):
        gid = (await a.call("updateGroup", {"name": "Open", "link": "enabled"}))["groupId"]
        link = (await a.call("listGroups", {"groupId": gid}))[0]["groupInviteLink"]
        assert link.startswith("https://signal.group/#")
        joined = await b.call("joinGroup", {"uri": link})
        assert joined["groupId"] == gid
        assert (await a.envelope())["dataMessage"]["groupInfo"]["type"] == "UPDATE"


async def test_per_recipient_failures(network: EmulatedNetwork) -> None:
    network.register("+15550000004")
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        a = await stack.enter_async_context(client(stack, da))
        faults = network.faults
        faults.fail_recipient(BOB, Failure.PROOF_REQUIRED, token="tok")
        faults.fail_recipient(CAROL, Failure.NETWORK)
        res = await a.call("send", {"recipient": [BOB, CAROL, "+15550000004"], "message": "x"})
        types = [(r["type"], r.get("token"), r.get("retryAfterSeconds")) for r in res["results"]]
        assert types == [
            ("RATE_LIMIT_FAILURE", "tok", 86400),
            ("NETWORK_FAILURE", None, None),
            ("SUCCESS", None, None),
        ]
        faults.fail_recipient(BOB, Failure.RATE_LIMIT, retry_after=30)
        err = await a.error("send", {"recipient": BOB, "message": "x"})
        assert err.code == -5 and err.message == "Failed to send message due to rate limiting"
        assert isinstance(err.data, dict)
        assert err.data["response"]["results"][0]["retryAfterSeconds"] == 30
        faults.fail_recipient(BOB, Failure.UNREGISTERED, times=2)
        assert (await a.error("send", {"recipient": BOB, "message": "x"})).code == -1
        assert (await a.error("sendTyping", {"recipient": BOB})).code == -1
        assert (await a.call("send", {"recipient": BOB, "message": "x"}))["results"][0][
            "type"
        ] == "SUCCESS"
        unknown = await a.error("send", {"recipient": "+15559999999", "message": "x"})
        assert isinstance(unknown.data, dict)
        assert unknown.data["response"]["results"][0] == {
            "recipientAddress": {"uuid": None, "number": "+15559999999", "username": None},
            "type": "UNREGISTERED_FAILURE",
        }
        err = await a.error("submitRateLimitChallenge", {"challenge": "nope", "captcha": "x"})
        assert err.code == -6
        assert await a.call("submitRateLimitChallenge", {"challenge": "tok", "captcha": "c"}) == {}


async def test_error_codes(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        a = await stack.enter_async_context(client(stack, da))
        cases: list[tuple[str, Any, int, str]] = [
            ("nope", {}, -32601, "Method not implemented"),
            ("listAccounts", {}, -32601, "Method not implemented"),
            ("send", {"message": "x"}, -1, "No recipients given"),
            ("send", {"recipient": BOB}, -1, "Sending empty message is not allowed"),
            ("send", {"recipient": "bogus", "message": "x"}, -1, "Invalid phone number"),
            ("send", {"groupId": "!!", "message": "x"}, -1, "Invalid group id"),
            ("send", {"recipient": BOB, "message": "x", "quoteTimestamp": TS}, -1, "Quote author"),
            ("send", {"recipient": BOB, "message": "x", "viewOnce": "yes"}, -32603, "Boolean"),
            (
                "sendReaction",
                {"recipient": BOB, "emoji": "x", "targetTimestamp": 999},
                -32603,
                "java.lang.Integer cannot be cast",
            ),
            ("remoteDelete", {"recipient": BOB}, -32603, "NullPointerException"),
            ("send", {"recipients": BOB, "message": "x"}, -32603, "ClassCastException"),
            ("receive", {"timeout": 0.1, "bogus": 1}, -32600, 'Unrecognized field "bogus"'),
            ("unsubscribeReceive", {"subscription": 12345}, -1, "Unknown subscription id"),
            ("send", [1, 2], -32600, "Cannot deserialize"),
        ]
        for method, params, code, fragment in cases:
            err = await a.error(method, params)
            assert (err.code, fragment in err.message) == (code, True), (method, err)
        raw = [
            (b'{"jsonrpc":"1.0","method":"version","id":1}\n', -32600, 1),
            (b'{"jsonrpc":"2.0","id":"x"}\n', -32600, "x"),
            (b'{"jsonrpc":"2.0","method":"version","id":2,"extra":1}\n', -32600, 2),
            (b"{oops\n", -32700, None),
            (b"\n", -32700, None),
            (b"[]\n", -32600, None),
            (b"17\n", -32600, None),
        ]
        for line, code, rid in raw:
            await a.stream.send(line)
            event = await a.response(rid)
            assert isinstance(event, ErrorResponse) and event.code == code, line
        # Notifications (no id) get no answer, even when they fail.
        await a.stream.send(b'{"jsonrpc":"2.0","method":"nope"}\n')
        assert await a.call("version") == {"version": "0.14.6"}
        assert not a.pending


async def test_batch(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        a = await stack.enter_async_context(client(stack, da))
        ids, line = a.conn.send_batch([("version", None), ("nope", {})])
        await a.stream.send(line)
        first, second = await a.response(ids[0]), await a.response(ids[1])
        assert isinstance(first, Response) and isinstance(second, ErrorResponse)
        await a.stream.send(b'[{"jsonrpc":"2.0","method":"version"}]\n')
        assert await a.call("version") == {"version": "0.14.6"}


async def test_multi_account_mode(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        daemon = Daemon(network, [ALICE, BOB], multi_account=True)
        d = await stack.enter_async_context(daemon)
        c = await stack.enter_async_context(client(stack, d))
        assert await c.call("listAccounts") == [{"number": ALICE}, {"number": BOB}]
        err = await c.error("send", {"recipient": BOB, "message": "x"})
        assert (err.code, err.message) == (-32602, "Method requires valid account parameter")
        err = await c.error("send", {"account": CAROL, "recipient": BOB, "message": "x"})
        assert (err.code, err.message) == (-32602, "Specified account does not exist")
        bob_aci = network.account(BOB).aci
        await c.call("send", {"account": ALICE, "recipient": BOB, "message": "x"})
        note = await c.notification()
        assert isinstance(note.params, dict) and note.params["account"] == BOB
        await c.call("send", {"account": bob_aci, "recipient": ALICE, "message": "y"})
        seen = set()
        for _ in range(2):  # alice's delivery receipt and bob's message, in any order
            params = (await c.notification()).params
            assert isinstance(params, dict)
            seen.add(params["account"])
        assert seen == {ALICE}
        err = await c.error("unsubscribeReceive")
        assert "Missing subscription parameter" in err.message


async def test_manual_mode_subscribe_and_poll(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE], receive_mode="manual"))
        a = await stack.enter_async_context(client(stack, da))
        network.send_text(BOB, ALICE, "queued")
        await a.no_notification()
        polled = await a.call("receive", {"timeout": 0.1, "maxMessages": 5})
        assert [p["envelope"]["dataMessage"]["message"] for p in polled] == ["queued"]
        assert polled[0]["account"] == ALICE
        network.send_text(BOB, ALICE, "one")
        network.send_text(BOB, ALICE, "two")
        polled = await a.call("receive", {"timeout": 0.1, "maxMessages": 1})
        assert len(polled) == 1
        sid = await a.call("subscribeReceive")
        assert isinstance(sid, int)
        note = await a.notification()
        assert isinstance(note.params, dict) and note.params["subscription"] == sid
        assert note.params["result"]["envelope"]["dataMessage"]["message"] == "two"
        err = await a.error("receive", {"timeout": 0.1})
        assert err.code == -1 and "already being received" in err.message
        assert await a.call("unsubscribeReceive", {"subscription": sid}) == {}
        network.send_text(BOB, ALICE, "later")
        await a.no_notification()
        assert len(network.account(ALICE).mailbox) == 1


async def test_on_start_loses_unattached_and_on_connection_keeps(network: EmulatedNetwork) -> None:
    async with Daemon(network, [ALICE]) as daemon:
        network.send_text(BOB, ALICE, "nobody listening")
        assert [p["envelope"]["dataMessage"]["message"] for p in daemon.unclaimed] == [
            "nobody listening"
        ]
    async with AsyncExitStack() as stack:
        mode = ReceiveMode.ON_CONNECTION
        daemon = await stack.enter_async_context(Daemon(network, [ALICE], receive_mode=mode))
        network.send_text(BOB, ALICE, "kept")
        assert not daemon.unclaimed
        a = await stack.enter_async_context(client(stack, daemon))
        assert (await a.envelope())["dataMessage"]["message"] == "kept"


async def test_identity_change_and_trust(network: EmulatedNetwork) -> None:
    async with pair(network) as (a, b):
        await a.call("send", {"recipient": BOB, "message": "first"})
        await b.envelope()
        await a.envelope()
        network.change_identity(BOB)
        err = await a.error("send", {"recipient": BOB, "message": "again"})
        assert err.code == -4
        assert isinstance(err.data, dict)
        assert err.data["response"]["results"][0]["type"] == "IDENTITY_FAILURE"
        ids = await a.call("listIdentities", {"number": BOB})
        assert ids[0]["trustLevel"] == "UNTRUSTED" and len(ids[0]["safetyNumber"]) == 71
        # Bob writes to alice: alice's daemon cannot decrypt until she trusts the new key.
        sent = await b.call("send", {"recipient": ALICE, "message": "new phone"})
        note = await a.notification()
        assert isinstance(note.params, dict)
        assert note.params["exception"]["type"] == "UntrustedIdentityException"
        assert "dataMessage" not in note.params["envelope"]
        err = await a.error("trust", {"recipient": BOB, "verifiedSafetyNumber": "1" * 60})
        assert err.code == -1
        number = safety_number(network.account(ALICE), network.account(BOB))
        await a.call("trust", {"recipient": BOB, "verifiedSafetyNumber": number})
        env = await a.envelope()
        assert env["dataMessage"]["message"] == "new phone"
        assert env["timestamp"] == sent["timestamp"]
        ids = await a.call("listIdentities", {"number": BOB})
        assert ids[0]["trustLevel"] == "TRUSTED_VERIFIED"
        assert (await a.call("send", {"recipient": BOB, "message": "ok"}))["results"][0][
            "type"
        ] == "SUCCESS"


async def test_contacts_profile_status(network: EmulatedNetwork) -> None:
    async with pair(network) as (a, b):
        await a.call("updateProfile", {"givenName": "Alicia", "about": "hi"})
        await a.call("updateContact", {"recipient": BOB, "name": "Bobby", "expiration": 60})
        update = (await b.envelope())["dataMessage"]
        assert update["isExpirationUpdate"] is True and update["expiresInSeconds"] == 60
        contacts = await a.call("listContacts")
        assert contacts[0]["number"] == BOB and contacts[0]["givenName"] == "Bobby"
        assert contacts[0]["messageExpirationTime"] == 60
        await a.call("send", {"recipient": BOB, "message": "timed"})
        env = await b.envelope()
        assert env["sourceName"] == "Alicia" and env["dataMessage"]["expiresInSeconds"] == 60
        status = await a.call("getUserStatus", {"recipient": [BOB, "+15559999999"]})
        assert [s["isRegistered"] for s in status] == [True, False]
        assert status[1]["uuid"] is None and status[1]["number"] == "+15559999999"
        await a.call("send", {"username": "bob.02", "message": "by name"})
        assert (await b.envelope())["dataMessage"]["message"] == "by name"


async def test_sync_message_from_linked_device(network: EmulatedNetwork) -> None:
    async with pair(network) as (a, b):
        ts = network.send_text(ALICE, BOB, "from my phone", device=2)
        env = await a.envelope(kind="syncMessage")
        sent = env["syncMessage"]["sentMessage"]
        assert sent["destinationNumber"] == BOB and sent["message"] == "from my phone"
        assert sent["timestamp"] == ts and env["sourceDevice"] == 2
        assert (await b.envelope())["dataMessage"]["message"] == "from my phone"


async def test_garbage_and_whole_call_faults(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        a = await stack.enter_async_context(client(stack, da))
        network.faults.fail_method("send", -32603, "Failed to send message: boom (IOException)")
        err = await a.error("send", {"recipient": BOB, "message": "x"})
        assert err.code == -32603
        network.faults.garbage_next_response(b"\x00garbage{\n")
        _, line = a.conn.send_request("version")
        await a.stream.send(line)
        with pytest.raises(Exception, match="invalid JSON"):
            await a._fill()
        assert await a.call("version") == {"version": "0.14.6"}


async def test_drop_connections_and_stall(network: EmulatedNetwork) -> None:
    async with AsyncExitStack() as stack:
        da = await stack.enter_async_context(Daemon(network, [ALICE]))
        server = await stack.enter_async_context(serve_tcp(da))
        a = LineClient(await anyio.connect_tcp("127.0.0.1", server.port))
        assert await a.call("version")
        network.faults.drop_connections()
        with anyio.fail_after(5):
            assert await read_until_closed(a) == b""
        await a.aclose()
        b = LineClient(await anyio.connect_tcp("127.0.0.1", server.port))
        assert await b.call("version")  # also: the session is ready
        network.faults.stall_notifications(0.3)
        network.send_text(BOB, ALICE, "slow")
        await b.no_notification(0.15)
        assert (await b.envelope())["dataMessage"]["message"] == "slow"
        await b.aclose()
