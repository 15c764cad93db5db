"""Message content values and the envelope JSON signal-cli prints for them.

Shapes follow signal-cli's ``json/Json*`` classes: fields without a
``NON_NULL`` annotation are always present (``null`` when unknown), optional
parts and empty lists are omitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from ._network import Account, EmulatedNetwork

JsonObject = dict[str, Any]


@attrs.frozen
class GroupRef:
    group_id: str
    update: bool = False


@attrs.frozen
class Attachment:
    id: str
    content_type: str
    filename: str | None
    size: int
    upload_timestamp: int | None = None


@attrs.frozen
class Mention:
    start: int
    length: int
    aci: str


@attrs.frozen
class TextStyle:
    start: int
    length: int
    style: str


@attrs.frozen
class Quote:
    id: int
    author_aci: str
    text: str
    mentions: tuple[Mention, ...] = ()
    text_styles: tuple[TextStyle, ...] = ()


@attrs.frozen
class Reaction:
    emoji: str
    target_author_aci: str
    target_timestamp: int
    remove: bool = False


@attrs.frozen
class DataContent:
    timestamp: int
    message: str | None
    expires_in: int = 0
    is_expiration_update: bool = False
    view_once: bool = False
    group: GroupRef | None = None
    attachments: tuple[Attachment, ...] = ()
    quote: Quote | None = None
    mentions: tuple[Mention, ...] = ()
    text_styles: tuple[TextStyle, ...] = ()
    reaction: Reaction | None = None
    remote_delete: int | None = None
    sticker: tuple[str, int] | None = None


@attrs.frozen
class EditContent:
    target_timestamp: int
    data: DataContent


@attrs.frozen
class ReceiptContent:
    kind: Literal["delivery", "read", "viewed"]
    timestamps: list[int]
    when: int


@attrs.frozen
class TypingContent:
    started: bool
    timestamp: int
    group_id: str | None = None


@attrs.frozen
class SyncSentContent:
    """A message the account itself sent from another device."""

    destination_aci: str | None
    content: DataContent | EditContent


Content = DataContent | EditContent | ReceiptContent | TypingContent | SyncSentContent


@attrs.frozen
class Delivery:
    """One message waiting on the server for one recipient."""

    sender: str
    device: int
    timestamp: int
    server_received: int
    content: Content

    @property
    def data(self) -> DataContent | None:
        if isinstance(self.content, DataContent):
            return self.content
        if isinstance(self.content, EditContent):
            return self.content.data
        return None

    @property
    def is_message(self) -> bool:
        return isinstance(self.content, (DataContent, EditContent))

    @property
    def wants_delivery_receipt(self) -> bool:
        # signal-cli acknowledges data and edit messages, never receipts or typing.
        return self.is_message

    @property
    def group_id(self) -> str | None:
        data = self.data
        if data is not None and data.group is not None:
            return data.group.group_id
        if isinstance(self.content, TypingContent):
            return self.content.group_id
        return None


def _author(network: EmulatedNetwork, aci: str) -> tuple[str, str | None, str]:
    """(legacy identifier, number, uuid) as signal-cli prints an address."""
    account = network.by_aci(aci)
    return account.number or aci, account.number, aci


def _source_name(observer: Account, sender: Account) -> str | None:
    contact = observer.contacts.get(sender.aci)
    if contact is not None and (contact.given_name or contact.family_name):
        return " ".join(p for p in (contact.given_name, contact.family_name) if p)
    return sender.profile.display_name


def _mention(network: EmulatedNetwork, m: Mention) -> JsonObject:
    legacy, number, aci = _author(network, m.aci)
    return {"name": legacy, "number": number, "uuid": aci, "start": m.start, "length": m.length}


def _style(s: TextStyle) -> JsonObject:
    return {"style": s.style, "start": s.start, "length": s.length}


def data_message(network: EmulatedNetwork, d: DataContent) -> JsonObject:
    """``JsonDataMessage``: five fields always present, the rest only when set."""
    out: JsonObject = {
        "timestamp": d.timestamp,
        "message": d.message,
        "expiresInSeconds": d.expires_in,
        "isExpirationUpdate": d.is_expiration_update,
        "viewOnce": d.view_once,
    }
    if d.reaction is not None:
        legacy, number, aci = _author(network, d.reaction.target_author_aci)
        out["reaction"] = {
            "emoji": d.reaction.emoji,
            "targetAuthor": legacy,
            "targetAuthorNumber": number,
            "targetAuthorUuid": aci,
            "targetSentTimestamp": d.reaction.target_timestamp,
            "isRemove": d.reaction.remove,
        }
    if d.quote is not None:
        legacy, number, aci = _author(network, d.quote.author_aci)
        quote: JsonObject = {
            "id": d.quote.id,
            "author": legacy,
            "authorNumber": number,
            "authorUuid": aci,
            "text": d.quote.text,
            "attachments": [],
        }
        if d.quote.mentions:
            quote["mentions"] = [_mention(network, m) for m in d.quote.mentions]
        if d.quote.text_styles:
            quote["textStyles"] = [_style(s) for s in d.quote.text_styles]
        out["quote"] = quote
    if d.remote_delete is not None:
        out["remoteDelete"] = {"timestamp": d.remote_delete}
    if d.mentions:
        out["mentions"] = [_mention(network, m) for m in d.mentions]
    if d.attachments:
        out["attachments"] = [
            {
                "contentType": a.content_type,
                "filename": a.filename,
                "id": a.id,
                "size": a.size,
                "width": None,
                "height": None,
                "caption": None,
                "uploadTimestamp": a.upload_timestamp,
            }
            for a in d.attachments
        ]
    if d.sticker is not None:
        out["sticker"] = {"packId": d.sticker[0], "stickerId": d.sticker[1]}
    if d.text_styles:
        out["textStyles"] = [_style(s) for s in d.text_styles]
    if d.group is not None:
        group = network.groups.get(d.group.group_id)
        out["groupInfo"] = {
            "groupId": d.group.group_id,
            "groupName": group.name if group else None,
            "revision": group.revision if group else 0,
            "type": "UPDATE" if d.group.update else "DELIVER",
        }
    return out


def _edit(network: EmulatedNetwork, e: EditContent) -> JsonObject:
    return {"targetSentTimestamp": e.target_timestamp, "dataMessage": data_message(network, e.data)}


def _sync_sent(network: EmulatedNetwork, s: SyncSentContent) -> JsonObject:
    number = None
    if s.destination_aci is not None:
        number = network.by_aci(s.destination_aci).number
    out: JsonObject = {
        "destination": number or s.destination_aci,
        "destinationNumber": number,
        "destinationUuid": s.destination_aci,
    }
    if isinstance(s.content, EditContent):
        out["editMessage"] = _edit(network, s.content)
        out.update(data_message(network, s.content.data))
    else:
        out.update(data_message(network, s.content))
    return out


def _base(network: EmulatedNetwork, observer: Account, d: Delivery, now: int) -> JsonObject:
    sender = network.by_aci(d.sender)
    return {
        "source": sender.number or sender.aci,
        "sourceNumber": sender.number,
        "sourceUuid": sender.aci,
        "sourceName": _source_name(observer, sender),
        "sourceDevice": d.device,
        "timestamp": d.timestamp,
        "serverReceivedTimestamp": d.server_received,
        "serverDeliveredTimestamp": now,
    }


def envelope(network: EmulatedNetwork, observer: Account, d: Delivery, now: int) -> JsonObject:
    """The ``envelope`` object the observer's daemon prints for this delivery."""
    out = _base(network, observer, d, now)
    c = d.content
    if isinstance(c, DataContent):
        out["dataMessage"] = data_message(network, c)
    elif isinstance(c, EditContent):
        out["editMessage"] = _edit(network, c)
    elif isinstance(c, ReceiptContent):
        out["receiptMessage"] = {
            "when": c.when,
            "isDelivery": c.kind == "delivery",
            "isRead": c.kind == "read",
            "isViewed": c.kind == "viewed",
            "timestamps": list(c.timestamps),
        }
    elif isinstance(c, TypingContent):
        typing: JsonObject = {
            "action": "STARTED" if c.started else "STOPPED",
            "timestamp": c.timestamp,
        }
        if c.group_id is not None:
            typing["groupId"] = c.group_id
        out["typingMessage"] = typing
    else:
        out["syncMessage"] = {"sentMessage": _sync_sent(network, c)}
    return out


def payload(network: EmulatedNetwork, observer: Account, d: Delivery, now: int) -> JsonObject:
    """``{"envelope": …, "account": …}`` as in a ``receive`` notification."""
    return {"envelope": envelope(network, observer, d, now), "account": observer.number}


def untrusted_payload(
    network: EmulatedNetwork, observer: Account, d: Delivery, now: int
) -> JsonObject:
    """What arrives when the sender's identity key is not trusted: no content."""
    return {
        "envelope": _base(network, observer, d, now),
        "account": observer.number,
        "exception": {
            "message": f"Untrusted identity: {d.sender}",
            "type": "UntrustedIdentityException",
        },
    }
