"""Matrix: unimsg's adapter vs raw matrix-nio vs raw HTTP PUTs, on Synapse (relaxed profile).

    python benchmarks/bench_matrix.py [--messages 500] [--repeat 3] [--latency 100] [--json FILE]
                                      [--profile FILE] [--baseline DIR]

Synapse is the bottleneck (it burns a core; a client needs a few per cent), so
beside messages per second this reports the client's own CPU time per message,
where an SDK's overhead shows. Each measurement runs in a fresh process of
its own (``--worker``) so that no other client's sync loop is billed to it,
with a fresh device, so no run inherits another's backlog; log-in, first sync
and a few warm-up sends are outside the measured span.

- raw HTTP: httpx PUT /rooms/{room}/send/m.room.message/{txn}, no sync loop
  (the floor: plaintext only).
- raw matrix-nio: ``room_send`` with a fixed txn id per message, bounded retries
  (``max_limit_exceeded``/``max_timeouts``), and ``sync_forever`` running, as
  any client that also receives must.
- unimsg: ``Client.send`` through ``MatrixAdapter``, whose sync loop runs too.
- before (with ``--baseline DIR``): the same as unimsg, imported from another
  checkout of the project (``DIR`` and ``DIR/adapters``), for an A/B of two
  versions in the same run, against the same Synapse.

Latency is send-to-receive between two accounts of the same kind (nio to nio,
unimsg to unimsg): the sender's call starts the clock, the receiver's
callback or ``events()`` stops it. Skips (exit 0, JSON says why) when the
relaxed Synapse is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, percentile, table, write
from _synapse import START_HINT, Http, instance, register

Send = Callable[[str, str, str], Awaitable[None]]
WARM_UP = 5


# -- senders (run inside a worker) -----------------------------------------------------------


@contextlib.asynccontextmanager
async def http_sender(spec: dict[str, Any], user: dict[str, str], pool: int) -> AsyncIterator[Send]:
    import httpx

    async with httpx.AsyncClient(
        base_url=f"{spec['url']}/_matrix/client/v3",
        headers={"Authorization": f"Bearer {user['access_token']}"},
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        timeout=60,
    ) as http:

        async def send(room_id: str, text: str, txn: str) -> None:
            answer = await http.put(
                f"/rooms/{room_id}/send/m.room.message/{txn}",
                json={"msgtype": "m.text", "body": text},
            )
            answer.raise_for_status()

        yield send


@contextlib.asynccontextmanager
async def nio_client(spec: dict[str, Any], user: dict[str, str], store: Path) -> AsyncIterator[Any]:
    """A logged-in nio client on a new device, synced once, with ``sync_forever`` running."""
    import nio

    await asyncio.to_thread(store.mkdir, parents=True, exist_ok=True)
    config = nio.AsyncClientConfig(
        max_limit_exceeded=3,
        max_timeouts=3,
        encryption_enabled=True,
        store_sync_tokens=False,
    )
    client = nio.AsyncClient(spec["url"], user["user_id"], store_path=str(store), config=config)
    try:
        login = await client.login(user["password"], device_name="bench-nio")
        assert isinstance(login, nio.LoginResponse), login
        await client.sync(timeout=0, full_state=True)
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        syncing = asyncio.ensure_future(client.sync_forever(timeout=30_000))
        try:
            yield client
        finally:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def nio_sender(
    spec: dict[str, Any], user: dict[str, str], store: Path
) -> AsyncIterator[Send]:
    import nio

    async with nio_client(spec, user, store) as client:

        async def send(room_id: str, text: str, txn: str) -> None:
            answer = await client.room_send(
                room_id,
                "m.room.message",
                {"msgtype": "m.text", "body": text},
                tx_id=txn,
                ignore_unverified_devices=True,
            )
            assert isinstance(answer, nio.RoomSendResponse), answer

        yield send


@contextlib.asynccontextmanager
async def unimsg_client(
    spec: dict[str, Any], user: dict[str, str], store: Path
) -> AsyncIterator[Any]:
    from unimsg_matrix import MatrixAdapter

    import unimsg

    adapter = MatrixAdapter(
        homeserver=spec["url"],
        user_id=user["user_id"],
        password=user["password"],
        store_path=store,
        device_name="bench-unimsg",
        # Compared with raw matrix-nio, which has no cross-signing: like for like.
        cross_signing=False,
    )
    async with unimsg.Client(adapter) as client:
        yield client


@contextlib.asynccontextmanager
async def unimsg_sender(
    spec: dict[str, Any], user: dict[str, str], store: Path
) -> AsyncIterator[Send]:
    from unimsg import Address

    async with unimsg_client(spec, user, store) as client:

        async def send(room_id: str, text: str, txn: str) -> None:
            await client.send(Address.matrix(room_id), text, idempotency_key=txn)

        # A real application reads its events; an unread buffer would stall the sync loop.
        async def drain() -> None:
            async for _ in client.events():
                pass

        draining = asyncio.ensure_future(drain())
        try:
            yield send
        finally:
            draining.cancel()


def sender(kind: str, spec: dict[str, Any], store: Path, pool: int) -> Any:
    user = spec["users"][f"send_{kind}"]
    if kind == "http":
        return http_sender(spec, user, pool)
    if kind == "nio":
        return nio_sender(spec, user, store)
    return unimsg_sender(spec, user, store)


async def drive(send: Send, room_id: str, n: int, in_flight: int, tag: str) -> None:
    """``n`` sends with at most ``in_flight`` outstanding."""
    counter = iter(range(n))

    async def lane() -> None:
        for i in counter:
            await send(room_id, f"{tag} {i}", f"{tag}.{i}")

    await asyncio.gather(*(lane() for _ in range(in_flight)))


async def throughput_worker(job: dict[str, Any]) -> dict[str, Any]:
    spec = job["spec"]
    room_id = spec["rooms"][job["room"]]
    tag = uuid.uuid4().hex[:8]
    store = Path(spec["stores"]) / f"{job['client']}-{tag}"
    async with sender(job["client"], spec, store, job["in_flight"]) as send:
        await drive(send, room_id, WARM_UP, 1, f"warm-{tag}")
        # CPU time, not wall time: waiting for Synapse is not the client's cost.
        profile = cProfile.Profile(time.process_time) if job.get("profile") else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        await drive(send, room_id, job["n"], job["in_flight"], tag)
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result: dict[str, Any] = {
        "msgs_per_s": job["n"] / wall,
        "client_cpu_us_per_msg": cpu / job["n"] * 1e6,
    }
    if profile:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
        stats.print_stats(45)
        # unimsg's own functions, which the library's calls would push off the list above.
        stats.print_stats("unimsg", 40)
        result["profile"] = out.getvalue()
    return result


async def latency_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Sequential: send one, wait until the other account has it, repeat."""
    spec, kind = job["spec"], job["client"]
    room_id = spec["rooms"][job["room"]]
    tag = uuid.uuid4().hex[:8]
    stores = Path(spec["stores"])
    arrived: dict[str, asyncio.Event] = {}

    def seen(body: str) -> None:
        if body in arrived:
            arrived[body].set()

    async with contextlib.AsyncExitStack() as stack:
        # The receiver first: its device keys must exist before the sender shares a session.
        if kind == "nio":
            import nio

            receiver = await stack.enter_async_context(
                nio_client(spec, spec["users"]["recv_nio"], stores / f"recv-nio-{tag}")
            )

            async def on_message(_room: Any, event: Any) -> None:
                seen(event.body)

            receiver.add_event_callback(on_message, nio.RoomMessageText)
            send = await stack.enter_async_context(
                nio_sender(spec, spec["users"]["send_nio"], stores / f"lat-nio-{tag}")
            )
        else:
            import unimsg

            receiver = await stack.enter_async_context(
                unimsg_client(spec, spec["users"][f"recv_{kind}"], stores / f"recv-{kind}-{tag}")
            )

            async def consume() -> None:
                async for event in receiver.events():
                    if isinstance(event, unimsg.MessageReceived):
                        seen(event.text)

            consuming = asyncio.ensure_future(consume())
            stack.callback(consuming.cancel)
            send = await stack.enter_async_context(
                unimsg_sender(spec, spec["users"][f"send_{kind}"], stores / f"lat-{kind}-{tag}")
            )
        samples = []
        for i in range(-WARM_UP, job["n"]):
            body = f"latency {tag} {i}"
            arrived[body] = asyncio.Event()
            start = time.perf_counter()
            await send(room_id, body, f"{tag}.{i}")
            await asyncio.wait_for(arrived[body].wait(), 30)
            if i >= 0:
                samples.append((time.perf_counter() - start) * 1e3)
    return {"samples_ms": samples}


def worker(job: dict[str, Any]) -> None:
    run = throughput_worker if job["kind"] == "throughput" else latency_worker
    result = asyncio.run(run(job))
    if "profile" in result:
        Path(job["profile"]).write_text(result.pop("profile"))
    print(json.dumps(result))


def spawn(job: dict[str, Any], baseline: Path | None = None) -> dict[str, Any]:
    env = None
    if job["client"] == "before":
        # The other checkout's unimsg and adapters come first on the path.
        assert baseline is not None
        path = [str(baseline), str(baseline / "adapters"), os.environ.get("PYTHONPATH", "")]
        env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in path if p)}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker {job['kind']} {job['client']} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- set-up and report -------------------------------------------------------------------------


def set_up(server: dict[str, Any], stores: Path) -> dict[str, Any]:
    users = {
        name: register(server, prefix=name.replace("_", ""))
        for name in (
            "owner",
            "send_http",
            "send_nio",
            "send_unimsg",
            "send_before",
            "recv_nio",
            "recv_unimsg",
            "recv_before",
        )
    }
    members = [u["user_id"] for name, u in users.items() if name != "owner"]
    rooms = {}
    with Http(server["url"], users["owner"]) as owner:
        for name, encrypted in (("plain", False), ("encrypted", True)):
            rooms[name] = owner.create_room(
                name=f"bench {name}", invite=members, encrypted=encrypted
            )
    for name, user in users.items():
        if name == "owner":
            continue
        with Http(server["url"], user) as http:
            for room_id in rooms.values():
                http.join(room_id)
    return {"url": server["url"], "users": users, "rooms": rooms, "stores": str(stores)}


def cases(rooms: list[str], in_flight: int, before: bool) -> list[tuple[str, str, str, int]]:
    """(label, client, room, in flight); raw HTTP cannot encrypt."""
    found = []
    clients = ("http", "nio", "unimsg", "before") if before else ("http", "nio", "unimsg")
    for room in rooms:
        for lanes in (1, in_flight):
            for client in clients:
                if client == "http" and room == "encrypted":
                    continue
                suffix = "" if lanes == 1 else f", {lanes} in flight"
                found.append((f"{client}, {room}{suffix}", client, room, lanes))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--latency", type=int, default=100, help="messages per latency series")
    parser.add_argument("--rooms", default="plain,encrypted", help="which rooms to measure")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--profile", type=Path, help="also write CPU profiles of nio and unimsg to FILE.*.txt"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also measure the unimsg of this checkout (an older version) as 'before'",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    server = instance("relaxed")
    if server is None:
        reason = f"Synapse (relaxed profile) is not running: {START_HINT} --port 18108"
        print(f"matrix: skipped: {reason}")
        write("matrix", {"skipped": reason}, args.json)
        return
    n = args.messages
    rooms = args.rooms.split(",")
    with tempfile.TemporaryDirectory(prefix="unimsg-bench-") as tmp:
        spec = set_up(server, Path(tmp))
        latency: dict[str, dict[str, float]] = {}
        for room in rooms:
            for client in ("nio", "unimsg", "before") if args.baseline else ("nio", "unimsg"):
                job = {"kind": "latency", "client": client, "room": room, "n": args.latency}
                samples = spawn({**job, "spec": spec}, args.baseline)["samples_ms"]
                latency[f"{client}, {room}"] = {
                    "p50": percentile(samples, 0.50),
                    "p95": percentile(samples, 0.95),
                    "p99": percentile(samples, 0.99),
                }
        runs: dict[str, list[dict[str, float]]] = {}
        plan = cases(rooms, args.in_flight, args.baseline is not None)
        for _ in range(args.repeat):
            # Interleaved rounds: drift in Synapse (its database grows) hits every case alike.
            for label, client, room, lanes in plan:
                job = {"kind": "throughput", "client": client, "room": room, "n": n}
                job |= {"in_flight": lanes, "spec": spec}
                runs.setdefault(label, []).append(spawn(job, args.baseline))
        if args.profile:
            # Extra runs: the profiler's own cost must not reach the figures.
            for client in ("nio", "unimsg"):
                for room in rooms:
                    target = args.profile.with_name(f"{args.profile.name}.{client}.{room}.txt")
                    job = {"kind": "throughput", "client": client, "room": room, "n": n}
                    spawn(job | {"in_flight": 1, "spec": spec, "profile": str(target)})
    results = {
        label: {
            "msgs_per_s": median([r["msgs_per_s"] for r in rs]),
            "client_cpu_us_per_msg": median([r["client_cpu_us_per_msg"] for r in rs]),
            "runs": rs,
        }
        for label, rs in runs.items()
    }
    # unimsg's ratios are the goal's; the baseline's (an older checkout) only compare.
    ratios: dict[str, float] = {}
    baseline_ratios: dict[str, float] = {}
    for label in results:
        client, _, case = label.partition(",")
        if client not in ("unimsg", "before"):
            continue
        base = results[f"nio,{case}"]
        ours = results[label]
        into = ratios if client == "unimsg" else baseline_ratios
        into[f"{label}: throughput vs nio"] = ours["msgs_per_s"] / base["msgs_per_s"]
        into[f"{label}: client CPU vs nio"] = (
            ours["client_cpu_us_per_msg"] / base["client_cpu_us_per_msg"]
        )
    table(
        f"Matrix on Synapse (relaxed), {n} messages, median of {args.repeat}",
        [(k, v["msgs_per_s"], v["client_cpu_us_per_msg"]) for k, v in results.items()],
        ["client, room", "msg/s", "client CPU us/msg"],
    )
    table(
        f"send-to-receive latency, {args.latency} messages",
        [(k, v["p50"], v["p95"], v["p99"]) for k, v in latency.items()],
        ["sender -> receiver", "p50 ms", "p95 ms", "p99 ms"],
    )
    for name, value in (ratios | baseline_ratios).items():
        print(f"  {name}: {value:.3f}x")
    write(
        "matrix",
        {
            "messages": n,
            "repeat": args.repeat,
            "in_flight": args.in_flight,
            # The directory name only: a checkout's path says nothing elsewhere.
            "baseline": args.baseline.name if args.baseline else None,
            "results": results,
            "latency_ms": latency,
            "ratios": ratios,
            "baseline_ratios": baseline_ratios,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
