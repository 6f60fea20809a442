# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""What a run on a real Odoo 17 found: Discuss's member rule on chats, the
post-commit push of non-managers, Discuss's bus broadcast of written fields,
RPC-writable fields, enrolment and course rules, mails, LIKE wildcards,
per-user queries, and the dead letters' back office."""

import json
from unittest import mock

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import ChatCase, T

POST = "odoo.addons.seitech_chat.models.seitech_chat_push.requests.post"


@tagged("post_install", "-at_install")
class TestOdoo17(ChatCase):
    def setUp(self):
        super().setUp()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("seitech_chat.gateway_url", "http://gateway.test")
        params.set_param("seitech_chat.push_secret", "push-secret-for-tests")
        self.Push = self.env["seitech.chat.push"].sudo()
        self.Push.search([]).write({"state": "sent"})

    def conv(self, cid, chat_type, participants, uuid=None, **kw):
        item = {"kind": "conversation", "uuid": uuid or f"op-{cid}", "conversation_id": cid,
                "type": chat_type, "participant_ids": [str(u.id) for u in participants],
                "status": "active", "created_at": T}
        item.update(kw)
        return item

    # -- item 1: direct and group conversations through ingest ---------------
    def test_direct_conversation_is_a_two_member_chat(self):
        res = self.ingest(self.conv("d-1", "direct", self.student | self.instructor),
                          self.message("m1", cid="d-1", author_id=str(self.student.id)))
        self.assertEqual([r["status"] for r in res], ["ok", "ok"], res)
        channel = self.channel("d-1")
        self.assertEqual(channel.channel_type, "chat")
        self.assertEqual(channel.channel_member_ids.partner_id,
                         (self.student | self.instructor).partner_id,
                         "the two people only, not the gateway's user")
        self.assertFalse(channel.message_ids.filtered(lambda m: m.message_type == "notification"),
                         "no joined/invited messages")
        # The same item again (a retry) and the same two people updated.
        res = self.ingest(self.conv("d-1", "direct", self.student | self.instructor, uuid="op-again"))
        self.assertEqual(res[0]["status"], "ok", res)
        self.assertEqual(len(channel.channel_member_ids), 2)

    def test_direct_conversation_refuses_a_third_person(self):
        self.ingest(self.conv("d-1", "direct", self.student | self.instructor))
        res = self.ingest(self.conv("d-1", "direct", self.student | self.plain, uuid="op-3"))
        self.assertEqual((res[0]["status"], res[0]["code"]), ("rejected", "conflict"))
        res = self.ingest(self.conv("d-2", "direct", self.student | self.instructor | self.plain))
        self.assertEqual((res[0]["status"], res[0]["code"]), ("rejected", "invalid"))
        self.assertFalse(self.channel("d-2"))

    def test_direct_conversation_reuses_the_discuss_chat_of_the_same_two(self):
        existing = self.env["discuss.channel"].with_user(self.instructor).channel_get(
            [self.plain.partner_id.id])
        self.ingest(self.conv("d-1", "direct", self.instructor | self.plain))
        self.assertEqual(self.channel("d-1"), existing)
        self.ingest(self.conv("d-2", "direct", self.instructor | self.plain))
        self.assertNotEqual(self.channel("d-2"), existing,
                            "a chat that is already a gateway conversation is not taken over")
        self.assertEqual(len(self.channel("d-2").channel_member_ids), 2)

    def test_group_conversation_members_without_discuss_messages(self):
        res = self.ingest(self.conv("g-1", "group", self.student | self.instructor, name="Study"),
                          self.conv("g-1", "group", self.student | self.instructor | self.plain,
                                    uuid="op-g2", name="Study"))
        self.assertEqual([r["status"] for r in res], ["ok", "ok"], res)
        channel = self.channel("g-1")
        self.assertEqual(channel.channel_type, "group")
        self.assertEqual(channel.channel_member_ids.partner_id,
                         (self.student | self.instructor | self.plain).partner_id)
        self.assertFalse(channel.message_ids.filtered(lambda m: m.message_type == "notification"))

    # -- item 2: post-commit push as a non-manager ----------------------------
    def test_agent_actions_reach_the_gateway_after_commit(self):
        self.ingest(self.support_conv())
        channel = self.channel().with_user(self.agent)
        self.env.cr.postcommit.clear()
        channel.action_seitech_take()
        self.assertEqual(channel.sudo().channel_member_ids.partner_id, self.agent.partner_id)
        self.assertFalse(channel.sudo().message_ids.filtered(lambda m: m.message_type == "notification"),
                         "no Discuss 'invited' message when the agent becomes the member")
        channel.seitech_reply_draft = "On it"
        channel.action_seitech_send_reply()
        channel.action_seitech_end()
        self.agent.with_user(self.agent).name = "Sam A."
        callbacks = [f for f in self.env.cr.postcommit._funcs if f.__name__ == "_send_after_commit"]
        self.assertEqual(len(callbacks), 4)
        self.env.flush_all()
        # What happens after the commit: the callbacks run on a new cursor
        # (the test's own in test mode), as whoever made the change.
        self.registry.enter_test_mode(self.cr)
        try:
            with mock.patch(POST) as post:
                post.return_value.status_code = 200
                for callback in callbacks:
                    callback()
        finally:
            self.registry.leave_test_mode()
        sent = [json.loads(c.kwargs["data"])["events"][0] for c in post.call_args_list]
        self.assertEqual([e["type"] for e in sent], ["conversation", "message", "conversation", "user"])
        self.assertEqual(sent[2]["data"]["status"], "ended")

    def test_after_commit_failure_is_logged_not_raised(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        self.env.cr.postcommit.clear()
        self.channel().with_user(self.agent).seitech_post_agent_message("Hi")
        (callback,) = [f for f in self.env.cr.postcommit._funcs if f.__name__ == "_send_after_commit"]
        self.env.flush_all()
        self.registry.enter_test_mode(self.cr)
        try:
            with mock.patch(POST, side_effect=RuntimeError("boom")), \
                    self.assertLogs("odoo.addons.seitech_chat.models.seitech_chat_push", "ERROR"):
                callback()
        finally:
            self.registry.leave_test_mode()

    def test_a_late_echo_does_not_reopen_a_chat_ended_in_the_back_office(self):
        # Seen on a real Odoo: the gateway's "active" state (queued when the
        # agent's reply made them a participant) arrives after the agent's End.
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        self.channel().with_user(self.agent).action_seitech_end()
        res = self.ingest(self.support_conv(uuid="op-echo", status="active", assigned_agent_id=self.agent.id))
        self.assertEqual(res[0]["status"], "ok", res)
        self.assertEqual(self.channel().seitech_state, "ended")
        self.assertFalse(self.env["seitech.chat.dead.letter"].search([("uuid", "=", "op-echo")]))

    # -- item 3: review -------------------------------------------------------
    def test_invited_or_archived_enrolments_and_archived_courses_do_not_count(self):
        guest = new_test_user(self.env, "gina", groups="base.group_portal", name="Gina")
        self.env["slide.channel.partner"].create({"channel_id": self.course.id,
                                                  "partner_id": guest.partner_id.id,
                                                  "member_status": "invited"})
        self.assertEqual(self.api.whois([guest.id])["users"][0]["role"], "public")
        teacher = new_test_user(self.env, "tom", groups="base.group_user", name="Tom")
        self.env["slide.channel"].create({"name": "Old", "user_id": teacher.id, "active": False})
        self.assertEqual(self.api.whois([teacher.id])["users"][0]["role"], "public")
        self.course.active = False
        self.assertEqual(self.api.whois([self.student.id])["users"][0]["role"], "public")

    def test_chat_fields_are_not_broadcast_on_the_bus(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        channel = self.channel().with_user(self.agent)
        channel.seitech_reply_draft = "draft-that-stays-private"
        self.env.flush_all()
        self.assertFalse(self.env["bus.bus"].sudo().search(
            [("message", "ilike", "draft-that-stays-private")]))
        self.assertFalse(self.env["bus.bus"].sudo().search([("message", "ilike", "vi@example.org")]))

    def test_agents_cannot_write_gateway_fields_over_rpc(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        channel = self.channel().with_user(self.agent)
        for vals in ({"seitech_state": "ended"}, {"seitech_chat_type": "group"},
                     {"satisfaction_rating": 5}, {"seitech_uuid": "x"}):
            with self.assertRaises(AccessError):
                channel.write(vals)
        self.assertEqual(self.channel().seitech_state, "active")

    def test_only_the_agent_or_a_manager_ends_a_gateway_chat(self):
        self.ingest(self.conv("g-1", "group", self.instructor | self.plain),
                    self.support_conv(status="active", assigned_agent_id=self.agent.id))
        with self.assertRaises(UserError):
            self.channel("g-1").with_user(self.plain).action_seitech_end()
        with self.assertRaises(UserError):
            self.channel().with_user(self.agent2).action_seitech_end()
        self.assertEqual(self.channel().seitech_state, "active")
        self.channel().with_user(self.manager).action_seitech_end()
        self.assertEqual(self.channel().seitech_state, "ended")

    def test_mails_have_a_sender(self):
        # The company's address (a database without demo data has none:
        # then Odoo's default From, mail.default.from @ the alias domain).
        self.env.company.email = "chat@seitech.example"
        self.ingest(self.support_conv())
        self.api.send_transcript("c-1")
        self.api.notify_offline(self.student.id, "c-1", "hi")
        mails = self.env["mail.mail"].search([("email_to", "in", ["vi@example.org", "ada@example.org"])])
        self.assertEqual(len(mails), 2)
        self.assertEqual(set(mails.mapped("email_from")), {self.env.company.email_formatted})

    def test_notify_throttle_matches_the_conversation_literally(self):
        self.ingest(self.support_conv("c_1", "op-a"), self.support_conv("cx1", "op-b"))
        self.assertEqual(self.api.notify_offline(self.student.id, "c_1", "hi"), {"queued": True})
        self.assertEqual(self.api.notify_offline(self.student.id, "cx1", "hi"), {"queued": True})

    def test_directory_search_queries_do_not_grow_with_users(self):
        def count():
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.api.directory_search(self.student.id, "", limit=100)
            return self.env.cr.sql_log_count - before

        for i in range(3):
            new_test_user(self.env, f"few{i}", groups="base.group_user", name=f"Few {i}")
        few = count()
        for i in range(30):
            new_test_user(self.env, f"many{i}", groups="base.group_user", name=f"Many {i}")
        self.assertEqual(count(), few)

    # -- item 4: dead letters in the back office --------------------------------
    def test_refused_items_are_listed_and_retried(self):
        res = self.ingest(self.message("m1", cid="nope"))
        self.assertEqual(res[0]["code"], "unknown_conversation")
        letter = self.env["seitech.chat.dead.letter"].search([("uuid", "=", "m1")])
        self.assertEqual((letter.code, letter.kind, letter.conversation_id, letter.state),
                         ("unknown_conversation", "message", "nope", "parked"))
        with self.assertRaises(AccessError):
            letter.with_user(self.agent).read(["reason"])
        letter.with_user(self.manager).action_retry()
        self.assertEqual(letter.state, "retrying")
        (push,) = self.Push.search([("event_types", "=", "retry")])
        self.assertEqual(json.loads(push.events_json)[0]["data"], {"uuids": ["m1"]})
        self.ingest(self.support_conv("nope", "op-nope"), self.message("m1", cid="nope"))
        self.assertEqual(letter.state, "resolved")
        with self.assertRaises(UserError):
            letter.with_user(self.manager).action_retry()
