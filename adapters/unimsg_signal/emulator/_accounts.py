"""Per-account methods that send little or nothing: contacts, identities,
trust, profile, user status, blocking, attachments and rate-limit challenges.
"""

from __future__ import annotations

import base64
from typing import Any

from ._call import Call
from ._network import Account, TrustLevel
from ._params import (
    CAPTCHA_REJECTED_ERROR,
    RpcError,
    check_number,
    decode_group_id,
    is_uuid,
    null_pointer,
    user_error,
)
from ._safety import safety_number
from ._send import send_expiration_update


def _contact_json(c: Call, other: Account) -> dict[str, Any]:
    contact = c.me.contacts.get(other.aci)
    given = contact.given_name if contact else None
    family = contact.family_name if contact else None
    nick = [p for p in (contact.nick_given_name, contact.nick_family_name) if p] if contact else []
    p = other.profile
    return {
        "number": other.number,
        "uuid": other.aci,
        "username": other.username,
        "name": " ".join(x for x in (given, family) if x),
        "givenName": given,
        "familyName": family,
        "nickName": " ".join(nick) or None,
        "nickGivenName": contact.nick_given_name if contact else None,
        "nickFamilyName": contact.nick_family_name if contact else None,
        "note": contact.note if contact else None,
        "color": None,
        "isArchived": False,
        "isBlocked": bool(contact and contact.blocked),
        "isHidden": False,
        "messageExpirationTime": contact.expiration if contact else 0,
        "profileSharing": True,
        "unregistered": not other.registered,
        "profile": {
            "lastUpdateTimestamp": p.last_update or 0,
            "givenName": p.given_name,
            "familyName": p.family_name,
            "about": p.about,
            "aboutEmoji": p.about_emoji,
            "hasAvatar": p.has_avatar,
            "mobileCoinAddress": p.mobile_coin_address,
        },
    }


async def list_contacts(c: Call) -> Any:
    wanted = c.params.strings("recipient")
    if wanted is not None:
        others = [a for a in (c.resolve(w) for w in wanted) if a is not None]
    else:
        others = [c.network.by_aci(aci) for aci in c.me.contacts if aci != c.me.aci]
    if c.params.boolean("blocked"):
        others = [o for o in others if c.me.contact(o.aci).blocked]
    name = c.params.string("name")
    rows = [_contact_json(c, o) for o in others]
    if name is not None:
        rows = [r for r in rows if name in (r["name"], r["nickName"])]
    return rows


def _format_safety(digits: str) -> str:
    return " ".join(digits[i : i + 5] for i in range(0, 60, 5))


async def list_identities(c: Call) -> Any:
    only = c.params.string("number")
    rows = []
    for aci in list(c.me.identities):
        other = c.network.by_aci(aci)
        if only is not None and c.resolve(only) is not other:
            continue
        record = c.network.identity(c.me, other)
        rows.append(
            {
                "number": other.number,
                "uuid": other.aci,
                "fingerprint": "05" + record.key.hex(),
                "safetyNumber": _format_safety(safety_number(c.me, other)),
                "scannableSafetyNumber": base64.b64encode(
                    safety_number(c.me, other).encode()
                ).decode(),
                "trustLevel": record.trust.value,
                "addedTimestamp": record.added,
            }
        )
    return rows


async def trust(c: Call) -> Any:
    text = c.params.string("recipient")
    if text is None:
        raise null_pointer()
    other = c.resolve(text)
    if other is None and is_uuid(text):
        # An ACI resolves locally; with no identity key known there is nothing to trust.
        raise user_error(
            "Failed to set the trust for this number, make sure the number is correct."
        )
    if other is None:
        raise user_error(f"The user {text} is not registered.")
    if c.params.boolean("trustAllKnownKeys"):
        c.network.trust(c.me, other, TrustLevel.TRUSTED_UNVERIFIED)
        return {}
    given = c.params.string("verifiedSafetyNumber")
    if given is None:
        raise user_error(
            "You need to specify the fingerprint/safety number you have verified with "
            "-v SAFETY_NUMBER"
        )
    digits = given.replace(" ", "")
    if not digits.isdigit() or len(digits) != 60:
        raise user_error(
            "Safety number has invalid format, either specify the old hex fingerprint or the new "
            "safety number"
        )
    if digits != safety_number(c.me, other):
        raise user_error(
            "Failed to set the trust for this number, make sure the number and the "
            "fingerprint/safety number are correct."
        )
    c.network.trust(c.me, other, TrustLevel.TRUSTED_VERIFIED)
    return {}


async def get_user_status(c: Call) -> Any:
    rows: list[dict[str, Any]] = []
    for number in c.params.strings("recipient") or []:
        found = c.network.find(check_number(number))
        registered = found is not None and found.registered
        row = {
            "recipient": number,
            "number": number,
            "uuid": found.aci if registered and found else None,
        }
        rows.append({**row, "isRegistered": registered})
    for name in c.params.strings("username") or []:
        found = c.network.find("u:" + name)
        rows.append(
            {
                "recipient": name,
                "username": name,
                "uuid": found.aci if found else None,
                "isRegistered": found is not None,
            }
        )
    return rows


async def update_configuration(c: Call) -> Any:
    """Account settings synced to linked devices; only read receipts change what is sent."""
    if c.params.get("readReceipts") is not None:
        c.me.send_read_receipts = c.params.boolean("readReceipts")
    return {}


async def update_profile(c: Call) -> Any:
    p = c.me.profile
    for key, attr in (
        ("givenName", "given_name"),
        ("familyName", "family_name"),
        ("about", "about"),
        ("aboutEmoji", "about_emoji"),
        ("mobileCoinAddress", "mobile_coin_address"),
    ):
        value = c.params.string(key)
        if value is not None:
            setattr(p, attr, value)
    if c.params.string("avatar") is not None:
        p.has_avatar = True
    if c.params.boolean("removeAvatar"):
        p.has_avatar = False
    p.last_update = c.network.now_ms()
    return {}


async def update_contact(c: Call) -> Any:
    text = c.params.string("recipient")
    if text is None:
        raise null_pointer()
    other = c.resolve(text)
    if other is None and is_uuid(text):
        # An ACI resolves locally: the contact is stored, the timer update reaches nobody.
        contact = c.me.contact(text.lower())
        seconds = c.params.integer("expiration")
        if seconds is not None:
            contact.expiration = seconds
        return {}
    if other is None:
        raise user_error(f"The user {text} is not registered.")
    contact = c.me.contact(other.aci)
    name = c.params.string("name")
    if name is not None:
        contact.given_name, contact.family_name = name, ""
    for key, attr in (
        ("givenName", "given_name"),
        ("familyName", "family_name"),
        ("note", "note"),
        ("nickGivenName", "nick_given_name"),
        ("nickFamilyName", "nick_family_name"),
    ):
        value = c.params.string(key)
        if value is not None:
            setattr(contact, attr, value)
    expiration = c.params.integer("expiration")
    if expiration is not None:
        contact.expiration = expiration
        send_expiration_update(c, other, expiration)
    return {}


def _block(c: Call, blocked: bool) -> None:
    for text in c.params.strings("recipient") or []:
        other = c.resolve(text)
        if other is not None:
            c.me.contact(other.aci).blocked = blocked
    for gid in c.params.strings("groupId") or []:
        group_id = decode_group_id(gid)
        (c.me.blocked_groups.add if blocked else c.me.blocked_groups.discard)(group_id)


async def block(c: Call) -> Any:
    _block(c, True)
    return {}


async def unblock(c: Call) -> Any:
    _block(c, False)
    return {}


async def get_attachment(c: Call) -> Any:
    ident = c.params.string("id")
    if ident is None:
        raise user_error("Missing attachment id parameter")
    data = c.network.attachments.get(ident)
    if data is None:
        raise user_error(f"Could not find attachment with ID: {ident}")
    return {"data": base64.b64encode(data).decode()}


async def send_sync_request(c: Call) -> Any:
    return {}


async def list_devices(c: Call) -> Any:
    now = c.network.now_ms()
    return [{"id": c.me.device_id, "name": None, "createdTimestamp": now, "lastSeenTimestamp": now}]


async def submit_rate_limit_challenge(c: Call) -> Any:
    faults = c.network.faults
    token = c.params.string("challenge")
    if faults.reject_captchas > 0 or token not in faults.challenges:
        faults.reject_captchas = max(0, faults.reject_captchas - 1)
        raise RpcError(
            CAPTCHA_REJECTED_ERROR,
            "Captcha rejected, it may be outdated, already used or solved from a different "
            "IP address.",
        )
    faults.challenges.discard(token)
    return {}
