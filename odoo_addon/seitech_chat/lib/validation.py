# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Schema of ingest items (docs/odoo-gateway-api.md, "Ingest items").

``validate_item`` turns one raw JSON item into a normalised dict or raises
``ItemError``; it never touches storage, so a hostile item is refused
before anything is written. Unknown keys are ignored, which lets the
gateway send new optional fields before every Odoo is upgraded.
"""

import datetime as dt
import re

from .constants import (
    CONVERSATION_STATES,
    E_INVALID,
    INGEST_KINDS,
    MAX_ATTACHMENTS,
    MAX_BATCH,
    MAX_COMMENT_CHARS,
    MAX_CONTENT_CHARS,
    MAX_EMOJI_CHARS,
    MAX_NAME_CHARS,
    MESSAGE_TYPES,
    QUERY_TYPES,
    WIRE_TO_CHAT_TYPE,
)

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_GUEST_RE = re.compile(r"^guest_[A-Za-z0-9_.:-]{1,120}$")
_EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,255}$")
# Control characters other than tab and newline (protocol section 3).
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_PARTICIPANTS = 1000


class ItemError(ValueError):
    """A permanent rejection of one item: ``code`` and a human ``reason``."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class BatchError(ValueError):
    """The batch as a whole is malformed; nothing in it was applied."""


def _fail(reason):
    raise ItemError(E_INVALID, reason)


def _str(item, key, *, required=True, max_len=MAX_NAME_CHARS, allow_empty=False):
    value = item.get(key)
    if value is None:
        if required:
            _fail(f"{key} is required")
        return None
    if not isinstance(value, str):
        _fail(f"{key} must be a string")
    if len(value) > max_len:
        _fail(f"{key} longer than {max_len} characters")
    if not value and not allow_empty:
        _fail(f"{key} must not be empty")
    return value


def _id(item, key, *, required=True):
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _ID_RE.match(value):
        _fail(f"{key} must be an id of 1-128 characters [A-Za-z0-9_.:-]")
    return value


def parse_user_ref(value, key="user_id"):
    """An Odoo user id (int or decimal string) -> ("user", int);
    a gateway guest id "guest_..." -> ("guest", str)."""
    if isinstance(value, bool):
        _fail(f"{key} must be a user id")
    if isinstance(value, int):
        if value <= 0:
            _fail(f"{key} must be positive")
        return ("user", value)
    if isinstance(value, str):
        if value.isdigit() and len(value) < 12 and int(value) > 0:
            return ("user", int(value))
        if _GUEST_RE.match(value):
            return ("guest", value)
    _fail(f"{key} must be an Odoo user id or a guest id")
    return None  # unreachable; keeps linters quiet


def _odoo_user(item, key, *, required=True):
    value = item.get(key)
    if value is None and not required:
        return None
    kind, ref = parse_user_ref(value, key)
    if kind != "user":
        _fail(f"{key} must be an Odoo user id")
    return ref


def parse_time(value, key="created_at"):
    """ISO 8601 with an offset or Z -> naive UTC datetime (Odoo's convention)."""
    if not isinstance(value, str) or len(value) > 40:
        _fail(f"{key} must be an ISO 8601 timestamp")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{key} must be an ISO 8601 timestamp")
    if parsed.tzinfo is None:
        # A naive time is ambiguous across the gateway and Odoo servers.
        _fail(f"{key} must carry a UTC offset or Z")
    return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)


def clean_content(value, key="content", *, allow_empty=True):
    if not isinstance(value, str):
        _fail(f"{key} must be a string")
    text = _CTRL_RE.sub("", value.strip())
    if len(text) > MAX_CONTENT_CHARS:
        _fail(f"{key} longer than {MAX_CONTENT_CHARS} characters")
    if not text and not allow_empty:
        _fail(f"{key} must not be empty")
    return text


def parse_email(value, key):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL_RE.match(value):
        _fail(f"{key} is not an email address")
    return value


def _attachments(value):
    if value is None:
        return []
    if not isinstance(value, list):
        _fail("attachments must be a list")
    if len(value) > MAX_ATTACHMENTS:
        _fail(f"at most {MAX_ATTACHMENTS} attachments")
    out = []
    for att in value:
        if not isinstance(att, dict):
            _fail("an attachment must be an object")
        size = att.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            _fail("attachment size must be a non-negative integer")
        out.append({
            "id": _id(att, "id"),
            "name": _str(att, "name"),
            "mimeType": _str(att, "mimeType", max_len=128),
            "size": size,
            "url": _str(att, "url", max_len=2048),
        })
    return out


def _v_conversation(item):
    ctype = item.get("type")
    if ctype not in WIRE_TO_CHAT_TYPE:
        _fail("type must be one of " + ", ".join(WIRE_TO_CHAT_TYPE))
    parts = item.get("participant_ids", [])
    if not isinstance(parts, list) or len(parts) > MAX_PARTICIPANTS:
        _fail(f"participant_ids must be a list of at most {MAX_PARTICIPANTS}")
    participant_ids = []
    for p in parts:
        kind, ref = parse_user_ref(p, "participant_ids")
        # Guests are not Odoo users: a support visitor goes in "visitor".
        if kind != "user":
            _fail("participant_ids holds Odoo user ids only; put a guest in visitor")
        if ref not in participant_ids:
            participant_ids.append(ref)
    visitor = item.get("visitor")
    norm_visitor = None
    if visitor is not None:
        if not isinstance(visitor, dict):
            _fail("visitor must be an object")
        guest = visitor.get("user_id")
        if guest is not None:
            parse_user_ref(guest, "visitor.user_id")
        norm_visitor = {
            "user_id": None if guest is None else str(guest),
            "name": _str(visitor, "name"),
            "email": parse_email(visitor.get("email"), "visitor.email"),
        }
    query_type = item.get("query_type")
    if ctype == "support":
        if query_type not in QUERY_TYPES:
            _fail("query_type must be one of " + ", ".join(QUERY_TYPES))
        if norm_visitor is None:
            _fail("a support conversation needs a visitor")
    elif query_type is not None:
        _fail("query_type is for support conversations only")
    status = item.get("status")
    if status is None:
        status = "queued" if ctype == "support" else "active"
    if status not in CONVERSATION_STATES:
        _fail("status must be one of " + ", ".join(CONVERSATION_STATES))
    if ctype != "support" and status == "queued":
        _fail("only support conversations are queued")
    agent = _odoo_user(item, "assigned_agent_id", required=False)
    if agent is not None and ctype != "support":
        _fail("assigned_agent_id is for support conversations only")
    return {
        "conversation_id": _id(item, "conversation_id"),
        "type": ctype,
        "name": _str(item, "name", required=False, allow_empty=True) or "",
        "participant_ids": participant_ids,
        "visitor": norm_visitor,
        "query_type": query_type,
        "status": status,
        "assigned_agent_id": agent,
        "created_at": parse_time(item.get("created_at")),
    }


def _v_message(item):
    mtype = item.get("type", "text")
    if mtype not in MESSAGE_TYPES:
        _fail("type must be one of " + ", ".join(MESSAGE_TYPES))
    content = clean_content(item.get("content", ""))
    attachments = _attachments(item.get("attachments"))
    if not content and not attachments:
        _fail("a message needs content or an attachment")
    author = item.get("author_id")
    if author is None:
        if mtype != "system":
            _fail("author_id is required except for system messages")
        author_ref = None
    else:
        author_ref = parse_user_ref(author, "author_id")
    return {
        "message_id": item["uuid"],
        "conversation_id": _id(item, "conversation_id"),
        "author": author_ref,
        "author_name": _str(item, "author_name", required=author is not None
                            and author_ref[0] == "guest", allow_empty=True) or "",
        "content": content,
        "type": mtype,
        "attachments": attachments,
        "parent_id": _id(item, "parent_id", required=False),
        "client_id": _str(item, "client_id", required=False, max_len=128),
        "created_at": parse_time(item.get("created_at")),
    }


def _v_read(item):
    return {
        "conversation_id": _id(item, "conversation_id"),
        "message_id": _id(item, "message_id"),
        "user": parse_user_ref(item.get("user_id")),
        "read_at": parse_time(item.get("read_at"), "read_at"),
    }


def _v_edit(item):
    return {
        "message_id": _id(item, "message_id"),
        "content": clean_content(item.get("content"), allow_empty=False),
        "edited_at": parse_time(item.get("edited_at"), "edited_at"),
    }


def _v_delete(item):
    return {
        "message_id": _id(item, "message_id"),
        "deleted_at": parse_time(item.get("deleted_at"), "deleted_at"),
    }


def _v_reaction(item):
    added = item.get("added")
    if not isinstance(added, bool):
        _fail("added must be true or false")
    emoji = _str(item, "emoji", max_len=MAX_EMOJI_CHARS)
    if _CTRL_RE.search(emoji) or not emoji.strip():
        _fail("emoji must be printable")
    return {
        "message_id": _id(item, "message_id"),
        "user": parse_user_ref(item.get("user_id")),
        "emoji": emoji,
        "added": added,
    }


def _v_end(item):
    return {
        "conversation_id": _id(item, "conversation_id"),
        "ended_at": parse_time(item.get("ended_at"), "ended_at"),
    }


def _v_rating(item):
    rating = item.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        _fail("rating must be an integer 1..5")
    comment = item.get("comment")
    if comment is not None:
        comment = clean_content(comment, "comment")[:MAX_COMMENT_CHARS]
    return {
        "conversation_id": _id(item, "conversation_id"),
        "rating": rating,
        "comment": comment or "",
    }


_VALIDATORS = {
    "conversation": _v_conversation,
    "message": _v_message,
    "read": _v_read,
    "edit": _v_edit,
    "delete": _v_delete,
    "reaction": _v_reaction,
    "end": _v_end,
    "rating": _v_rating,
}
assert set(_VALIDATORS) == set(INGEST_KINDS)


def item_uuid(item):
    """The uuid of a raw item if it has a well-formed one, else None; used to
    echo the uuid in a rejection so the gateway can find the outbox row."""
    if isinstance(item, dict):
        value = item.get("uuid")
        if isinstance(value, str) and _ID_RE.match(value):
            return value
    return None


def validate_item(item):
    if not isinstance(item, dict):
        _fail("an item must be an object")
    kind = item.get("kind")
    if kind not in _VALIDATORS:
        _fail("kind must be one of " + ", ".join(INGEST_KINDS))
    uuid = _id(item, "uuid")
    norm = _VALIDATORS[kind](item)
    norm["kind"] = kind
    norm["uuid"] = uuid
    return norm


def validate_batch(batch):
    if not isinstance(batch, list):
        raise BatchError("batch must be a list of items")
    if len(batch) > MAX_BATCH:
        raise BatchError(f"at most {MAX_BATCH} items a call")
    return batch
