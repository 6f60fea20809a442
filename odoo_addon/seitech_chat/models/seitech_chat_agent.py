# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

DEPARTMENT_SELECTION = [
    ("sales", "Sales"),
    ("support", "Support"),
    ("billing", "Billing"),
    ("general", "General"),
]


class SeitechChatAgent(models.Model):
    _name = "seitech.chat.agent"
    _description = "Seitech Chat support agent"
    _rec_name = "user_id"
    _order = "department, user_id"

    user_id = fields.Many2one(
        "res.users", required=True, ondelete="cascade", index=True,
        domain=lambda self: [("groups_id", "in", self.env.ref(
            "seitech_chat.group_chat_agent").id)],
    )
    active = fields.Boolean(related="user_id.active", store=True)
    department = fields.Selection(DEPARTMENT_SELECTION, required=True, default="general")
    max_concurrent_chats = fields.Integer(default=5, required=True)
    current_chat_count = fields.Integer(compute="_compute_current_chat_count")
    is_available = fields.Boolean(default=True)
    away_message = fields.Text(translate=True)

    _sql_constraints = [
        ("user_unique", "unique(user_id)", "A user is one agent."),
    ]

    @api.constrains("max_concurrent_chats")
    def _check_max_concurrent_chats(self):
        for agent in self:
            if not 1 <= agent.max_concurrent_chats <= 50:
                raise ValidationError(_("An agent takes 1 to 50 chats at once."))

    def _compute_current_chat_count(self):
        counts = dict(
            self.env["discuss.channel"].sudo()._read_group(
                [
                    ("seitech_chat_type", "=", "support"),
                    ("seitech_state", "=", "active"),
                    ("assigned_agent_id", "in", self.user_id.ids),
                ],
                ["assigned_agent_id"],
                ["__count"],
            )
        )
        for agent in self:
            agent.current_chat_count = counts.get(agent.user_id, 0)

    def _seitech_gateway_dict(self, with_load=True):
        self.ensure_one()
        data = {
            "user_id": str(self.user_id.id),
            "department": self.department,
            "max_concurrent_chats": self.max_concurrent_chats,
            "is_available": self.is_available,
            "away_message": self.away_message or "",
        }
        if with_load:
            data["name"] = self.user_id.name
            data["current_chat_count"] = self.current_chat_count
        return data

    def _push_changes(self):
        self.env["seitech.chat.push"].sudo()._enqueue(
            [("agent", a._seitech_gateway_dict(with_load=False)) for a in self]
        )

    @api.model_create_multi
    def create(self, vals_list):
        agents = super().create(vals_list)
        agents._push_changes()
        return agents

    def write(self, vals):
        res = super().write(vals)
        # The gateway caches agents; availability and limits decide who
        # takes the queue, so it must learn of a change at once.
        self._push_changes()
        return res

    def action_toggle_available(self):
        for agent in self:
            agent.is_available = not agent.is_available
