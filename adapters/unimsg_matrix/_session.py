"""One logged-in matrix-nio client: login, device reuse, key upkeep, raw requests, sync waits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import nio

from unimsg import AuthenticationError, RemoteError, UsageError

from ._config import MatrixConfig
from ._errors import check, error_for, translated
from ._redact import install_log_filter, remember_secret
from ._store import StateStore, secure_tree

__all__ = ["Session"]

log = logging.getLogger("unimsg.matrix")


def nio_config(config: MatrixConfig) -> nio.AsyncClientConfig:
    # nio's defaults retry 429s and connection errors forever: the client's own
    # rate-limit budget and our reconnect loop decide instead.
    return nio.AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=1,
        backoff_factor=0.1,
        max_timeout_retry_wait_time=2,
        request_timeout=config.request_timeout,
        encryption_enabled=True,
        store_sync_tokens=False,
    )


class Session:
    """The nio client of one run of the adapter, with our state next to it."""

    def __init__(self, config: MatrixConfig, state: StateStore, client: nio.AsyncClient) -> None:
        self.config = config
        self.state = state
        self.client = client
        self.keys_lock = asyncio.Lock()
        self._synced = asyncio.Event()

    @property
    def user_id(self) -> str:
        user: str = self.client.user_id
        return user

    @property
    def device_id(self) -> str:
        device: str = self.client.device_id
        return device

    # -- login ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, config: MatrixConfig) -> Session:
        install_log_filter()
        remember_secret(config.password)
        remember_secret(config.access_token)
        state = StateStore.open(config.store_path)
        remember_secret(state.access_token)
        if state.user_id is not None and state.user_id != config.user_id:
            raise UsageError(
                f"the store at {config.store_path} belongs to {state.user_id}, not "
                f"{config.user_id}: give each account its own store_path"
            )
        client = nio.AsyncClient(
            config.homeserver,
            config.user_id,
            device_id=config.device_id or state.device_id or "",
            store_path=str(state.crypto_path),
            config=nio_config(config),
        )
        session = cls(config, state, client)
        try:
            await session._login()
        except BaseException:
            await session.close()
            raise
        secure_tree(state.root)
        return session

    async def _login(self) -> None:
        config, state, client = self.config, self.state, self.client
        if config.access_token is not None:
            assert config.device_id is not None
            await self._restore(config.access_token, config.device_id)
            return
        if state.access_token and state.device_id:
            try:
                await self._restore(state.access_token, state.device_id)
                return
            except AuthenticationError:
                log.info("the stored session of %s ended; logging in again", config.user_id)
                state.forget_session()
                client.access_token = ""
        assert config.password is not None
        with translated("log in"):
            response = await client.login(config.password, device_name=config.device_name)
        check(response, f"log in as {config.user_id}", login=True)
        state.user_id, state.device_id = config.user_id, response.device_id
        state.access_token = response.access_token
        remember_secret(response.access_token)
        state.save()
        log.info("logged in as %s on device %s", config.user_id, response.device_id)

    async def _restore(self, token: str, device_id: str) -> None:
        client = self.client
        with translated("restore the session"):
            client.restore_login(self.config.user_id, device_id, token)
            who = await client.whoami()
        check(who, f"restore the session of {self.config.user_id}")
        if who.user_id != self.config.user_id:
            raise AuthenticationError(
                f"the access token belongs to {who.user_id}, not {self.config.user_id}"
            )
        if who.device_id and who.device_id != device_id:
            raise AuthenticationError(
                f"the access token belongs to device {who.device_id}, not {device_id}"
            )
        self.state.user_id, self.state.device_id = self.config.user_id, device_id
        if self.config.access_token is None:
            self.state.access_token = token
        self.state.save()

    async def close(self) -> None:
        try:
            await self.client.close()
        except Exception as exc:
            log.debug("closing the HTTP session failed: %s", type(exc).__name__)

    # -- keys ------------------------------------------------------------------------------

    async def maintain_keys(self) -> None:
        """Upload our keys, fetch changed device lists and claim one-time keys as needed."""
        client = self.client
        olm = client.olm
        if olm is None:
            return
        # Called before every encrypted send: usually nothing is due. Work in
        # flight stays due until nio handles its answer, so skipping never
        # overtakes an upkeep another task is making.
        if not (
            olm.should_upload_keys
            or olm.users_for_key_query
            or olm.wedged_devices
            or olm.key_request_devices_no_session
            or olm.outgoing_to_device_messages
        ):
            return
        async with self.keys_lock:
            with translated("update encryption keys"):
                if client.should_upload_keys:
                    check(await client.keys_upload(), "upload encryption keys")
                if client.should_query_keys:
                    check(await client.keys_query(), "query device keys")
                if client.should_claim_keys:
                    users = client.get_users_for_key_claiming()
                    check(await client.keys_claim(users), "claim one-time keys")
                # Room keys for our other devices, key request cancellations,
                # verification messages: nio queues them, a sync loop sends them.
                for response in await client.send_to_device_messages():
                    check(response, "send to-device messages")

    def requery_tracked_users(self) -> None:
        """Device changes made while we were offline are not reported by a first sync."""
        olm = self.client.olm
        if olm is not None:
            olm.users_for_key_query.update(olm.tracked_users)

    # -- raw requests ----------------------------------------------------------------------------

    async def request(self, method: str, path: str, body: Any, action: str) -> dict[str, Any]:
        """A client-server API call nio has no method for; JSON in, JSON out."""
        return (await self.request_status(method, path, body, action))[1]

    async def request_status(
        self,
        method: str,
        path: str,
        body: Any,
        action: str,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> tuple[int, dict[str, Any]]:
        """Like `request`, with the status; statuses in ``accept`` are answers, not errors."""
        client = self.client
        headers = {
            "Authorization": f"Bearer {client.access_token}",
            "Content-Type": "application/json",
        }
        data = None if body is None else json.dumps(body)
        with translated(action):
            response = await client.send(method, path, data, headers)
            try:
                parsed = await response.json(content_type=None)
            except ValueError:
                parsed = None
            finally:
                response.release()
        parsed = parsed if isinstance(parsed, dict) else {}
        if response.status >= 400 and response.status not in accept:
            error = nio.ErrorResponse.from_dict(parsed)
            error.transport_response = response
            raise error_for(error, action)
        return response.status, parsed

    # -- waiting for the sync loop ----------------------------------------------------------------

    def synced(self) -> None:
        """Called by the sync loop after each processed sync."""
        self._synced.set()
        self._synced = asyncio.Event()

    async def next_sync(self) -> None:
        """Return after the sync loop has processed its next sync."""
        await self._synced.wait()

    async def wait_until(self, ready: Callable[[], bool], what: str, within: float = 15.0) -> None:
        """Wait for our own sync loop to reflect a change we just made on the server."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not ready():
            left = deadline - loop.time()
            if left <= 0:
                raise RemoteError(f"the homeserver did not report {what} within {within:.0f} s")
            waiter = self._synced
            try:
                await asyncio.wait_for(waiter.wait(), left)
            except TimeoutError:
                continue
