# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Batch ingest: the rules, independent of where records live.

``apply_batch`` validates each item, skips uuids already applied, checks
the references and state rules below and calls the store to write. The
addon's store writes through the ORM inside a savepoint per item; the
double's store writes to dicts. Both therefore answer the same item with
the same result.

Rules (all rejections are permanent, code in constants.E_*):
- conversation: upsert by conversation_id; its type never changes
  (conflict); an ended conversation never reopens (the item applies
  without its status: a late echo of a state before an end); every
  participant must be a known user (unknown_user); a direct one has one
  or two participants (invalid) who never change (conflict, raised by the
  store, which knows the members: Odoo's rule for "chat" channels).
- message: the conversation must exist; a user author must exist; a
  parent must be a message of the same conversation.
- read / reaction: the message must exist (and, for read, belong to the
  conversation named).
- edit: the message must exist and not be deleted (conflict).
- delete / end: idempotent on an already deleted / ended record.
- rating: only a support conversation that has ended.
A uuid that was applied before answers "duplicate" and writes nothing,
whatever the new item says: first write wins.
"""

from .constants import (
    DUPLICATE,
    E_CONFLICT,
    E_INVALID,
    E_UNKNOWN_CONVERSATION,
    E_UNKNOWN_MESSAGE,
    E_UNKNOWN_USER,
    OK,
    REJECTED,
)
from .validation import ItemError, item_uuid, validate_batch, validate_item


class Store:
    """What the engine needs from storage. Records are plain dicts:
    conversation {"id", "type", "status"}; message {"id",
    "conversation_id", "deleted"}."""

    def atomic(self):
        """Context manager: everything written inside is undone if the
        block raises."""
        raise NotImplementedError

    def op_seen(self, uuid):
        raise NotImplementedError

    def record_op(self, uuid, kind):
        raise NotImplementedError

    def users_exist(self, user_ids):
        """Return the subset of ``user_ids`` (ints) that are not known."""
        raise NotImplementedError

    def get_conversation(self, conversation_id):
        raise NotImplementedError

    def create_conversation(self, item):
        raise NotImplementedError

    def update_conversation(self, item):
        raise NotImplementedError

    def get_message(self, message_id):
        raise NotImplementedError

    def create_message(self, item):
        raise NotImplementedError

    def mark_read(self, item):
        raise NotImplementedError

    def edit_message(self, item):
        raise NotImplementedError

    def delete_message(self, item):
        raise NotImplementedError

    def set_reaction(self, item):
        raise NotImplementedError

    def end_conversation(self, item):
        raise NotImplementedError

    def rate_conversation(self, item):
        raise NotImplementedError


def _require_users(store, ids):
    missing = store.users_exist([i for i in ids if i is not None])
    if missing:
        raise ItemError(E_UNKNOWN_USER, f"unknown user ids: {sorted(missing)}")


def _require_conversation(store, cid):
    conv = store.get_conversation(cid)
    if conv is None:
        raise ItemError(E_UNKNOWN_CONVERSATION, f"no conversation {cid}")
    return conv


def _require_message(store, mid):
    msg = store.get_message(mid)
    if msg is None:
        raise ItemError(E_UNKNOWN_MESSAGE, f"no message {mid}")
    return msg


DIRECT_PEOPLE = "a direct conversation has two participants"
DIRECT_FOR_GOOD = "a direct conversation's participants never change"


def _h_conversation(store, item):
    if item["type"] == "direct" and not 1 <= len(set(item["participant_ids"])) <= 2:
        # Odoo's own rule for its "chat" channels, which direct
        # conversations are: two people, given at creation.
        raise ItemError(E_INVALID, DIRECT_PEOPLE)
    _require_users(store, item["participant_ids"] + [item["assigned_agent_id"]])
    conv = store.get_conversation(item["conversation_id"])
    if conv is None:
        store.create_conversation(item)
        return
    if conv["type"] != item["type"]:
        raise ItemError(E_CONFLICT, "a conversation's type never changes")
    if conv["status"] == "ended" and item["status"] != "ended":
        # The end wins, wherever it was decided: the gateway never reopens a
        # chat, so such an item is a state it queued before it heard of an
        # end made in Odoo's back office (its echo of a Take or of a reply's
        # author joining). Its other changes apply; the chat stays ended.
        item = dict(item, status="ended")
    store.update_conversation(item)


def _h_message(store, item):
    _require_conversation(store, item["conversation_id"])
    author = item["author"]
    if author is not None and author[0] == "user":
        _require_users(store, [author[1]])
    if item["parent_id"]:
        parent = store.get_message(item["parent_id"])
        if parent is None or parent["conversation_id"] != item["conversation_id"]:
            raise ItemError(E_UNKNOWN_MESSAGE, "parent_id is not a message of this conversation")
    store.create_message(item)


def _h_read(store, item):
    msg = _require_message(store, item["message_id"])
    if msg["conversation_id"] != item["conversation_id"]:
        raise ItemError(E_UNKNOWN_MESSAGE, "message is not in that conversation")
    if item["user"][0] == "user":
        _require_users(store, [item["user"][1]])
    store.mark_read(item)


def _h_edit(store, item):
    msg = _require_message(store, item["message_id"])
    if msg["deleted"]:
        raise ItemError(E_CONFLICT, "a deleted message cannot be edited")
    store.edit_message(item)


def _h_delete(store, item):
    msg = _require_message(store, item["message_id"])
    if not msg["deleted"]:
        store.delete_message(item)


def _h_reaction(store, item):
    _require_message(store, item["message_id"])
    if item["user"][0] == "user":
        _require_users(store, [item["user"][1]])
    store.set_reaction(item)


def _h_end(store, item):
    conv = _require_conversation(store, item["conversation_id"])
    if conv["status"] != "ended":
        store.end_conversation(item)


def _h_rating(store, item):
    conv = _require_conversation(store, item["conversation_id"])
    if conv["type"] != "support":
        raise ItemError(E_CONFLICT, "only support conversations are rated")
    if conv["status"] != "ended":
        raise ItemError(E_CONFLICT, "a conversation is rated once it has ended")
    store.rate_conversation(item)


HANDLERS = {
    "conversation": _h_conversation,
    "message": _h_message,
    "read": _h_read,
    "edit": _h_edit,
    "delete": _h_delete,
    "reaction": _h_reaction,
    "end": _h_end,
    "rating": _h_rating,
}


def apply_item(store, raw):
    try:
        item = validate_item(raw)
    except ItemError as exc:
        return {"uuid": item_uuid(raw), "status": REJECTED,
                "code": exc.code, "reason": exc.reason}
    uuid = item["uuid"]
    if store.op_seen(uuid):
        return {"uuid": uuid, "status": DUPLICATE}
    try:
        with store.atomic():
            HANDLERS[item["kind"]](store, item)
            store.record_op(uuid, item["kind"])
    except ItemError as exc:
        return {"uuid": uuid, "status": REJECTED,
                "code": exc.code, "reason": exc.reason}
    return {"uuid": uuid, "status": OK}


def apply_batch(store, batch):
    """Apply items in order; one result per item, same order.

    Only ItemError is turned into a per-item rejection. Anything else (a
    database error, a bug) propagates and fails the whole call, which the
    gateway retries; the items applied before it in this call are then
    rolled back by the transaction and answer "ok" again on the retry.
    """
    validate_batch(batch)
    return [apply_item(store, raw) for raw in batch]
