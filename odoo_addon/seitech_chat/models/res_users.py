# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import models

from ..lib import roles


class ResUsers(models.Model):
    _inherit = "res.users"

    def _seitech_chat_courses(self):
        """Courses of this user as [{id, name, as}] (instructor first)."""
        self.ensure_one()
        Channel = self.env["slide.channel"].sudo().with_context(active_test=False)
        taught = Channel.search([("user_id", "=", self.id)])
        enrolled = (
            self.env["slide.channel.partner"]
            .sudo()
            .search([("partner_id", "=", self.partner_id.id)])
            .channel_id
            - taught
        )
        return [
            {"id": str(c.id), "name": c.name, "as": "instructor"} for c in taught
        ] + [{"id": str(c.id), "name": c.name, "as": "student"} for c in enrolled]

    def _seitech_chat_role(self):
        self.ensure_one()
        courses = self._seitech_chat_courses()
        return roles.map_role(
            is_system=self.has_group("base.group_system"),
            is_agent=self.has_group("seitech_chat.group_chat_agent"),
            teaches_courses=any(c["as"] == "instructor" for c in courses),
            enrolled_courses=any(c["as"] == "student" for c in courses),
            is_public_user=self._is_public(),
        )

    def _seitech_chat_identity(self):
        """The whois() entry of this user (docs/odoo-gateway-api.md 3.2)."""
        self.ensure_one()
        agent = self.env["seitech.chat.agent"].sudo().search(
            [("user_id", "=", self.id)], limit=1
        )
        return {
            "id": str(self.id),
            "name": self.name,
            "role": self._seitech_chat_role(),
            "partner_id": self.partner_id.id or None,
            "email": self.email or None,
            "courses": self._seitech_chat_courses(),
            "department": agent.department or None,
        }

    def write(self, vals):
        res = super().write(vals)
        # A change of groups or name changes what whois() answers: tell the
        # gateway to drop its cached identity.
        if {"groups_id", "name", "active"} & set(vals) or any(
            k.startswith("in_group_") or k.startswith("sel_groups_") for k in vals
        ):
            self.env["seitech.chat.push"].sudo()._enqueue(
                [("user", {"user_id": str(u.id)}) for u in self]
            )
        return res
