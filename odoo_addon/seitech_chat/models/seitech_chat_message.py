# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import json

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..lib.constants import MAX_CONTENT_CHARS
from ..lib.ids import iso_utc, uuid7


class SeitechChatMessage(models.Model):
    """A chat message of the gateway.

    Kept apart from mail.message: the gateway writes thousands of them in
    batches and needs per-message read receipts, edits and reactions keyed
    by its own ids; mail.message's followers, notifications and bus
    traffic would cost a lot for no use.
    """

    _name = "seitech.chat.message"
    _description = "Seitech Chat message"
    _order = "create_date_gateway, id"
    _rec_name = "uuid"

    uuid = fields.Char(required=True, index=True, copy=False, readonly=True,
                       default=lambda self: uuid7())
    channel_id = fields.Many2one("discuss.channel", required=True, ondelete="cascade",
                                 index=True)
    author_id = fields.Many2one("res.users", ondelete="set null", index=True)
    guest_name = fields.Char(help="Name of a guest author (no Odoo user).")
    guest_id = fields.Char(help="Gateway id of a guest author.")
    author_display = fields.Char(compute="_compute_author_display")
    body = fields.Text(required=True)
    message_type = fields.Selection(
        [("text", "Text"), ("file", "File"), ("system", "System")],
        required=True, default="text",
    )
    attachments_json = fields.Text(
        "Attachments", default="[]",
        help="Gateway attachment objects {id, name, mimeType, size, url}; the "
             "files stay in the gateway's store.",
    )
    attachment_count = fields.Integer(compute="_compute_attachment_count")
    read_by_ids = fields.Many2many("res.users", string="Read by")
    read_by_guest_ids = fields.Text(default="[]")
    reactions_json = fields.Text("Reactions", default="{}")
    is_edited = fields.Boolean(readonly=True)
    edited_at = fields.Datetime(readonly=True)
    is_deleted = fields.Boolean(readonly=True)
    parent_id = fields.Many2one("seitech.chat.message", ondelete="set null")
    client_id = fields.Char()
    create_date_gateway = fields.Datetime("Sent at", default=fields.Datetime.now,
                                          required=True, index=True)
    origin = fields.Selection([("gateway", "Gateway"), ("odoo", "Odoo")],
                              required=True, default="gateway", readonly=True)

    _sql_constraints = [
        ("uuid_unique", "unique(uuid)", "A message id is stored once."),
    ]

    def _compute_author_display(self):
        for msg in self:
            msg.author_display = msg.author_id.name or msg.guest_name or _("System")

    def _compute_attachment_count(self):
        for msg in self:
            msg.attachment_count = len(json.loads(msg.attachments_json or "[]"))

    @api.constrains("body")
    def _check_body(self):
        for msg in self:
            if len(msg.body or "") > MAX_CONTENT_CHARS:
                raise ValidationError(_("A message is at most %s characters.", MAX_CONTENT_CHARS))

    @api.constrains("parent_id", "channel_id")
    def _check_parent(self):
        for msg in self:
            if msg.parent_id and msg.parent_id.channel_id != msg.channel_id:
                raise ValidationError(_("A reply belongs to the conversation of its parent."))

    @api.model_create_multi
    def create(self, vals_list):
        messages = super().create(vals_list)
        # Only messages written in Odoo are pushed: those from the gateway
        # are already on the gateway, and pushing them back would loop.
        from_odoo = messages.filtered(lambda m: m.origin == "odoo" and m.channel_id.seitech_uuid)
        if from_odoo:
            self.env["seitech.chat.push"].sudo()._enqueue([
                ("message", {"conversation_id": m.channel_id.seitech_uuid,
                             "message": m._seitech_wire()})
                for m in from_odoo
            ])
        return messages

    def _seitech_wire(self):
        """Protocol section 4 message object."""
        self.ensure_one()
        return {
            "id": self.uuid,
            "roomId": self.channel_id.seitech_uuid,
            "authorId": str(self.author_id.id) if self.author_id else (self.guest_id or None),
            "authorName": self.author_display,
            "content": self.body,
            "type": self.message_type,
            "attachments": json.loads(self.attachments_json or "[]"),
            "parentId": self.parent_id.uuid if self.parent_id else None,
            "clientId": self.client_id or None,
            "createdAt": iso_utc(self.create_date_gateway),
            "editedAt": iso_utc(self.edited_at or None),
        }
