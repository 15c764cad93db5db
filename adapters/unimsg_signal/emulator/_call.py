"""What a method implementation sees (`Call`) and how the table describes it (`Method`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._network import Account
from ._params import (
    Params,
    check_recipient,
)

if TYPE_CHECKING:
    from ._daemon import Daemon
    from ._network import EmulatedNetwork
    from ._rpc import Session


@attrs.define
class Call:
    """Everything a method implementation sees."""

    session: Session
    account: Account | None
    params: Params
    raw: Any

    @property
    def daemon(self) -> Daemon:
        return self.session.daemon

    @property
    def network(self) -> EmulatedNetwork:
        return self.session.daemon.network

    @property
    def me(self) -> Account:
        assert self.account is not None
        return self.account

    def resolve(self, text: str) -> Account | None:
        return self.network.find(check_recipient(text))


Impl = Callable[[Call], Awaitable[Any]]


@attrs.frozen
class Method:
    impl: Impl
    single: bool = True  # JsonRpcSingleCommand: acts on one account
    multi: bool = False  # JsonRpcMultiCommand: acts on the whole daemon
    socket_only: bool = False  # missing from the HTTP command table
    strict: tuple[str, ...] | None = None  # typed params record: unknown keys fail
    any_params: bool = False  # params may be an array
