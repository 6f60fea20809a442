# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import json
from unittest import mock

import requests

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from ..lib import signing
from ..models.seitech_chat_push import MAX_ATTEMPTS, backoff
from .common import ChatCase

POST = "odoo.addons.seitech_chat.models.seitech_chat_push.requests.post"


@tagged("post_install", "-at_install")
class TestPush(ChatCase):
    def setUp(self):
        super().setUp()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("seitech_chat.gateway_url", "http://gateway.test")
        params.set_param("seitech_chat.push_secret", "push-secret-for-tests")
        self.Push = self.env["seitech.chat.push"].sudo()
        # The set-up's users and agents queued pushes of their own (11 on a
        # real Odoo): every test looks only at what it queues itself.
        self.Push.search([]).write({"state": "sent"})
        self.first_push_id = (self.Push.search([], order="id desc", limit=1).id or 0) + 1

    def agent_reply(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        self.channel().with_user(self.agent).seitech_post_agent_message("Fixed")
        return self.Push.search([("event_types", "=", "message")], order="id desc", limit=1)

    def test_agent_reply_queues_a_message_event(self):
        push = self.agent_reply()
        event = json.loads(push.events_json)[0]
        self.assertEqual(event["type"], "message")
        self.assertEqual(event["data"]["conversation_id"], "c-1")
        self.assertEqual(event["data"]["message"]["content"], "Fixed")
        self.assertEqual(event["data"]["message"]["authorId"], str(self.agent.id))

    def test_gateway_messages_are_not_pushed_back(self):
        self.ingest(self.support_conv(), self.message("m1"))
        self.assertFalse(self.new_pushes("message"))

    def test_send_signs_the_raw_body(self):
        push = self.agent_reply()
        with mock.patch(POST) as post:
            post.return_value.status_code = 200
            push._send()
        (url,), kwargs = post.call_args
        self.assertEqual(url, "http://gateway.test/internal/odoo/events")
        headers = kwargs["headers"]
        signing.verify("push-secret-for-tests", headers["X-Seitech-Signature"],
                       headers["X-Seitech-Timestamp"], kwargs["data"])
        self.assertEqual(json.loads(kwargs["data"])["version"], 1)
        self.assertEqual(push.state, "sent")

    def test_failures_back_off_then_fail(self):
        push = self.agent_reply()
        with mock.patch(POST, side_effect=requests.ConnectionError("down")):
            push._send()
        self.assertEqual((push.state, push.attempts, push.last_error), ("pending", 1, "ConnectionError"))
        self.assertGreater(push.next_attempt_at, fields.Datetime.now())
        with mock.patch(POST) as post:
            post.return_value.status_code = 401
            self.assertEqual(self.Push._cron_retry(), 0)  # not due yet
            post.assert_not_called()
            self.assertEqual(push.attempts, 1)
            push.next_attempt_at = fields.Datetime.now()
            self.assertEqual(self.Push._cron_retry(), 1)
            post.assert_called_once()
        self.assertEqual((push.state, push.attempts, push.last_error), ("pending", 2, "HTTP 401"))
        push.attempts = MAX_ATTEMPTS - 1
        with mock.patch(POST, side_effect=requests.Timeout()):
            push._send()
        self.assertEqual(push.state, "failed")

    def test_a_push_the_gateway_cannot_read_is_parked_at_once(self):
        push = self.agent_reply()
        with mock.patch(POST) as post:
            post.return_value.status_code = 503  # its store failed: later
            push._send()
        self.assertEqual((push.state, push.attempts, push.last_error), ("pending", 1, "HTTP 503"))
        push.next_attempt_at = fields.Datetime.now()
        with mock.patch(POST) as post:
            post.return_value.status_code = 400  # never, as it is
            self.assertEqual(self.Push._cron_retry(), 1)
        self.assertEqual((push.state, push.attempts, push.last_error), ("failed", 2, "HTTP 400"))

    def test_unconfigured_gateway_keeps_rows_pending(self):
        self.env["ir.config_parameter"].sudo().set_param("seitech_chat.gateway_url", "")
        push = self.agent_reply()
        with mock.patch(POST) as post:
            push._send()
        post.assert_not_called()
        self.assertEqual(push.state, "pending")

    def test_backoff_is_capped(self):
        self.assertEqual(backoff(0).total_seconds(), 60)
        self.assertEqual(backoff(3).total_seconds(), 480)
        self.assertEqual(backoff(40).total_seconds(), 3600)

    def new_pushes(self, event_type):
        return self.Push.search([("id", ">=", self.first_push_id), ("event_types", "=", event_type)])

    def test_agent_and_user_changes_are_pushed(self):
        self.assertFalse(self.new_pushes("agent"))
        self.agent_rec.max_concurrent_chats = 3
        (push,) = self.new_pushes("agent")
        self.assertEqual(json.loads(push.events_json)[0]["data"]["max_concurrent_chats"], 3)
        self.assertFalse(self.new_pushes("user"))
        self.plain.write({"groups_id": [(4, self.env.ref("seitech_chat.group_chat_agent").id)]})
        (push,) = self.new_pushes("user")
        self.assertEqual(json.loads(push.events_json)[0]["data"], {"user_id": str(self.plain.id)})

    def conversation_pushes(self):
        return [json.loads(p.events_json)[0]["data"]
                for p in self.new_pushes("conversation").sorted("id")]

    def test_manager_reassignment_is_pushed_once(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        channel = self.channel().with_user(self.manager)
        channel.write({"assigned_agent_id": self.agent2.id})
        self.assertEqual(self.conversation_pushes(), [
            {"conversation_id": "c-1", "status": "active", "assigned_agent_id": str(self.agent2.id)}])
        self.assertEqual(channel.sudo().channel_member_ids.partner_id, self.agent2.partner_id,
                         "the new agent is the only member")
        channel.write({"assigned_agent_id": self.agent2.id})
        self.assertEqual(len(self.conversation_pushes()), 1, "the same agent again pushes nothing")

    def test_taking_a_queued_chat_is_pushed_once(self):
        self.ingest(self.support_conv())
        self.channel().with_user(self.agent).action_seitech_take()
        self.assertEqual(self.conversation_pushes(), [
            {"conversation_id": "c-1", "status": "active", "assigned_agent_id": str(self.agent.id)}])

    def test_gateway_assignments_are_not_pushed_back(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id),
                    self.support_conv(uuid="op-2", status="active", assigned_agent_id=self.agent2.id))
        self.assertEqual(self.channel().assigned_agent_id, self.agent2)
        self.assertEqual(self.conversation_pushes(), [])

    def test_an_active_chat_cannot_lose_its_agent(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        with self.assertRaises(UserError):
            self.channel().with_user(self.manager).write({"assigned_agent_id": False})
        self.assertEqual(self.conversation_pushes(), [])

    def test_install_generated_secrets(self):
        params = self.env["ir.config_parameter"].sudo()
        self.assertEqual(len(params.get_param("seitech_chat.jwt_secret") or ""), 64)
