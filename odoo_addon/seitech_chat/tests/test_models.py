# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import json

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import ChatCase


@tagged("post_install", "-at_install")
class TestModels(ChatCase):
    def test_agent_defaults_and_limits(self):
        self.assertEqual(self.agent_rec.max_concurrent_chats, 5)
        self.assertTrue(self.agent_rec.is_available)
        with self.assertRaises(ValidationError):
            self.agent_rec.max_concurrent_chats = 0
        self.agent_rec.action_toggle_available()
        self.assertFalse(self.agent_rec.is_available)

    def test_current_chat_count_counts_active_assigned_support_chats(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id),
                    self.support_conv("c-2", "op-2", status="queued"),
                    self.support_conv("c-3", "op-3", status="ended", assigned_agent_id=self.agent.id))
        self.agent_rec.invalidate_recordset()
        self.assertEqual(self.agent_rec.current_chat_count, 1)

    def test_department_from_query_type(self):
        self.ingest(self.support_conv(query_type="course_inquiry"))
        self.assertEqual(self.channel().seitech_department, "sales")

    def test_support_needs_query_type_and_only_support_queues(self):
        with self.assertRaises(ValidationError):
            self.env["discuss.channel"].create({"name": "x", "channel_type": "group",
                                                "seitech_chat_type": "support"})
        with self.assertRaises(ValidationError):
            self.env["discuss.channel"].create({"name": "x", "channel_type": "group",
                                                "seitech_chat_type": "group", "seitech_state": "queued"})

    def test_take_end_and_reply_from_back_office(self):
        self.ingest(self.support_conv())
        channel = self.channel().with_user(self.agent)
        channel.action_seitech_take()
        self.assertEqual(channel.assigned_agent_id, self.agent)
        self.assertEqual(channel.seitech_state, "active")
        with self.assertRaises(UserError):
            channel.action_seitech_take()
        channel.seitech_reply_draft = "  Hello there  "
        channel.action_seitech_send_reply()
        msg = self.env["seitech.chat.message"].search([("channel_id", "=", channel.id), ("origin", "=", "odoo")])
        self.assertEqual(msg.body, "Hello there")
        self.assertFalse(channel.seitech_reply_draft)
        with self.assertRaises(UserError):
            channel.action_seitech_send_reply()
        channel.action_seitech_end()
        self.assertEqual(channel.seitech_state, "ended")
        with self.assertRaises(UserError):
            channel.seitech_post_agent_message("too late")

    def test_other_agent_cannot_answer(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        with self.assertRaises(UserError):
            self.channel().with_user(self.agent2).sudo().seitech_post_agent_message("hi")

    def test_message_wire_shape_and_constraints(self):
        self.ingest(self.support_conv(), self.message("m1"))
        msg = self.env["seitech.chat.message"].search([("uuid", "=", "m1")])
        wire = msg._seitech_wire()
        self.assertEqual(wire["id"], "m1")
        self.assertEqual(wire["roomId"], "c-1")
        self.assertEqual(wire["authorId"], "guest_1_a")
        self.assertEqual(wire["createdAt"], "2026-11-24T10:00:00.000Z")
        self.assertEqual(json.loads(msg.attachments_json), [])
        with self.assertRaises(ValidationError):
            msg.body = "x" * 4001
        other = self.env["seitech.chat.message"].create({"channel_id": self.env["discuss.channel"].create(
            {"name": "g", "channel_type": "group", "seitech_chat_type": "group"}).id, "body": "b"})
        with self.assertRaises(ValidationError):
            other.parent_id = msg

    def test_role_helpers(self):
        self.assertEqual(self.student._seitech_chat_role(), "student")
        self.assertEqual(self.env.ref("base.public_user")._seitech_chat_role(), "public")
        self.assertEqual(self.agent._seitech_chat_identity()["department"], "support")
