# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import time

from odoo.tests import HttpCase, new_test_user, tagged

from ..lib import jwt_hs256


@tagged("post_install", "-at_install")
class TestToken(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.secret = "jwt-secret-for-tests-only-0123456789abcdef"
        cls.env["ir.config_parameter"].sudo().set_param("seitech_chat.jwt_secret", cls.secret)
        cls.instructor = new_test_user(cls.env, "tok-ian", groups="base.group_user", password="tok-ian-pass1")
        cls.env["slide.channel"].create({"name": "Token course", "user_id": cls.instructor.id})
        cls.agent = new_test_user(cls.env, "tok-sam", password="tok-sam-pass1",
                                  groups="base.group_user,seitech_chat.group_chat_agent")
        cls.env["seitech.chat.agent"].create({"user_id": cls.agent.id, "department": "sales"})

    def fetch(self, login, password):
        self.authenticate(login, password)
        resp = self.url_open("/seitech_chat/token")
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(resp.headers["Cache-Control"], "no-store")
        body = resp.json()
        return body, jwt_hs256.decode(body["token"], self.secret)

    def test_instructor_token(self):
        body, claims = self.fetch("tok-ian", "tok-ian-pass1")
        self.assertEqual(claims["sub"], str(self.instructor.id))
        self.assertEqual(claims["role"], "instructor")
        self.assertEqual(claims["partner_id"], self.instructor.partner_id.id)
        self.assertLessEqual(claims["exp"], int(time.time()) + body["expires_in"] + 1)
        self.assertNotIn("department", claims)

    def test_agent_token_carries_department(self):
        _, claims = self.fetch("tok-sam", "tok-sam-pass1")
        self.assertEqual((claims["role"], claims["department"]), ("support-agent", "sales"))

    def test_anonymous_is_redirected_to_login(self):
        resp = self.url_open("/seitech_chat/token", allow_redirects=False)
        self.assertIn(resp.status_code, (302, 303))
        self.assertIn("/web/login", resp.headers["Location"])

    def test_missing_secret_is_503(self):
        self.env["ir.config_parameter"].sudo().set_param("seitech_chat.jwt_secret", "")
        self.authenticate("tok-ian", "tok-ian-pass1")
        self.assertEqual(self.url_open("/seitech_chat/token").status_code, 503)
