"""unimsg: one async, typed messaging API over Signal, Matrix and a fake network.

The names below load on first use: ``import unimsg`` stays quick, and an
application that never builds a bot or a relay never imports them.
"""

# Not ``typing.TYPE_CHECKING``: importing typing alone costs more than the rest of this file.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._adapter import Adapter, Configurable, EventSink, OutgoingMessage
    from ._adapter_state import AdapterState
    from ._address import Address, AddressKind
    from ._attachment import Attachment
    from ._bot import Bot
    from ._capabilities import (
        Feature,
        HasFeatures,
        SupportsAttachments,
        SupportsConversationCreation,
        SupportsConversations,
        SupportsDeletes,
        SupportsDirectory,
        SupportsDisappearing,
        SupportsEdits,
        SupportsEncryption,
        SupportsInvites,
        SupportsMembership,
        SupportsReactions,
        SupportsReceipts,
        SupportsSharedState,
        SupportsTyping,
        capabilities_of,
    )
    from ._client import Client, EventStream
    from ._config import Config, load_config
    from ._contacts import ContactBook
    from ._context import Context
    from ._events import (
        ConnectionState,
        ConnectionStateChanged,
        ConversationUpdated,
        EncryptionStateChanged,
        Event,
        Membership,
        MembershipChanged,
        MessageDeleted,
        MessageEdited,
        MessageReceived,
        ReactionReceived,
        ReceiptKind,
        ReceiptReceived,
        TypingChanged,
        UndecryptableMessage,
        UnknownEvent,
    )
    from ._exceptions import (
        AdapterNotFoundError,
        AuthenticationError,
        ClosedError,
        ConcurrentReaderError,
        ConfigError,
        ConnectError,
        DecryptionError,
        DeliveryError,
        EncryptionError,
        EncryptionRequiredError,
        InvalidAddressError,
        InvalidArgumentError,
        InvalidContentError,
        NoRouteError,
        NotFoundError,
        NotSupportedError,
        OutcomeUnknownError,
        PermissionDeniedError,
        RateLimitedError,
        RemoteError,
        RemoteProtocolError,
        StoreVersionError,
        UnimsgError,
        UnknownIdentityError,
        UnregisteredRecipientError,
        UntrustedIdentityError,
        UnverifiedDevicesError,
        UsageError,
    )
    from ._info import AdapterHealth, Capabilities, Conversation, EncryptionState, UserInfo
    from ._outbox import QueuedMessage
    from ._postgres import PostgresStore
    from ._recipients import RecipientResult, SendStatus
    from ._records import LeaseInfo, OutboxEntry
    from ._registry import AdapterStatus, adapter_class, adapter_names, adapter_status
    from ._relay import Relay
    from ._router import Contact, Route
    from ._settings import settings_from_keywords, settings_from_table
    from ._sqlite import SqliteStore
    from ._store import MemoryStore, Store
    from ._styles import Mention, StyleRange, TextStyle
    from ._types import (
        Content,
        MessageRef,
        SentMessage,
    )

__version__ = "0.1.0"

__all__ = [
    "Adapter",
    "AdapterHealth",
    "AdapterNotFoundError",
    "AdapterState",
    "AdapterStatus",
    "Address",
    "AddressKind",
    "Attachment",
    "AuthenticationError",
    "Bot",
    "Capabilities",
    "Client",
    "ClosedError",
    "ConcurrentReaderError",
    "Config",
    "ConfigError",
    "Configurable",
    "ConnectError",
    "ConnectionState",
    "ConnectionStateChanged",
    "Contact",
    "ContactBook",
    "Content",
    "Context",
    "Conversation",
    "ConversationUpdated",
    "DecryptionError",
    "DeliveryError",
    "EncryptionError",
    "EncryptionRequiredError",
    "EncryptionState",
    "EncryptionStateChanged",
    "Event",
    "EventSink",
    "EventStream",
    "Feature",
    "HasFeatures",
    "InvalidAddressError",
    "InvalidArgumentError",
    "InvalidContentError",
    "LeaseInfo",
    "Membership",
    "MembershipChanged",
    "MemoryStore",
    "Mention",
    "MessageDeleted",
    "MessageEdited",
    "MessageReceived",
    "MessageRef",
    "NoRouteError",
    "NotFoundError",
    "NotSupportedError",
    "OutboxEntry",
    "OutcomeUnknownError",
    "OutgoingMessage",
    "PermissionDeniedError",
    "PostgresStore",
    "QueuedMessage",
    "RateLimitedError",
    "ReactionReceived",
    "ReceiptKind",
    "ReceiptReceived",
    "RecipientResult",
    "Relay",
    "RemoteError",
    "RemoteProtocolError",
    "Route",
    "SendStatus",
    "SentMessage",
    "SqliteStore",
    "Store",
    "StoreVersionError",
    "StyleRange",
    "SupportsAttachments",
    "SupportsConversationCreation",
    "SupportsConversations",
    "SupportsDeletes",
    "SupportsDirectory",
    "SupportsDisappearing",
    "SupportsEdits",
    "SupportsEncryption",
    "SupportsInvites",
    "SupportsMembership",
    "SupportsReactions",
    "SupportsReceipts",
    "SupportsSharedState",
    "SupportsTyping",
    "TextStyle",
    "TypingChanged",
    "UndecryptableMessage",
    "UnimsgError",
    "UnknownEvent",
    "UnknownIdentityError",
    "UnregisteredRecipientError",
    "UntrustedIdentityError",
    "UnverifiedDevicesError",
    "UsageError",
    "UserInfo",
    "__version__",
    "adapter_class",
    "adapter_names",
    "adapter_status",
    "capabilities_of",
    "load_config",
    "settings_from_keywords",
    "settings_from_table",
]

# Where each public name lives; ``__getattr__`` imports the module on first use.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_adapter": (
        "Adapter",
        "Configurable",
        "EventSink",
        "OutgoingMessage",
    ),
    "_adapter_state": ("AdapterState",),
    "_address": (
        "Address",
        "AddressKind",
    ),
    "_attachment": ("Attachment",),
    "_bot": ("Bot",),
    "_capabilities": (
        "Feature",
        "HasFeatures",
        "SupportsAttachments",
        "SupportsConversationCreation",
        "SupportsConversations",
        "SupportsDeletes",
        "SupportsDirectory",
        "SupportsDisappearing",
        "SupportsEdits",
        "SupportsEncryption",
        "SupportsInvites",
        "SupportsMembership",
        "SupportsReactions",
        "SupportsReceipts",
        "SupportsSharedState",
        "SupportsTyping",
        "capabilities_of",
    ),
    "_client": (
        "Client",
        "EventStream",
    ),
    "_config": (
        "Config",
        "load_config",
    ),
    "_contacts": ("ContactBook",),
    "_context": ("Context",),
    "_events": (
        "ConnectionState",
        "ConnectionStateChanged",
        "ConversationUpdated",
        "EncryptionStateChanged",
        "Event",
        "Membership",
        "MembershipChanged",
        "MessageDeleted",
        "MessageEdited",
        "MessageReceived",
        "ReactionReceived",
        "ReceiptKind",
        "ReceiptReceived",
        "TypingChanged",
        "UndecryptableMessage",
        "UnknownEvent",
    ),
    "_exceptions": (
        "AdapterNotFoundError",
        "AuthenticationError",
        "ClosedError",
        "ConcurrentReaderError",
        "ConfigError",
        "ConnectError",
        "DecryptionError",
        "DeliveryError",
        "EncryptionError",
        "EncryptionRequiredError",
        "InvalidAddressError",
        "InvalidArgumentError",
        "InvalidContentError",
        "NoRouteError",
        "NotFoundError",
        "NotSupportedError",
        "OutcomeUnknownError",
        "PermissionDeniedError",
        "RateLimitedError",
        "RemoteError",
        "RemoteProtocolError",
        "StoreVersionError",
        "UnimsgError",
        "UnknownIdentityError",
        "UnregisteredRecipientError",
        "UntrustedIdentityError",
        "UnverifiedDevicesError",
        "UsageError",
    ),
    "_info": (
        "AdapterHealth",
        "Capabilities",
        "Conversation",
        "EncryptionState",
        "UserInfo",
    ),
    "_outbox": ("QueuedMessage",),
    "_registry": (
        "AdapterStatus",
        "adapter_class",
        "adapter_names",
        "adapter_status",
    ),
    "_relay": ("Relay",),
    "_router": (
        "Contact",
        "Route",
    ),
    "_postgres": ("PostgresStore",),
    "_settings": (
        "settings_from_keywords",
        "settings_from_table",
    ),
    "_sqlite": ("SqliteStore",),
    "_recipients": (
        "RecipientResult",
        "SendStatus",
    ),
    "_records": (
        "LeaseInfo",
        "OutboxEntry",
    ),
    "_store": (
        "MemoryStore",
        "Store",
    ),
    "_styles": (
        "Mention",
        "StyleRange",
        "TextStyle",
    ),
    "_types": (
        "Content",
        "MessageRef",
        "SentMessage",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        from importlib import import_module

        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module 'unimsg' has no attribute {name!r}")
        value = getattr(import_module(f"unimsg.{module}"), name)
        globals()[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))


del TYPE_CHECKING
