"""Group methods: listGroups, updateGroup, quitGroup, joinGroup.

Every change bumps the group revision and sends a group-update message
(``groupInfo.type = "UPDATE"``, no body) to the other members. Per-member
delivery failures of such updates are reported but never raise.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import _envelopes as env
from ._call import Call
from ._network import Account, Group, LinkMode
from ._params import decode_group_id, user_error
from ._send import deliver_one

_PERMISSIONS = {
    "every-member": "EVERY_MEMBER",
    "everyMember": "EVERY_MEMBER",
    "only-admins": "ONLY_ADMINS",
    "onlyAdmins": "ONLY_ADMINS",
}
_LINKS = {
    "enabled": LinkMode.ENABLED,
    "enabled-with-approval": LinkMode.ENABLED_WITH_APPROVAL,
    "enabledWithApproval": LinkMode.ENABLED_WITH_APPROVAL,
    "disabled": LinkMode.DISABLED,
}


def _addr(c: Call, aci: str) -> dict[str, Any]:
    account = c.network.by_aci(aci)
    return {"number": account.number, "uuid": aci}


def group_json(c: Call, g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "isMember": c.me.aci in g.members,
        "isBlocked": g.id in c.me.blocked_groups,
        "messageExpirationTime": g.expiration,
        "members": [{**_addr(c, a), "isAdmin": a in g.admins} for a in g.members],
        "pendingMembers": [_addr(c, a) for a in g.pending],
        "requestingMembers": [_addr(c, a) for a in g.requesting],
        "admins": [_addr(c, a) for a in g.members if a in g.admins],
        "banned": [_addr(c, a) for a in g.banned],
        "permissionAddMember": g.permission_add_member,
        "permissionEditDetails": g.permission_edit_details,
        "permissionSendMessage": g.permission_send_message,
        "groupInviteLink": g.invite_link,
    }


async def list_groups(c: Call) -> Any:
    wanted = {decode_group_id(g) for g in c.params.strings("groupId") or []}
    return [
        group_json(c, g)
        for g in c.network.groups.values()
        if c.me.aci in g.known_by and (not wanted or g.id in wanted)
    ]


def broadcast_update(c: Call, group: Group, extra: Collection[str] = ()) -> dict[str, Any]:
    group.revision += 1
    ts = c.network.next_timestamp(c.me)
    content = env.DataContent(ts, None, group.expiration, group=env.GroupRef(group.id, update=True))
    results = [
        deliver_one(c, c.network.by_aci(aci), content, ts)
        for aci in [*group.members, *sorted(set(extra) - set(group.members))]
        if aci != c.me.aci
    ]
    return {"timestamp": ts, "results": results}


def _accounts(c: Call, name: str) -> list[Account]:
    out = []
    for text in c.params.strings(name) or []:
        account = c.resolve(text)
        if account is None or not account.registered:
            raise user_error(f"The user {text} is not registered.")
        out.append(account)
    return out


async def update_group(c: Call) -> Any:
    gid = c.params.string("groupId")
    created = gid is None
    if gid is None:
        group = c.network.create_group(c.me, c.params.string("name"))
    else:
        group_id = decode_group_id(gid)
        found = c.network.groups.get(group_id)
        if found is None or c.me.aci not in found.known_by:
            raise user_error(f"Group not found: {group_id}")
        group = found
        if c.me.aci in group.pending:
            # Calling updateGroup on an invitation accepts it.
            group.pending.remove(c.me.aci)
            group.members.append(c.me.aci)
        if c.me.aci not in group.members:
            raise user_error(f"User is not a member in group: {group.name} ({group.id})")
    removed: set[str] = set()
    changed = created
    for account in _accounts(c, "member"):
        if account.aci not in group.members:
            group.members.append(account.aci)
            group.known_by.add(account.aci)
            changed = True
    for account in _accounts(c, "removeMember"):
        if account.aci in group.members:
            group.members.remove(account.aci)
            group.admins.discard(account.aci)
            removed.add(account.aci)
            changed = True
    for account in _accounts(c, "admin"):
        if account.aci in group.members and account.aci not in group.admins:
            group.admins.add(account.aci)
            changed = True
    for account in _accounts(c, "removeAdmin"):
        if account.aci in group.admins:
            group.admins.discard(account.aci)
            changed = True
    for key, attr in (("name", "name"), ("description", "description")):
        value = c.params.string(key)
        if value is not None and not created and getattr(group, attr) != value:
            setattr(group, attr, value)
            changed = True
    expiration = c.params.integer("expiration")
    if expiration is not None and expiration != group.expiration:
        group.expiration, changed = expiration, True
    link = c.params.string("link")
    if link is not None:
        if link not in _LINKS:
            raise user_error(f"Unknown group link state: {link}")
        group.link_mode, changed = _LINKS[link], True
    if c.params.boolean("resetLink"):
        group.link_password = Group(id=group.id).link_password
        changed = True
    for key, attr in (
        ("setPermissionAddMember", "permission_add_member"),
        ("setPermissionEditDetails", "permission_edit_details"),
        ("setPermissionSendMessages", "permission_send_message"),
    ):
        value = c.params.string(key)
        if value is not None:
            if value not in _PERMISSIONS:
                raise user_error(f"Invalid group permission: {value}")
            setattr(group, attr, _PERMISSIONS[value])
            changed = True
    out: dict[str, Any] = {}
    if changed:
        out.update(broadcast_update(c, group, removed))
    if created:
        out["groupId"] = group.id
    return out


async def quit_group(c: Call) -> Any:
    gid = c.params.string("groupId")
    group_id = decode_group_id(gid or "")
    group = c.network.groups.get(group_id)
    if group is None or c.me.aci not in group.known_by:
        raise user_error(f"Failed to send to group: Group not found: {group_id}")
    if c.me.aci in group.pending:
        group.pending.remove(c.me.aci)
        return broadcast_update(c, group)
    if c.me.aci not in group.members:
        return {}
    new_admins = _accounts(c, "admin")
    others = [a for a in group.members if a != c.me.aci]
    if group.admins == {c.me.aci} and others and not new_admins:
        raise user_error(f"You need to specify a new admin with --admin: {group.name} ({group.id})")
    for account in new_admins:
        if account.aci in group.members:
            group.admins.add(account.aci)
    group.members.remove(c.me.aci)
    group.admins.discard(c.me.aci)
    result = broadcast_update(c, group)
    if c.params.boolean("delete"):
        group.known_by.discard(c.me.aci)
    return result


async def join_group(c: Call) -> Any:
    uri = c.params.string("uri") or ""
    group = c.network.group_by_link(uri)
    if group is None:
        raise user_error(f"Group link is invalid: {uri}")
    group.known_by.add(c.me.aci)
    if c.me.aci in group.members:
        return {"groupId": group.id}
    if group.link_mode is LinkMode.ENABLED_WITH_APPROVAL:
        if c.me.aci not in group.requesting:
            group.requesting.append(c.me.aci)
        return {**broadcast_update(c, group), "groupId": group.id, "onlyRequested": True}
    group.members.append(c.me.aci)
    return {**broadcast_update(c, group), "groupId": group.id}
