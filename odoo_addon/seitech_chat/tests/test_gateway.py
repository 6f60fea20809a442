# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import ChatCase, T


@tagged("post_install", "-at_install")
class TestGatewayApi(ChatCase):
    def test_only_gateway_group_may_call(self):
        with self.assertRaises(AccessError):
            self.env["seitech.chat.gateway"].with_user(self.plain).api_version()
        self.assertEqual(self.api.api_version()["version"], 1)

    def test_whois_roles(self):
        res = self.api.whois([self.student.id, str(self.instructor.id), self.agent.id, self.admin.id,
                              self.plain.id, 999999])
        roles = {u["id"]: u["role"] for u in res["users"]}
        self.assertEqual(roles[str(self.student.id)], "student")
        self.assertEqual(roles[str(self.instructor.id)], "instructor")
        self.assertEqual(roles[str(self.agent.id)], "support-agent")
        self.assertEqual(roles[str(self.admin.id)], "admin")
        self.assertEqual(roles[str(self.plain.id)], "public")
        self.assertEqual(res["missing"], ["999999"])
        ada = next(u for u in res["users"] if u["id"] == str(self.student.id))
        self.assertEqual(ada["courses"], [{"id": str(self.course.id), "name": "Python 101", "as": "student"}])
        with self.assertRaises(ValidationError):
            self.api.whois(["1 or 1=1"])

    def test_directory_search_routing(self):
        found = {u["name"] for u in self.api.directory_search(self.student.id, "")["users"]}
        self.assertIn("Ian Instructor", found)
        self.assertNotIn("Oscar", found)
        self.assertIn("Sam Agent", found)
        self.assertNotIn("Paul Plain", found)
        found = {u["name"] for u in self.api.directory_search(self.instructor.id, "")["users"]}
        self.assertIn("Root", found)
        self.assertNotIn("Ada Student", found)
        self.assertEqual(self.api.directory_search(self.plain.id, "")["users"], [])
        with self.assertRaises(ValidationError):
            self.api.directory_search(self.student.id, "", limit=0)

    def test_agents_with_load(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent2.id))
        agents = {a["user_id"]: a for a in self.api.agents()["agents"]}
        self.assertEqual(agents[str(self.agent2.id)]["current_chat_count"], 1)
        self.assertEqual(agents[str(self.agent.id)]["current_chat_count"], 0)
        self.assertEqual(agents[str(self.agent2.id)]["max_concurrent_chats"], 2)

    def test_ingest_idempotent_and_per_item_results(self):
        batch = [self.support_conv(), self.message("m1"), self.message("m1"),
                 self.message("m2", cid="nope"), "garbage"]
        res = self.api.ingest(batch)["results"]
        self.assertEqual([r["status"] for r in res], ["ok", "ok", "duplicate", "rejected", "rejected"])
        self.assertEqual(res[3]["code"], "unknown_conversation")
        again = self.api.ingest(batch)["results"]
        self.assertEqual([r["status"] for r in again][:3], ["duplicate"] * 3)
        self.assertEqual(self.env["seitech.chat.message"].search_count(
            [("channel_id", "=", self.channel().id)]), 1)
        channel = self.channel()
        self.assertEqual(channel.seitech_chat_type, "support")
        self.assertEqual(channel.channel_type, "group")
        self.assertEqual(channel.seitech_department, "billing")
        self.assertEqual(channel.visitor_guest_id, "guest_1_a")

    def test_ingest_rejected_item_leaves_its_neighbours_applied(self):
        res = self.ingest(self.support_conv(), self.message("m1", content="x" * 4001), self.message("m2"))
        self.assertEqual([r["status"] for r in res], ["ok", "rejected", "ok"])

    def test_ingest_state_rules(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id), self.message("m1"))
        res = self.ingest(
            {"kind": "rating", "uuid": "r0", "conversation_id": "c-1", "rating": 5},
            {"kind": "read", "uuid": "rd", "conversation_id": "c-1", "message_id": "m1",
             "user_id": self.agent.id, "read_at": T},
            {"kind": "reaction", "uuid": "re", "message_id": "m1", "user_id": self.agent.id, "emoji": "👍",
             "added": True},
            {"kind": "delete", "uuid": "d1", "message_id": "m1", "deleted_at": T},
            {"kind": "edit", "uuid": "e1", "message_id": "m1", "content": "x", "edited_at": T},
            {"kind": "end", "uuid": "end", "conversation_id": "c-1", "ended_at": T},
            {"kind": "rating", "uuid": "r1", "conversation_id": "c-1", "rating": 4, "comment": "ok"},
        )
        self.assertEqual([(r["status"], r.get("code")) for r in res], [
            ("rejected", "conflict"), ("ok", None), ("ok", None), ("ok", None), ("rejected", "conflict"),
            ("ok", None), ("ok", None)])
        msg = self.env["seitech.chat.message"].search([("uuid", "=", "m1")])
        self.assertTrue(msg.is_deleted)
        self.assertIn(self.agent, msg.read_by_ids)
        self.assertEqual(self.channel().seitech_state, "ended")
        self.assertEqual(self.channel().satisfaction_rating, 4)

    def test_ingest_batch_limit(self):
        with self.assertRaises(ValidationError):
            self.api.ingest([self.message(f"m{i}") for i in range(501)])
        with self.assertRaises(ValidationError):
            self.api.ingest({"kind": "message"})

    def test_support_membership_follows_assignment(self):
        self.ingest(self.support_conv(status="active", assigned_agent_id=self.agent.id))
        self.assertEqual(self.channel().channel_member_ids.partner_id, self.agent.partner_id)
        self.ingest(self.support_conv(uuid="op-2", status="active", assigned_agent_id=self.agent2.id))
        self.assertEqual(self.channel().channel_member_ids.partner_id, self.agent2.partner_id)

    def test_send_transcript(self):
        self.ingest(self.support_conv(), self.message("m1"))
        res = self.api.send_transcript("c-1")
        self.assertEqual(res, {"queued": True, "email": "vi@example.org"})
        mail = self.env["mail.mail"].search([("email_to", "=", "vi@example.org")])
        self.assertIn("text m1", mail.body_html)
        with self.assertRaises(ValidationError):
            self.api.send_transcript("c-1", "not-an-email")
        with self.assertRaises(ValidationError):
            self.api.send_transcript("nope")

    def test_notify_offline_throttled(self):
        self.ingest(self.support_conv())
        self.assertEqual(self.api.notify_offline(self.student.id, "c-1", "hi"), {"queued": True})
        self.assertEqual(self.api.notify_offline(self.student.id, "c-1", "hi"),
                         {"queued": False, "reason": "throttled"})
        with self.assertRaises(ValidationError):
            self.api.notify_offline(999999, "c-1", "hi")
