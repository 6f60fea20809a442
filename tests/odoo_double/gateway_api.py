"""In-memory stand-in for the addon's ``seitech.chat.gateway`` model.

Role mapping, routing, validation and the ingest rules are the addon's own
code (odoo_addon/seitech_chat/lib, loaded by addon_lib); this file only
keeps records in dicts where the addon keeps them in PostgreSQL.
"""

import contextlib
import copy
import datetime as dt
import threading

import addon_lib

C = addon_lib.sub("constants")
roles = addon_lib.sub("roles")
routing = addon_lib.sub("routing")
ingest = addon_lib.sub("ingest")
validation = addon_lib.sub("validation")

MODULE_VERSION = "17.0.1.0.0"
PUBLIC_METHODS = (
    "api_version", "whois", "directory_search", "agents", "ingest",
    "send_transcript", "notify_offline",
)
NOTIFY_THROTTLE = dt.timedelta(minutes=5)
# What a savepoint remembers for a record that did not exist before it.
_ABSENT = object()


class OdooError(Exception):
    """An exception the double reports the way Odoo serialises one.
    ``name`` is the dotted class name Odoo puts in error.data.name."""

    def __init__(self, name, message, code=200):
        super().__init__(message)
        self.name = name
        self.message = message
        self.code = code


def validation_error(message):
    return OdooError("odoo.exceptions.ValidationError", message)


ids = addon_lib.sub("ids")
iso = ids.iso_utc
uuid7 = ids.uuid7


class MemoryStore(ingest.Store):
    def __init__(self, seed):
        self.lock = threading.RLock()
        self.seed = seed
        self.users = {int(u["id"]): dict(u) for u in seed.get("users", [])}
        self.courses = [dict(c) for c in seed.get("courses", [])]
        self.agents = {int(a["user_id"]): dict(a) for a in seed.get("agents", [])}
        self.conversations = {}
        self.messages = {}
        self.ops = {}
        self.mails = []
        self.notified = {}
        # Refused ingest items, as the addon's seitech.chat.dead.letter.
        self.dead_letters = {}
        self.faults = {}
        self._journal = None

    # -- ingest.Store ---------------------------------------------------
    @contextlib.contextmanager
    def atomic(self):
        # A savepoint. Every writer below first saves the one record it is
        # about to change (_before_write), and an error puts those back. A
        # copy of everything per item made a 500-item batch cost seconds once
        # a thousand messages were in, long enough for the gateway's RPC to
        # time out on a loaded machine and send the batch again.
        journal = {}
        self._journal = journal
        try:
            yield
        except Exception:
            for (table, key), before in journal.items():
                records = getattr(self, table)
                if before is _ABSENT:
                    records.pop(key, None)
                else:
                    records[key] = before
            raise
        finally:
            self._journal = None

    def _before_write(self, table, key):
        journal = self._journal
        if journal is None or (table, key) in journal:
            return
        current = getattr(self, table).get(key, _ABSENT)
        journal[(table, key)] = current if current is _ABSENT else copy.deepcopy(current)

    def op_seen(self, uuid):
        # A message written in Odoo has no op entry; its uuid still counts,
        # so the gateway echoing an agent reply back is a duplicate.
        return uuid in self.ops or uuid in self.messages

    def record_op(self, uuid, kind):
        rejected = self.faults.get("reject_uuids") or {}
        if uuid in rejected:
            # Stands in for a ValidationError raised by an ORM constraint
            # inside the savepoint: the item is rejected, nothing is kept.
            raise validation.ItemError(C.E_INVALID, rejected[uuid] or "rejected by fault switch")
        self._before_write("ops", uuid)
        self.ops[uuid] = kind

    def users_exist(self, user_ids):
        return {u for u in user_ids if u not in self.users}

    def get_conversation(self, cid):
        return self.conversations.get(cid)

    def create_conversation(self, item):
        self._before_write("conversations", item["conversation_id"])
        self.conversations[item["conversation_id"]] = {
            "id": item["conversation_id"],
            "type": item["type"],
            "chat_type": C.WIRE_TO_CHAT_TYPE[item["type"]],
            "name": item["name"],
            "participant_ids": list(item["participant_ids"]),
            "visitor": item["visitor"],
            "query_type": item["query_type"],
            "status": item["status"],
            "assigned_agent_id": item["assigned_agent_id"],
            "conversation_started": iso(item["created_at"]),
            "conversation_ended": iso(item["created_at"]) if item["status"] == "ended" else None,
            "satisfaction_rating": None,
            "rating_comment": "",
        }

    def update_conversation(self, item):
        self._before_write("conversations", item["conversation_id"])
        conv = self.conversations[item["conversation_id"]]
        conv["name"] = item["name"] or conv["name"]
        if conv["type"] == "direct" and set(item["participant_ids"]) - set(conv["participant_ids"]):
            # Odoo refuses any member added to a "chat" channel that has one.
            raise ingest.ItemError(C.E_CONFLICT, ingest.DIRECT_FOR_GOOD)
        for p in item["participant_ids"]:
            if p not in conv["participant_ids"]:
                conv["participant_ids"].append(p)
        if item["visitor"]:
            conv["visitor"] = item["visitor"]
        conv["status"] = item["status"]
        conv["assigned_agent_id"] = item["assigned_agent_id"]
        if item["status"] == "ended" and not conv["conversation_ended"]:
            conv["conversation_ended"] = iso(item["created_at"])

    def get_message(self, mid):
        return self.messages.get(mid)

    def create_message(self, item):
        author = item["author"]
        self._before_write("messages", item["message_id"])
        self.messages[item["message_id"]] = {
            "id": item["message_id"],
            "conversation_id": item["conversation_id"],
            "author_id": author[1] if author and author[0] == "user" else None,
            "guest_id": author[1] if author and author[0] == "guest" else None,
            "author_name": item["author_name"] or (
                self.users[author[1]]["name"] if author and author[0] == "user" else ""),
            "content": item["content"],
            "type": item["type"],
            "attachments": item["attachments"],
            "parent_id": item["parent_id"],
            "client_id": item["client_id"],
            "created_at": iso(item["created_at"]),
            "edited_at": None,
            "is_edited": False,
            "deleted": False,
            "read_by": [],
            "reactions": {},
            "origin": "gateway",
        }

    def mark_read(self, item):
        self._before_write("messages", item["message_id"])
        msg = self.messages[item["message_id"]]
        who = str(item["user"][1])
        if who not in msg["read_by"]:
            msg["read_by"].append(who)

    def edit_message(self, item):
        self._before_write("messages", item["message_id"])
        msg = self.messages[item["message_id"]]
        msg.update(content=item["content"], is_edited=True, edited_at=iso(item["edited_at"]))

    def delete_message(self, item):
        self._before_write("messages", item["message_id"])
        self.messages[item["message_id"]]["deleted"] = True

    def set_reaction(self, item):
        self._before_write("messages", item["message_id"])
        msg = self.messages[item["message_id"]]
        who = str(item["user"][1])
        users = msg["reactions"].setdefault(item["emoji"], [])
        if item["added"] and who not in users:
            users.append(who)
        if not item["added"] and who in users:
            users.remove(who)
        if not users:
            del msg["reactions"][item["emoji"]]

    def end_conversation(self, item):
        self._before_write("conversations", item["conversation_id"])
        conv = self.conversations[item["conversation_id"]]
        conv["status"] = "ended"
        conv["conversation_ended"] = iso(item["ended_at"])

    def rate_conversation(self, item):
        self._before_write("conversations", item["conversation_id"])
        conv = self.conversations[item["conversation_id"]]
        conv["satisfaction_rating"] = item["rating"]
        conv["rating_comment"] = item["comment"]

    # -- facts the addon computes with the ORM --------------------------
    def role_of(self, uid):
        user = self.users[uid]
        groups = set(user.get("groups", []))
        return roles.map_role(
            is_system="system" in groups,
            is_agent=bool({"agent", "manager"} & groups),
            teaches_courses=any(c.get("responsible_id") == uid for c in self.courses),
            enrolled_courses=any(uid in c.get("student_ids", []) for c in self.courses),
            is_public_user=user.get("share_public", False),
        )

    def courses_of(self, uid):
        out = []
        for c in self.courses:
            if c.get("responsible_id") == uid:
                out.append({"id": str(c["id"]), "name": c["name"], "as": "instructor"})
            elif uid in c.get("student_ids", []):
                out.append({"id": str(c["id"]), "name": c["name"], "as": "student"})
        return out

    def active_chats(self, agent_uid):
        return sum(1 for c in self.conversations.values()
                   if c["type"] == "support" and c["status"] == "active"
                   and c["assigned_agent_id"] == agent_uid)


def _int_id(value, what):
    try:
        kind, ref = validation.parse_user_ref(value, what)
    except validation.ItemError as exc:
        raise validation_error(exc.reason) from None
    if kind != "user":
        raise validation_error(f"{what} must be an Odoo user id")
    return ref


class GatewayApi:
    """Same methods, arguments and results as seitech.chat.gateway."""

    def __init__(self, store):
        self.store = store

    def call(self, method, args, kwargs):
        if method.startswith("_"):
            raise OdooError("odoo.exceptions.AccessError",
                            f"Private methods (such as {method}) cannot be called remotely.")
        if method not in PUBLIC_METHODS:
            raise OdooError("builtins.AttributeError",
                            f"The method 'seitech.chat.gateway.{method}' does not exist")
        try:
            with self.store.lock:
                return getattr(self, method)(*args, **kwargs)
        except TypeError as exc:
            # Odoo reports wrong arity as a TypeError too.
            raise OdooError("builtins.TypeError", str(exc)) from None

    def api_version(self):
        return {
            "version": C.API_VERSION,
            "min_compatible": C.API_MIN_COMPATIBLE,
            "module_version": MODULE_VERSION,
            "max_batch": C.MAX_BATCH,
            "methods": list(PUBLIC_METHODS),
            "ingest_kinds": list(C.INGEST_KINDS),
        }

    def whois(self, user_ids):
        if not isinstance(user_ids, list) or len(user_ids) > C.MAX_BATCH:
            raise validation_error(f"user_ids must be a list of at most {C.MAX_BATCH}")
        users, missing = [], []
        for raw in user_ids:
            uid = _int_id(raw, "user_ids")
            user = self.store.users.get(uid)
            if user is None or not user.get("active", True):
                missing.append(str(raw))
                continue
            agent = self.store.agents.get(uid)
            users.append({
                "id": str(uid),
                "name": user["name"],
                "role": self.store.role_of(uid),
                "partner_id": user.get("partner_id"),
                "email": user.get("email") or None,
                "courses": self.store.courses_of(uid),
                "department": agent["department"] if agent else None,
            })
        return {"users": users, "missing": missing}

    def directory_search(self, user_id, query="", role=None, limit=20):
        uid = _int_id(user_id, "user_id")
        if uid not in self.store.users:
            raise validation_error(f"unknown user {user_id}")
        if not isinstance(query, str) or len(query) > 100:
            raise validation_error("query must be a string of at most 100 characters")
        if role is not None and role not in C.ROLES:
            raise validation_error("role must be one of " + ", ".join(C.ROLES))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise validation_error("limit must be 1..100")
        caller_role = self.store.role_of(uid)
        my_courses = {c["id"] for c in self.store.courses_of(uid) if c["as"] == "student"}
        assigned_to = {
            conv["visitor"]["user_id"] for conv in self.store.conversations.values()
            if conv["type"] == "support" and conv["assigned_agent_id"] == uid
            and conv["visitor"] and conv["visitor"]["user_id"]
        }
        needle = query.strip().lower()
        out = []
        for tid in sorted(self.store.users):
            user = self.store.users[tid]
            if user.get("share_public") or not user.get("active", True):
                continue
            if needle and needle not in user["name"].lower() and needle not in str(user.get("email", "")).lower():
                continue
            trole = self.store.role_of(tid)
            if role is not None and trole != role:
                continue
            teaches = any(c.get("responsible_id") == tid and str(c["id"]) in my_courses
                          for c in self.store.courses)
            if routing.may_start(caller_role, uid, trole, tid,
                                 target_teaches_caller=teaches,
                                 caller_assigned_to_target=str(tid) in assigned_to):
                out.append({"id": str(tid), "name": user["name"], "role": trole})
            if len(out) >= limit:
                break
        return {"users": out}

    def agents(self):
        out = []
        for uid in sorted(self.store.agents):
            a = self.store.agents[uid]
            out.append({
                "user_id": str(uid),
                "name": self.store.users[uid]["name"],
                "department": a["department"],
                "max_concurrent_chats": a.get("max_concurrent_chats", 5),
                "current_chat_count": self.store.active_chats(uid),
                "is_available": a.get("is_available", True),
                "away_message": a.get("away_message") or "",
            })
        return {"agents": out}

    def ingest(self, batch):
        try:
            results = ingest.apply_batch(self.store, batch)
        except validation.BatchError as exc:
            raise validation_error(str(exc)) from None
        self._record_dead_letters(batch, results)
        return {"results": results}

    def _record_dead_letters(self, batch, results):
        """What the addon's seitech.chat.dead.letter._record does: refused
        items are listed (upserted by uuid), accepted ones resolved."""
        with self.store.lock:
            for raw, result in zip(batch, results, strict=True):
                uuid = result.get("uuid")
                if not isinstance(uuid, str):
                    continue
                row = self.store.dead_letters.get(uuid)
                if result["status"] == "rejected":
                    item = raw if isinstance(raw, dict) else {}
                    if row is None:
                        row = self.store.dead_letters[uuid] = {
                            "uuid": uuid, "kind": item.get("kind"),
                            "conversation_id": item.get("conversation_id"), "refusals": 0}
                    row.update(code=result.get("code"), reason=result.get("reason"), state="parked",
                               refusals=row["refusals"] + 1)
                elif row is not None:
                    row["state"] = "resolved"

    def send_transcript(self, conversation_id, email=None):
        conv = self.store.conversations.get(conversation_id) if isinstance(conversation_id, str) else None
        if conv is None:
            raise validation_error(f"unknown conversation {conversation_id}")
        if email is None:
            email = (conv.get("visitor") or {}).get("email")
        if not email:
            raise validation_error("no email address for the transcript")
        try:
            validation.parse_email(email, "email")
        except validation.ItemError as exc:
            raise validation_error(exc.reason) from None
        lines = [m for m in self.store.messages.values()
                 if m["conversation_id"] == conversation_id and not m["deleted"]]
        lines.sort(key=lambda m: (m["created_at"], m["id"]))
        self.store.mails.append({
            "kind": "transcript", "to": email, "conversation_id": conversation_id,
            "lines": [f"{m['author_name']}: {m['content']}" for m in lines],
        })
        return {"queued": True, "email": email}

    def notify_offline(self, user_id, conversation_id, preview=""):
        uid = _int_id(user_id, "user_id")
        user = self.store.users.get(uid)
        if user is None:
            raise validation_error(f"unknown user {user_id}")
        if not isinstance(conversation_id, str) or conversation_id not in self.store.conversations:
            raise validation_error(f"unknown conversation {conversation_id}")
        if not isinstance(preview, str):
            raise validation_error("preview must be a string")
        if not user.get("email"):
            return {"queued": False, "reason": "no_email"}
        now = dt.datetime.now(dt.timezone.utc)
        last = self.store.notified.get((uid, conversation_id))
        if last is not None and now - last < NOTIFY_THROTTLE:
            return {"queued": False, "reason": "throttled"}
        self.store.notified[(uid, conversation_id)] = now
        self.store.mails.append({
            "kind": "offline", "to": user["email"], "conversation_id": conversation_id,
            "preview": validation.clean_content(preview)[: C.MAX_PREVIEW_CHARS],
        })
        return {"queued": True}
