"""A local stand-in for the Signal service, so that real signal-cli daemons load accounts offline.

signal-cli reaches the service through the JVM's HTTPS proxy (``-Dhttps.proxyHost``) and trusts
it through the BKS trust store resource ``org/asamk/signal/manager/config/whisper.store``; a
directory put ahead on the class path replaces that store with one holding this stand-in's
self-signed certificate. The stand-in is that proxy: it answers ``CONNECT`` itself, speaks TLS as
``*.signal.org`` and serves the authenticated WebSocket (Signal's ``WebSocketMessage`` protobuf)
and the few REST calls a daemon makes when it loads an account. Envelopes can be pushed to a
connected account (e.g. a server delivery receipt, which needs no encryption).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import json
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import protobuf as pb
from .accounts import OfflineAccount, RemoteUser, identity_keys, write_private
from .delivery import Mailbox

TRUST_STORE_RESOURCE = "org/asamk/signal/manager/config/whisper.store"
HOSTS = ("signal.org", "*.signal.org")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Envelope types (SignalService.proto).
SERVER_DELIVERY_RECEIPT = 5


# ---------------------------------------------------------------------------------------------
# TLS identity and the trust store signal-cli reads


def make_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Signal service stand-in")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in HOSTS]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "standin.pem", directory / "standin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(key_path, key_bytes.decode())
    return cert_path, key_path


def make_trust_store(java: str, bcprov: Path, cert: Path, overlay: Path) -> Path:
    """A class-path directory whose whisper.store (BKS, password "whisper") trusts ``cert``."""
    store = overlay / TRUST_STORE_RESOURCE
    store.parent.mkdir(parents=True, exist_ok=True)
    keytool = Path(java).parent / "keytool"
    subprocess.run(
        [
            str(keytool), "-importcert", "-noprompt", "-alias", "standin", "-file", str(cert),
            "-keystore", str(store), "-storetype", "BKS", "-storepass", "whisper",
            "-providerclass", "org.bouncycastle.jce.provider.BouncyCastleProvider",
            "-providerpath", str(bcprov),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return overlay


# ---------------------------------------------------------------------------------------------
# the service


@dataclass
class _Session:
    """One authenticated WebSocket of one account."""

    account: str
    sock: ssl.SSLSocket
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 1
    #: Envelopes pushed and not yet acknowledged, by request id: like the service,
    #: they are queued again when the socket closes before the daemon answers.
    unacknowledged: dict[int, bytes] = field(default_factory=dict)

    def send_request(self, verb: str, path: str, body: bytes = b"") -> None:
        with self.lock:
            rid, self.next_id = self.next_id, self.next_id + 1
            message = pb.websocket_request(rid, verb, path, body)
            if path == "/api/v1/message":
                self.unacknowledged[rid] = body
            _ws_send(self.sock, message)

    def acknowledged(self, rid: int) -> None:
        with self.lock:
            self.unacknowledged.pop(rid, None)

    def take_unacknowledged(self) -> list[bytes]:
        with self.lock:
            pending, self.unacknowledged = list(self.unacknowledged.values()), {}
        return pending


class StandIn:
    """The proxy/service; ``start()`` it, give daemons `java_opts` and the trust overlay."""

    def __init__(self, workdir: Path, java: str, bcprov: Path) -> None:
        self.workdir = workdir
        cert, key = make_certificate(workdir)
        self.overlay = make_trust_store(java, bcprov, cert, workdir / "trust")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.log: list[tuple[str, str, str]] = []
        self.sessions: dict[str, list[_Session]] = {}
        #: Accounts by the ACI in their credentials.
        self.accounts: dict[str, OfflineAccount] = {}
        #: Identity keys of every registered user, by ACI.
        self.users: dict[str, str] = {}
        #: Path prefix -> HTTP status the service answers instead (see `fail`).
        self.faults: dict[str, int] = {}
        self._cond = threading.Condition()
        self.mailbox = Mailbox(self._push)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True, name="standin")

    @property
    def java_opts(self) -> list[str]:
        return [
            "-Dhttps.proxyHost=127.0.0.1",
            f"-Dhttps.proxyPort={self.port}",
            "-Dhttp.proxyHost=127.0.0.1",
            f"-Dhttp.proxyPort={self.port}",
        ]

    def add_accounts(self, accounts: list[OfflineAccount]) -> None:
        for account in accounts:
            self.accounts[account.aci] = account
            self.users[account.aci] = account.identity_key
            self.mailbox.register(account.aci, account.identity_key, account.registration_id)

    def _push(self, aci: str, envelope: bytes) -> bool:
        account = self.accounts.get(aci)
        sessions = list(self.sessions.get(account.number, [])) if account else []
        for session in sessions:
            try:
                session.send_request("PUT", "/api/v1/message", envelope)
                return True
            except OSError:
                continue
        return False

    def fail(self, path_prefix: str, status: int | None) -> None:
        """Answer requests under ``path_prefix`` with ``status`` (None: normally again).

        E.g. ``fail("/v1/messages/", 429)``: signal-cli then reports
        ``-5 "Failed to send message due to rate limiting"`` with ``RATE_LIMIT_FAILURE``.
        """
        if status is None:
            self.faults.pop(path_prefix, None)
        else:
            self.faults[path_prefix] = status

    def add_user(self) -> RemoteUser:
        """A registered user whose profile (and so identity key) the service hands out."""
        user = RemoteUser(aci=str(uuid.uuid4()), identity_key=identity_keys()[1])
        self.users[user.aci] = user.identity_key
        return user

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.close()
        for sessions in list(self.sessions.values()):
            for session in sessions:
                with contextlib.suppress(OSError):
                    session.sock.close()

    # -- pushing ------------------------------------------------------------------------

    def wait_connected(self, number: str, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self.sessions.get(number)), timeout):
                raise TimeoutError(f"{number} did not open its WebSocket to the stand-in")

    def push_envelope(self, number: str, envelope: bytes) -> None:
        """Deliver ``envelope`` (Envelope protobuf) to ``number``'s open WebSockets."""
        self.wait_connected(number)
        for session in list(self.sessions.get(number, [])):
            with contextlib.suppress(OSError):
                session.send_request("PUT", "/api/v1/message", envelope)

    def push_delivery_receipt(self, number: str, from_aci: str, timestamp: int) -> None:
        self.push_envelope(
            number,
            pb.envelope(
                type=SERVER_DELIVERY_RECEIPT,
                source_service_id=from_aci,
                source_device=1,
                timestamp=timestamp,
                server_timestamp=int(time.time() * 1000),
                server_guid=str(uuid.uuid4()),
            ),
        )

    # -- serving ------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            head = _read_head(conn)
            if not head.startswith(b"CONNECT "):
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            target = head.split(b" ", 2)[1].decode()
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            host = target.rsplit(":", 1)[0]
            if not host.endswith("signal.org"):
                self.log.append(("CONNECT", target, "refused"))
                return
            tls = self.context.wrap_socket(conn, server_side=True)
            self._http(tls, host)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.log.append(("error", type(exc).__name__, str(exc)))
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _http(self, sock: ssl.SSLSocket, host: str) -> None:
        reader = _Reader(sock)
        while True:
            head = reader.head()
            if not head:
                return
            lines = head.decode("latin-1").split("\r\n")
            verb, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)
            }
            body = reader.exact(int(headers.get("content-length", "0")))
            if headers.get("upgrade", "").lower() == "websocket":
                self._websocket(sock, reader, target, headers)
                return
            status, payload = self.rest(verb, target, body, None)
            self.log.append((verb, f"{host}{target}", str(status)))
            out = json.dumps(payload).encode() if payload is not None else b""
            sock.sendall(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(out)}\r\n\r\n".encode()
                + out
            )

    def _websocket(
        self, sock: ssl.SSLSocket, reader: _Reader, target: str, headers: dict[str, str]
    ) -> None:
        accept = base64.b64encode(
            hashlib.sha1((headers["sec-websocket-key"] + _WS_GUID).encode()).digest()
        ).decode()
        sock.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        account = self._authenticated(target, headers)
        session = _Session(account.number if account else "", sock)
        self.log.append(("WS", target.split("?")[0], session.account or "unauthenticated"))
        if account is not None:
            with self._cond:
                self.sessions.setdefault(account.number, []).append(session)
                self._cond.notify_all()
            self.mailbox.flush(account.aci)
        try:
            while True:
                opcode, payload = _ws_read(reader)
                if opcode == 8:
                    return
                if opcode == 9:
                    with session.lock:
                        _ws_send(sock, payload, opcode=10)
                    continue
                if opcode != 2:
                    continue
                message = pb.decode_websocket_message(payload)
                request = message.get("request")
                if request is None:
                    # The daemon's answer to a pushed envelope: it is the daemon's now.
                    response = message.get("response", {})
                    if isinstance(response.get(1), int):
                        session.acknowledged(response[1])
                    continue
                status, body = self.rest(
                    request["verb"], request["path"], request.get("body", b""), account
                )
                self.log.append((request["verb"], request["path"], str(status)))
                data = json.dumps(body).encode() if body is not None else b""
                with session.lock:
                    _ws_send(sock, pb.websocket_response(request["id"], status, data))
        finally:
            if account is not None:
                with self._cond:
                    self.sessions[account.number].remove(session)
                self.mailbox.requeue(account.aci, session.take_unacknowledged())

    def _authenticated(self, target: str, headers: dict[str, str]) -> OfflineAccount | None:
        auth = headers.get("authorization", "")
        login = ""
        if auth.lower().startswith("basic "):
            login = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        else:
            query = dict(p.split("=", 1) for p in urlsplit(target).query.split("&") if "=" in p)
            login = query.get("login", "")
        aci = login.split(".", 1)[0]
        return self.accounts.get(aci)

    def rest(
        self, verb: str, target: str, body: bytes, account: OfflineAccount | None
    ) -> tuple[int, Any]:
        """The service's answer; only what loading an account and sending need."""
        path = urlsplit(target).path
        for prefix, status in list(self.faults.items()):
            if path.startswith(prefix):
                return status, None
        if path == "/v1/keepalive":
            return 200, None
        if path.startswith("/v2/keys") and verb == "GET" and path == "/v2/keys":
            return 200, {"count": 100, "pqCount": 100}
        if path.startswith("/v2/keys") and verb == "PUT":
            query = urlsplit(target).query
            if account is not None and "identity=pni" not in query:
                self.mailbox.upload(account.aci, body)
            return 200, None
        if path.startswith("/v1/accounts/attributes"):
            return 200, None
        if path.startswith("/v1/accounts/whoami") and account is not None:
            return 200, {"uuid": account.aci, "pni": account.pni, "number": account.number}
        if path.startswith("/v1/profile/") and verb == "GET":
            aci = path.split("/")[3]
            if aci in self.users:
                profile = {"uuid": aci, "identityKey": self.users[aci], "capabilities": {}}
                return 200, profile
            return 404, None
        if path.startswith("/v2/keys/"):
            aci = path.split("/")[3]
            bundle = self.mailbox.bundle(aci)
            if bundle is not None:
                return 200, bundle
            # A user no daemon serves has no pre-keys here (making them needs XEdDSA): a send
            # fails as a network failure, as with the service unreachable.
            return (503, None) if aci in self.users else (404, None)
        if path.startswith("/v1/messages/") and verb == "PUT":
            destination = path.split("/")[3]
            sender = account.aci if account is not None else None
            if self.mailbox.deliver(sender, destination, body):
                return 200, {"needsSync": False}
            return (503, None) if destination in self.users else (404, None)
        # Everything else (profiles, pre-keys of other users, storage, certificates): this
        # service knows nobody and stores nothing.
        return 404, None


class _Reader:
    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock, self.buf = sock, b""

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                return b""
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._more():
                raise ValueError("connection closed mid-message")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(1)  # byte by byte: what follows the head is the TLS handshake
        if not chunk:
            raise ValueError("closed before the CONNECT head")
        data += chunk
    return data


def _ws_read(reader: _Reader) -> tuple[int, bytes]:
    message, first_opcode = b"", 0
    while True:
        b0, b1 = reader.exact(2)
        fin, opcode = b0 & 0x80, b0 & 0x0F
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", reader.exact(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", reader.exact(8))
        mask = reader.exact(4) if b1 & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(reader.exact(length)))
        if opcode >= 8:
            return opcode, payload
        first_opcode = first_opcode or opcode
        message += payload
        if fin:
            return first_opcode, message


def _ws_send(sock: ssl.SSLSocket, payload: bytes, opcode: int = 2) -> None:
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    sock.sendall(head + payload)
