# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo.tests.common import TransactionCase, new_test_user

T = "2026-11-24T10:00:00.000Z"


class ChatCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.gateway_user = new_test_user(
            cls.env, "chat-gateway", groups="base.group_user,seitech_chat.group_chat_gateway")
        cls.agent = new_test_user(
            cls.env, "sam", groups="base.group_user,seitech_chat.group_chat_agent",
            name="Sam Agent", email="sam@example.org")
        cls.agent2 = new_test_user(
            cls.env, "bea", groups="base.group_user,seitech_chat.group_chat_agent",
            name="Bea Billing", email="bea@example.org")
        cls.manager = new_test_user(
            cls.env, "max", groups="base.group_user,seitech_chat.group_chat_manager", name="Max Manager")
        cls.instructor = new_test_user(cls.env, "ian", groups="base.group_user", name="Ian Instructor")
        cls.other_instructor = new_test_user(cls.env, "oscar", groups="base.group_user", name="Oscar")
        cls.student = new_test_user(cls.env, "ada", groups="base.group_portal", name="Ada Student",
                                    email="ada@example.org")
        cls.plain = new_test_user(cls.env, "paul", groups="base.group_user", name="Paul Plain",
                                  email="paul@example.org")
        cls.admin = new_test_user(cls.env, "root2", groups="base.group_user,base.group_system", name="Root")
        cls.course = cls.env["slide.channel"].create({"name": "Python 101", "user_id": cls.instructor.id})
        cls.env["slide.channel"].create({"name": "Rust 201", "user_id": cls.other_instructor.id})
        cls.env["slide.channel.partner"].create(
            {"channel_id": cls.course.id, "partner_id": cls.student.partner_id.id})
        cls.agent_rec = cls.env["seitech.chat.agent"].create(
            {"user_id": cls.agent.id, "department": "support", "away_message": "Away"})
        cls.agent2_rec = cls.env["seitech.chat.agent"].create(
            {"user_id": cls.agent2.id, "department": "billing", "max_concurrent_chats": 2})
        cls.api = cls.env["seitech.chat.gateway"].with_user(cls.gateway_user)

    @staticmethod
    def support_conv(cid="c-1", uuid="op-c1", **kw):
        item = {"kind": "conversation", "uuid": uuid, "conversation_id": cid, "type": "support",
                "visitor": {"user_id": "guest_1_a", "name": "Vi", "email": "vi@example.org"},
                "query_type": "billing", "status": "queued", "created_at": T}
        item.update(kw)
        return item

    @staticmethod
    def message(uuid, cid="c-1", **kw):
        item = {"kind": "message", "uuid": uuid, "conversation_id": cid, "author_id": "guest_1_a",
                "author_name": "Vi", "content": f"text {uuid}", "created_at": T}
        item.update(kw)
        return item

    def ingest(self, *items):
        return self.api.ingest(list(items))["results"]

    def channel(self, cid="c-1"):
        return self.env["discuss.channel"].search([("seitech_uuid", "=", cid)])
