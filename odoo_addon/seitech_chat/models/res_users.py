# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import models

from ..lib import roles


class ResUsers(models.Model):
    _inherit = "res.users"

    def _seitech_chat_courses(self):
        """Courses of this user as [{id, name, as}] (instructor first)."""
        self.ensure_one()
        return self._seitech_chat_courses_bulk()[self.id]

    def _seitech_chat_courses_bulk(self):
        """{user id: [{id, name, as}]} for all of ``self`` in two queries.

        Only published-or-not but *active* courses count (an archived course
        makes nobody an instructor or a student), and only enrolments Odoo
        counts as members: active rows whose status is not ``invited``
        (website_slides' own members domain).
        """
        Channel = self.env["slide.channel"].sudo()
        taught = Channel.search([("user_id", "in", self.ids)], order="id")
        enrolments = self.env["slide.channel.partner"].sudo().search([
            ("partner_id", "in", self.partner_id.ids),
            ("member_status", "!=", "invited"),
            ("channel_id.active", "=", True),
        ], order="channel_id")
        out = {}
        for user in self:
            mine = taught.filtered(lambda c, u=user: c.user_id == u)
            enrolled = enrolments.filtered(
                lambda e, u=user: e.partner_id == u.partner_id).channel_id - mine
            out[user.id] = [
                {"id": str(c.id), "name": c.name, "as": "instructor"} for c in mine
            ] + [{"id": str(c.id), "name": c.name, "as": "student"} for c in enrolled]
        return out

    def _seitech_chat_role(self):
        self.ensure_one()
        return self._seitech_chat_roles_bulk()[self.id]

    def _seitech_chat_roles_bulk(self, courses=None):
        """{user id: role} for all of ``self`` in a bounded number of
        queries (groups come from one prefetch of ``groups_id``)."""
        courses = courses if courses is not None else self._seitech_chat_courses_bulk()
        system = self.env.ref("base.group_system")
        agent = self.env.ref("seitech_chat.group_chat_agent")
        public = self.env.ref("base.group_public")
        return {
            user.id: roles.map_role(
                is_system=system in user.groups_id,
                is_agent=agent in user.groups_id,
                teaches_courses=any(c["as"] == "instructor" for c in courses[user.id]),
                enrolled_courses=any(c["as"] == "student" for c in courses[user.id]),
                is_public_user=public in user.groups_id,
            )
            for user in self
        }

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
