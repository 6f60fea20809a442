# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ChatCase


@tagged("post_install", "-at_install")
class TestAccess(ChatCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        api = cls.env["seitech.chat.gateway"].with_user(cls.gateway_user)
        api.ingest([
            cls.support_conv("mine", "op-1", status="active", assigned_agent_id=cls.agent.id),
            cls.support_conv("theirs", "op-2", status="active", assigned_agent_id=cls.agent2.id),
            cls.support_conv("queued", "op-3", status="queued"),
            cls.message("m-mine", cid="mine"),
            cls.message("m-theirs", cid="theirs"),
        ])
        Channel = cls.env["discuss.channel"]
        cls.mine = Channel.search([("seitech_uuid", "=", "mine")])
        cls.theirs = Channel.search([("seitech_uuid", "=", "theirs")])
        cls.queued = Channel.search([("seitech_uuid", "=", "queued")])

    # Which of this class's chats and messages a user sees: a database that
    # already holds support chats (a real one, or one an end-to-end run used)
    # must not change the verdicts.
    def visible(self, user):
        return self.env["discuss.channel"].with_user(user).search(
            [("seitech_chat_type", "=", "support"),
             ("seitech_uuid", "in", ["mine", "theirs", "queued"])])

    def visible_messages(self, user):
        return self.env["seitech.chat.message"].with_user(user).search(
            [("uuid", "in", ["m-mine", "m-theirs"])])

    def test_agent_sees_own_and_queue(self):
        self.assertEqual(self.visible(self.agent), self.mine | self.queued)
        with self.assertRaises(AccessError):
            self.theirs.with_user(self.agent).read(["visitor_name"])
        self.assertEqual(self.visible_messages(self.agent).mapped("uuid"), ["m-mine"])

    def test_manager_sees_all(self):
        self.assertEqual(self.visible(self.manager), self.mine | self.theirs | self.queued)
        self.assertEqual(len(self.visible_messages(self.manager)), 2)

    def test_nobody_else_sees_support_chats(self):
        for user in (self.plain, self.instructor):
            self.assertFalse(self.visible(user))
            self.assertFalse(self.visible_messages(user))
            with self.assertRaises(AccessError):
                self.mine.with_user(user).read(["visitor_name"])

    def test_agent_edits_only_own_settings(self):
        self.agent_rec.with_user(self.agent).write({"is_available": False})
        with self.assertRaises(AccessError):
            self.agent2_rec.with_user(self.agent).write({"is_available": False})
        with self.assertRaises(AccessError):
            self.env["seitech.chat.agent"].with_user(self.agent).create({"user_id": self.plain.id})

    def test_pushes_are_for_managers(self):
        with self.assertRaises(AccessError):
            self.env["seitech.chat.push"].with_user(self.agent).search([])
        self.env["seitech.chat.push"].with_user(self.manager).search([])
