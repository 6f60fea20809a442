# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import _, api, fields, models
from odoo.addons.mail.models.discuss.discuss_channel import Channel as CoreChannel
from odoo.exceptions import AccessError, UserError, ValidationError

from ..lib import pushes, roles
from ..lib.constants import CHAT_TYPE_TO_WIRE

CHAT_TYPE_SELECTION = [
    ("chat", "Direct chat"),
    ("group", "Group"),
    ("support", "Support"),
    ("broadcast", "Broadcast"),
]
QUERY_TYPE_SELECTION = [
    ("course_inquiry", "Course inquiry"),
    ("technical_support", "Technical support"),
    ("billing", "Billing"),
    ("other", "Other"),
]
STATE_SELECTION = [("queued", "Queued"), ("active", "Active"), ("ended", "Ended")]
# Context key of writes that come from the gateway (ingest): the gateway
# already knows what it sent, so they are never pushed back to it.
FROM_GATEWAY = "seitech_from_gateway"
# Fields only the gateway (ingest) and the module's own actions (as
# superuser) write: `readonly` in a view is only a UI flag, so an agent's
# RPC `write` on them is refused here.
PROTECTED_FIELDS = frozenset({
    "seitech_uuid", "seitech_chat_type", "seitech_state", "visitor_name",
    "visitor_email", "visitor_guest_id", "visitor_user_id", "query_type",
    "conversation_started", "conversation_ended", "satisfaction_rating",
    "rating_comment",
})
# Fields of this module written without Discuss's write(), which broadcasts
# every written value on the channel's bus to all its members (a visitor's
# email, an agent's unsent draft, a rating comment have no business there,
# and Discuss's client does not use them).
QUIET_FIELDS = PROTECTED_FIELDS | {"seitech_reply_draft", "assigned_agent_id"}


class DiscussChannel(models.Model):
    """Conversations of the gateway, stored as Discuss channels.

    The chat type is a field of its own (``seitech_chat_type``) rather than
    a ``selection_add`` on ``channel_type``: Discuss's Python and JS switch
    on ``channel_type`` (member rules, DM naming, the sidebar), and an
    unknown value there breaks the Discuss app for everyone. Our channels
    use core types Discuss understands (``chat`` for direct, ``group``
    otherwise) so they stay valid Discuss records.
    """

    _inherit = "discuss.channel"

    seitech_uuid = fields.Char(
        "Gateway conversation id", index=True, copy=False, readonly=True
    )
    seitech_chat_type = fields.Selection(CHAT_TYPE_SELECTION, "Chat type", index=True)
    seitech_state = fields.Selection(
        STATE_SELECTION, "Chat state", index=True, group_expand="_expand_seitech_states"
    )
    visitor_name = fields.Char()
    visitor_email = fields.Char()
    visitor_guest_id = fields.Char("Visitor guest id", readonly=True)
    visitor_user_id = fields.Many2one("res.users", "Visitor user", readonly=True)
    query_type = fields.Selection(QUERY_TYPE_SELECTION)
    seitech_department = fields.Selection(
        [("sales", "Sales"), ("support", "Support"), ("billing", "Billing"),
         ("general", "General")],
        "Department", compute="_compute_seitech_department", store=True,
    )
    assigned_agent_id = fields.Many2one(
        "res.users", "Assigned agent", index=True,
        domain=lambda self: [("groups_id", "in", self.env.ref(
            "seitech_chat.group_chat_agent").id)],
    )
    conversation_started = fields.Datetime()
    conversation_ended = fields.Datetime()
    satisfaction_rating = fields.Integer(
        help="1 (poor) to 5 (excellent); 0 while not rated.", group_operator="avg"
    )
    rating_comment = fields.Text()
    seitech_message_ids = fields.One2many("seitech.chat.message", "channel_id", "Chat messages")
    seitech_message_count = fields.Integer(compute="_compute_seitech_message_count")
    seitech_reply_draft = fields.Text(
        "Reply", help="Typed by the agent in the form; sent with the Send button."
    )

    _sql_constraints = [
        ("seitech_uuid_unique", "unique(seitech_uuid)", "A gateway conversation is stored once."),
        ("satisfaction_rating_range",
         "CHECK(satisfaction_rating IS NULL OR satisfaction_rating BETWEEN 0 AND 5)",
         "A rating is 1 to 5."),
    ]

    @api.model
    def _expand_seitech_states(self, states, domain, order):
        # Kanban shows all three columns even when one is empty.
        return [key for key, _label in STATE_SELECTION]

    @api.depends("query_type")
    def _compute_seitech_department(self):
        for channel in self:
            channel.seitech_department = (
                roles.department_for(channel.query_type) if channel.query_type else False
            )

    def _compute_seitech_message_count(self):
        counts = dict(self.env["seitech.chat.message"]._read_group(
            [("channel_id", "in", self.ids)], ["channel_id"], ["__count"]))
        for channel in self:
            channel.seitech_message_count = counts.get(channel, 0)

    @api.constrains("seitech_chat_type", "query_type", "seitech_state")
    def _check_seitech_support_fields(self):
        for channel in self:
            if channel.seitech_chat_type == "support" and not channel.query_type:
                raise ValidationError(_("A support conversation needs a query type."))
            if channel.seitech_state == "queued" and channel.seitech_chat_type != "support":
                raise ValidationError(_("Only support conversations are queued."))

    def write(self, vals):
        """A support chat given to another agent in the back office (a
        manager editing the field, or an agent taking a queued chat) becomes
        active, the new agent its only Odoo member, and the gateway is told
        after commit. Writes from the gateway's ingest are not pushed back.

        This module's fields are written past Discuss's write() (no bus
        broadcast, see QUIET_FIELDS), the others through it."""
        if not self.env.su and PROTECTED_FIELDS & set(vals) and self.filtered("seitech_chat_type"):
            raise AccessError(_("These fields of a gateway conversation are set by the gateway: %s",
                                ", ".join(sorted(PROTECTED_FIELDS & set(vals)))))
        moved = self.browse()
        if "assigned_agent_id" in vals and not self.env.context.get(FROM_GATEWAY):
            moved = self._seitech_moved_by(vals)
        quiet = {k: v for k, v in vals.items() if k in QUIET_FIELDS}
        loud = {k: v for k, v in vals.items() if k not in QUIET_FIELDS}
        result = True
        if loud or not quiet:
            result = super().write(loud)
        if quiet:
            # The class after Discuss's Channel in the MRO: mail.thread and
            # the ORM still run (tracking, constraints, access rules).
            result = super(CoreChannel, self).write(quiet) and result
        if moved:
            # sudo: the state follows the assignment; the caller's right to
            # assign was checked by the write above (record rules).
            moved.filtered(lambda c: c.seitech_state != "active").sudo().write(
                {"seitech_state": "active"})
            moved._seitech_sync_agent_member()
            moved._seitech_push_conversation()
        return result

    def _seitech_moved_by(self, vals):
        """The support chats of ``self`` that this write of
        ``assigned_agent_id`` gives to another agent (lib.pushes rules)."""
        new_agent = vals["assigned_agent_id"]
        moved = self.browse()
        for channel in self.filtered(lambda c: c.seitech_chat_type == "support"):
            try:
                state = pushes.agent_change(
                    channel.seitech_state, channel.assigned_agent_id.id, new_agent)
            except pushes.AgentChangeError as exc:
                raise UserError(str(exc)) from None
            if state:
                moved |= channel
        if moved and vals.get("seitech_state", "active") != "active":
            raise UserError(_("A conversation given to an agent is active."))
        return moved

    # -- back office actions -------------------------------------------------
    def _seitech_push_conversation(self):
        self.env["seitech.chat.push"].sudo()._enqueue([
            ("conversation", pushes.conversation_event(
                c.seitech_uuid, c.seitech_state, c.assigned_agent_id.id))
            for c in self if c.seitech_uuid
        ])

    def _seitech_sync_agent_member(self):
        """Keep the assigned agent the only Odoo member of a support chat:
        Discuss's own rules let members read a channel, so a previous agent
        must lose membership when the chat moves to someone else."""
        for channel in self.filtered(lambda c: c.seitech_chat_type == "support"):
            agent_partner = channel.assigned_agent_id.partner_id
            stale = channel.sudo().channel_member_ids.filtered(
                lambda m, p=agent_partner: m.partner_id and m.partner_id != p)
            stale.unlink()
            if agent_partner and agent_partner not in channel.sudo().channel_member_ids.partner_id:
                # A plain member create, not add_members(): no "invited ..."
                # message in the thread and no Discuss bus notification (the
                # agent works the chat from the Live Chat menu).
                self.env["discuss.channel.member"].sudo().create(
                    {"channel_id": channel.id, "partner_id": agent_partner.id})

    def action_seitech_take(self):
        """An agent takes a queued chat from the back office."""
        user = self.env.user
        if not user.has_group("seitech_chat.group_chat_agent"):
            raise UserError(_("Only chat agents take conversations."))
        for channel in self:
            if channel.seitech_state != "queued":
                raise UserError(_("Only a queued conversation can be taken."))
        # write() makes the taken chats active, syncs membership and pushes
        # them; a queued chat that already named this agent is pushed here.
        unchanged = self.filtered(lambda c: c.assigned_agent_id == user)
        self.sudo().write({"assigned_agent_id": user.id, "seitech_state": "active"})
        if unchanged:
            unchanged._seitech_sync_agent_member()
            unchanged._seitech_push_conversation()

    def _seitech_check_may_act(self):
        """Ending or answering a gateway chat from the back office: a support
        chat's assigned agent or a Chat Manager; any other gateway chat only
        a Chat Manager (its members talk through the gateway)."""
        user = self.env.user
        # Checked on the user even under sudo(): the buttons' callers are users.
        if user.has_group("seitech_chat.group_chat_manager"):
            return
        for channel in self:
            if channel.seitech_chat_type != "support" or channel.assigned_agent_id != user:
                raise UserError(_("Only the assigned agent or a manager acts on this chat."))

    def action_seitech_end(self):
        self._seitech_check_may_act()
        ended = self.filtered(lambda c: c.seitech_state != "ended")
        # sudo: the state is a protected field (see PROTECTED_FIELDS); the
        # caller's right was checked just above.
        ended.sudo().write({"seitech_state": "ended", "conversation_ended": fields.Datetime.now()})
        ended._seitech_push_conversation()

    def action_seitech_send_reply(self):
        self.ensure_one()
        body = (self.seitech_reply_draft or "").strip()
        if not body:
            raise UserError(_("Type a reply first."))
        self.seitech_post_agent_message(body)
        self.seitech_reply_draft = False

    def seitech_post_agent_message(self, body):
        """Write a message as the current user and push it to the gateway."""
        self.ensure_one()
        if self.seitech_state == "ended":
            raise UserError(_("This conversation has ended."))
        self._seitech_check_may_act()
        return self.env["seitech.chat.message"].create({
            "channel_id": self.id,
            "author_id": self.env.user.id,
            "body": body,
            "message_type": "text",
            "origin": "odoo",
        })

    def _seitech_gateway_dict(self):
        self.ensure_one()
        return {
            "id": self.seitech_uuid,
            "type": CHAT_TYPE_TO_WIRE.get(self.seitech_chat_type),
            "status": self.seitech_state,
            "assigned_agent_id": str(self.assigned_agent_id.id) if self.assigned_agent_id else None,
        }
