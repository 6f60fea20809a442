# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""The whole API the gateway calls through execute_kw.

Contract: docs/odoo-gateway-api.md. The rules live in ../lib (shared with
the test double); this file only maps them onto the ORM.
"""

import contextlib
import datetime as dt
import json
import re

from psycopg2 import IntegrityError

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import html_escape

from ..lib import constants as C
from ..lib import ingest, routing, validation
from ..lib.ids import iso_utc
from .discuss_channel import FROM_GATEWAY

NOTIFY_THROTTLE = dt.timedelta(minutes=5)
# directory_search reads candidates in pages this size (the ORM's prefetch
# size): a fixed number of queries per page, none per user.
DIRECTORY_PAGE = 1000
PUBLIC_METHODS = (
    "api_version", "whois", "directory_search", "agents", "ingest",
    "send_transcript", "notify_offline",
)


def _user_id(value, what):
    try:
        kind, ref = validation.parse_user_ref(value, what)
    except validation.ItemError as exc:
        raise ValidationError(exc.reason) from None
    if kind != "user":
        raise ValidationError(_("%s must be an Odoo user id", what))
    return ref


def _like_escape(text):
    """``text`` matched literally by a (=)like pattern: conversation ids may
    hold ``_`` and ``%``, which LIKE reads as wildcards."""
    return re.sub(r"([\\%_])", r"\\\1", text)


class OrmStore(ingest.Store):
    """lib.ingest.Store on the ORM; every call runs as superuser because
    the gateway API already checked its caller."""

    def __init__(self, env):
        self.env = env
        self.Channel = env["discuss.channel"].sudo().with_context(
            mail_create_nosubscribe=True, mail_create_nolog=True, **{FROM_GATEWAY: True})
        self.Message = env["seitech.chat.message"].sudo()
        self.Op = env["seitech.chat.op"].sudo()

    @contextlib.contextmanager
    def atomic(self):
        try:
            with self.env.cr.savepoint():
                yield
        except (ValidationError, UserError, IntegrityError) as exc:
            # An ORM constraint refused the item: permanent for that item
            # only; the savepoint undid its writes.
            msg = exc.args[0] if exc.args else str(exc)
            raise validation.ItemError(C.E_INVALID, str(msg)[:500]) from None

    def op_seen(self, uuid):
        return bool(self.Op.search_count([("uuid", "=", uuid)], limit=1)
                    or self.Message.search_count([("uuid", "=", uuid)], limit=1))

    def record_op(self, uuid, kind):
        self.Op.create({"uuid": uuid, "kind": kind})

    def users_exist(self, user_ids):
        found = self.env["res.users"].sudo().with_context(active_test=False).search(
            [("id", "in", list(user_ids))]).ids
        return set(user_ids) - set(found)

    def _channel(self, cid):
        return self.Channel.search([("seitech_uuid", "=", cid)], limit=1)

    def get_conversation(self, cid):
        ch = self._channel(cid)
        if not ch:
            return None
        return {"id": cid, "type": C.CHAT_TYPE_TO_WIRE.get(ch.seitech_chat_type),
                "status": ch.seitech_state}

    def _visitor_vals(self, visitor):
        if not visitor:
            return {}
        vals = {"visitor_name": visitor["name"], "visitor_email": visitor["email"] or False}
        ref = visitor["user_id"]
        if ref and ref.isdigit():
            vals["visitor_user_id"] = int(ref)
        elif ref:
            vals["visitor_guest_id"] = ref
        return vals

    def create_conversation(self, item):
        chat_type = C.WIRE_TO_CHAT_TYPE[item["type"]]
        vals = {
            "name": item["name"] or (item["visitor"] or {}).get("name") or item["conversation_id"],
            "seitech_uuid": item["conversation_id"],
            "seitech_chat_type": chat_type,
            # Core types Discuss understands; see DiscussChannel's docstring.
            "channel_type": "chat" if chat_type == "chat" else "group",
            "seitech_state": item["status"],
            "query_type": item["query_type"] or False,
            "assigned_agent_id": item["assigned_agent_id"] or False,
            "conversation_started": item["created_at"],
            "conversation_ended": item["created_at"] if item["status"] == "ended" else False,
        }
        vals.update(self._visitor_vals(item["visitor"]))
        users = self.env["res.users"].sudo().browse(item["participant_ids"])
        partners = users.partner_id
        if chat_type == "chat":
            self._create_direct(vals, users)
            return
        # Members are given in the create itself (Discuss's own way), so no
        # "joined"/"invited" message is posted and no bus notification sent:
        # the conversation lives in the gateway and agents follow it in the
        # Live Chat menu, not in Discuss's sidebar. Discuss adds the creating
        # user (the gateway's technical user) unless it creates as superuser
        # with install_mode; it is removed: it is not a participant.
        members = [] if chat_type == "support" else [
            fields.Command.create({"partner_id": p.id}) for p in partners]
        channel = self.Channel.create(dict(vals, channel_member_ids=members))
        if chat_type == "support":
            channel._seitech_sync_agent_member()
        channel.channel_member_ids.filtered(
            lambda m: m.partner_id and m.partner_id not in partners
            and m.partner_id != channel.assigned_agent_id.partner_id).unlink()

    def _create_direct(self, vals, users):
        """A direct conversation is a Discuss ``chat``: exactly its two people,
        given in one create (Odoo refuses any member added to a chat that
        already has one, "designed for just two people"), created as one of
        them as ``channel_get`` does so that no third (technical) member is
        added. The chat the two already have in Discuss, if it is not
        already another gateway conversation, becomes this conversation
        instead of a second chat between the same people."""
        partners = users.partner_id
        existing = self._existing_chat(partners)
        if existing:
            existing.write({k: v for k, v in vals.items() if k not in ("name", "channel_type")})
            return
        self.Channel.with_user(users[0]).sudo().create(dict(vals, channel_member_ids=[
            fields.Command.create({"partner_id": p.id}) for p in partners]))

    def _existing_chat(self, partners):
        Member = self.env["discuss.channel.member"].sudo()
        chats = Member.search([("partner_id", "in", partners.ids),
                               ("channel_id.channel_type", "=", "chat"),
                               ("channel_id.seitech_uuid", "=", False)]).channel_id
        return chats.filtered(
            lambda c: c.channel_member_ids.partner_id == partners)[:1].with_context(
                **self.Channel.env.context)

    def update_conversation(self, item):
        channel = self._channel(item["conversation_id"])
        vals = {"seitech_state": item["status"],
                "assigned_agent_id": item["assigned_agent_id"] or False}
        if item["name"]:
            vals["name"] = item["name"]
        if item["status"] == "ended" and not channel.conversation_ended:
            vals["conversation_ended"] = item["created_at"]
        vals.update(self._visitor_vals(item["visitor"]))
        channel.write(vals)
        if channel.seitech_chat_type == "support":
            channel._seitech_sync_agent_member()
        else:
            partners = self.env["res.users"].sudo().browse(item["participant_ids"]).partner_id
            new = partners - channel.channel_member_ids.partner_id
            if new and channel.channel_type == "chat":
                # Odoo's rule: a chat's members are its two people, for good.
                raise validation.ItemError(C.E_CONFLICT, ingest.DIRECT_FOR_GOOD)
            if new:
                # Quietly, as at creation (no "invited" message, no bus).
                self.env["discuss.channel.member"].sudo().create(
                    [{"channel_id": channel.id, "partner_id": p.id} for p in new])

    def _message(self, mid):
        return self.Message.search([("uuid", "=", mid)], limit=1)

    def get_message(self, mid):
        msg = self._message(mid)
        if not msg:
            return None
        return {"id": mid, "conversation_id": msg.channel_id.seitech_uuid,
                "deleted": msg.is_deleted}

    def create_message(self, item):
        author = item["author"]
        self.Message.create({
            "uuid": item["message_id"],
            "channel_id": self._channel(item["conversation_id"]).id,
            "author_id": author[1] if author and author[0] == "user" else False,
            "guest_id": author[1] if author and author[0] == "guest" else False,
            "guest_name": item["author_name"] if author and author[0] == "guest" else False,
            "body": item["content"],
            "message_type": item["type"],
            "attachments_json": json.dumps(item["attachments"]),
            "parent_id": self._message(item["parent_id"]).id if item["parent_id"] else False,
            "client_id": item["client_id"] or False,
            "create_date_gateway": item["created_at"],
            "origin": "gateway",
        })

    def mark_read(self, item):
        msg = self._message(item["message_id"])
        kind, ref = item["user"]
        if kind == "user":
            msg.write({"read_by_ids": [fields.Command.link(ref)]})
        else:
            guests = json.loads(msg.read_by_guest_ids or "[]")
            if ref not in guests:
                msg.read_by_guest_ids = json.dumps(guests + [ref])

    def edit_message(self, item):
        self._message(item["message_id"]).write(
            {"body": item["content"], "is_edited": True, "edited_at": item["edited_at"]})

    def delete_message(self, item):
        # Kept (flagged) rather than unlinked: replies and read receipts
        # point at it, and support transcripts are audit material.
        self._message(item["message_id"]).write({"is_deleted": True})

    def set_reaction(self, item):
        msg = self._message(item["message_id"])
        reactions = json.loads(msg.reactions_json or "{}")
        who = str(item["user"][1])
        users = reactions.setdefault(item["emoji"], [])
        if item["added"] and who not in users:
            users.append(who)
        if not item["added"] and who in users:
            users.remove(who)
        if not users:
            del reactions[item["emoji"]]
        msg.reactions_json = json.dumps(reactions)

    def end_conversation(self, item):
        self._channel(item["conversation_id"]).write(
            {"seitech_state": "ended", "conversation_ended": item["ended_at"]})

    def rate_conversation(self, item):
        self._channel(item["conversation_id"]).write(
            {"satisfaction_rating": item["rating"], "rating_comment": item["comment"] or False})


class SeitechChatGateway(models.AbstractModel):
    _name = "seitech.chat.gateway"
    _description = "Seitech Chat gateway API (execute_kw entry points)"

    @api.model
    def _check_gateway_caller(self):
        user = self.env.user
        if not (user.has_group("seitech_chat.group_chat_gateway")
                or user.has_group("base.group_system")):
            raise AccessError(_("Only the Chat Gateway user may call the gateway API."))

    @api.model
    def api_version(self):
        self._check_gateway_caller()
        module = self.env["ir.module.module"].sudo().search(
            [("name", "=", "seitech_chat")], limit=1)
        return {
            "version": C.API_VERSION,
            "min_compatible": C.API_MIN_COMPATIBLE,
            "module_version": module.latest_version or module.installed_version or "",
            "max_batch": C.MAX_BATCH,
            "methods": list(PUBLIC_METHODS),
            "ingest_kinds": list(C.INGEST_KINDS),
        }

    @api.model
    def whois(self, user_ids):
        self._check_gateway_caller()
        if not isinstance(user_ids, list) or len(user_ids) > C.MAX_BATCH:
            raise ValidationError(_("user_ids must be a list of at most %s", C.MAX_BATCH))
        ids = [_user_id(raw, "user_ids") for raw in user_ids]
        users = self.env["res.users"].sudo().browse(ids).exists().filtered("active")
        by_id = {u.id: u for u in users}
        out, missing = [], []
        for raw, uid in zip(user_ids, ids, strict=True):
            if uid in by_id:
                out.append(by_id[uid]._seitech_chat_identity())
            else:
                missing.append(str(raw))
        return {"users": out, "missing": missing}

    @api.model
    def directory_search(self, user_id, query="", role=None, limit=20):
        self._check_gateway_caller()
        uid = _user_id(user_id, "user_id")
        caller = self.env["res.users"].sudo().browse(uid).exists()
        if not caller:
            raise ValidationError(_("unknown user %s", user_id))
        if not isinstance(query, str) or len(query) > 100:
            raise ValidationError(_("query must be a string of at most 100 characters"))
        if role is not None and role not in C.ROLES:
            raise ValidationError(_("role must be one of %s", ", ".join(C.ROLES)))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise ValidationError(_("limit must be 1..100"))
        caller_role = caller._seitech_chat_role()
        if caller_role == "public":
            return {"users": []}
        my_course_ids = {c["id"] for c in caller._seitech_chat_courses() if c["as"] == "student"}
        assigned_to = set(self.env["discuss.channel"].sudo().search([
            ("seitech_chat_type", "=", "support"), ("assigned_agent_id", "=", uid),
            ("visitor_user_id", "!=", False)]).visitor_user_id.ids)
        domain = []
        needle = query.strip()
        if needle:
            domain += ["|", ("name", "ilike", needle), ("email", "ilike", needle)]
        Users = self.env["res.users"].sudo()
        # A bounded number of queries whatever the user count: candidates are
        # read in pages, each page's roles and courses in one go.
        out, offset, page_size = [], 0, DIRECTORY_PAGE
        public = self.env.ref("base.group_public")
        while len(out) < limit:
            page = Users.search(domain + [("id", "!=", uid)], order="id", limit=page_size,
                                offset=offset)
            if not page:
                break
            offset += page_size
            courses = page._seitech_chat_courses_bulk()
            page_roles = page._seitech_chat_roles_bulk(courses)
            for target in page:
                trole = page_roles[target.id]
                if public in target.groups_id:
                    continue
                if role is not None and trole != role:
                    continue
                teaches = bool(my_course_ids) and any(
                    c["as"] == "instructor" and c["id"] in my_course_ids
                    for c in courses[target.id])
                if routing.may_start(caller_role, uid, trole, target.id,
                                     target_teaches_caller=teaches,
                                     caller_assigned_to_target=target.id in assigned_to):
                    out.append({"id": str(target.id), "name": target.name, "role": trole})
                    if len(out) >= limit:
                        break
        return {"users": out}

    @api.model
    def agents(self):
        self._check_gateway_caller()
        agents = self.env["seitech.chat.agent"].sudo().search([("user_id.active", "=", True)])
        return {"agents": [a._seitech_gateway_dict() for a in agents.sorted(lambda a: a.user_id.id)]}

    @api.model
    def ingest(self, batch):
        self._check_gateway_caller()
        try:
            results = ingest.apply_batch(OrmStore(self.env), batch)
        except validation.BatchError as exc:
            raise ValidationError(str(exc)) from None
        self.env["seitech.chat.dead.letter"].sudo()._record(batch, results)
        return {"results": results}

    @api.model
    def _conversation(self, conversation_id):
        channel = self.env["discuss.channel"].sudo().search(
            [("seitech_uuid", "=", conversation_id)], limit=1) \
            if isinstance(conversation_id, str) else None
        if not channel:
            raise ValidationError(_("unknown conversation %s", conversation_id))
        return channel

    @api.model
    def send_transcript(self, conversation_id, email=None):
        self._check_gateway_caller()
        channel = self._conversation(conversation_id)
        email = email or channel.visitor_email
        if not email:
            raise ValidationError(_("no email address for the transcript"))
        try:
            validation.parse_email(email, "email")
        except validation.ItemError as exc:
            raise ValidationError(exc.reason) from None
        lines = channel.seitech_message_ids.filtered(lambda m: not m.is_deleted).sorted(
            lambda m: (m.create_date_gateway, m.id))
        body = "".join(
            f"<p><b>{html_escape(m.author_display)}</b> "
            f"<small>{iso_utc(m.create_date_gateway)}</small><br/>{html_escape(m.body)}</p>"
            for m in lines)
        mail = self.env["mail.mail"].sudo().create({
            "email_from": self._email_from(),
            "subject": _("Transcript of your conversation: %s", channel.name),
            "email_to": email,
            "body_html": body or "<p></p>",
            "auto_delete": True,
        })
        return {"queued": bool(mail), "email": email}

    @api.model
    def _email_from(self):
        """Sender of the module's mails: the company's address, else Odoo's
        default (``mail.default.from`` @ catchall domain). A mail.mail
        without one is sent with an empty From, which servers refuse."""
        return self.env.company.email_formatted or \
            self.env["ir.mail_server"].sudo()._get_default_from_address() or False

    @api.model
    def notify_offline(self, user_id, conversation_id, preview=""):
        self._check_gateway_caller()
        uid = _user_id(user_id, "user_id")
        user = self.env["res.users"].sudo().browse(uid).exists()
        if not user:
            raise ValidationError(_("unknown user %s", user_id))
        channel = self._conversation(conversation_id)
        if not isinstance(preview, str):
            raise ValidationError(_("preview must be a string"))
        if not user.email:
            return {"queued": False, "reason": "no_email"}
        key = f"{uid}:{conversation_id}"
        Op = self.env["seitech.chat.op"].sudo()
        recent = Op.search_count([
            ("uuid", "=like", f"notify:{_like_escape(key)}:%"),
            ("applied_at", ">", fields.Datetime.now() - NOTIFY_THROTTLE)], limit=1)
        if recent:
            return {"queued": False, "reason": "throttled"}
        now = fields.Datetime.now()
        Op.create({"uuid": f"notify:{key}:{now.isoformat()}", "kind": "notify"})
        text = validation.clean_content(preview)[: C.MAX_PREVIEW_CHARS]
        self.env["mail.mail"].sudo().create({
            "email_from": self._email_from(),
            "subject": _("New message in %s", channel.name),
            "email_to": user.email,
            "body_html": f"<p>{html_escape(text)}</p>",
            "auto_delete": True,
        })
        return {"queued": True}
