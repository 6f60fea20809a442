# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import json
import logging

from odoo import http
from odoo.http import request

from ..lib import jwt_hs256

_logger = logging.getLogger(__name__)

MAX_TTL = 3600


class SeitechChatController(http.Controller):
    @http.route("/seitech_chat/token", type="http", auth="user", methods=["GET"])
    def token(self):
        """A short-lived HS256 JWT for the chat gateway (protocol section 1).

        GET only and no CORS headers: a page on another origin may trigger
        the request with the user's cookie but cannot read the answer.
        """
        user = request.env.user
        params = request.env["ir.config_parameter"].sudo()
        secret = params.get_param("seitech_chat.jwt_secret")
        try:
            ttl = int(params.get_param("seitech_chat.token_ttl", "300"))
        except ValueError:
            ttl = 300
        ttl = min(max(ttl, 30), MAX_TTL)
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        if not secret:
            _logger.error("seitech_chat.jwt_secret is not set; cannot issue chat tokens")
            return request.make_response(
                json.dumps({"error": "chat is not configured"}), headers=headers, status=503)
        identity = user.sudo()._seitech_chat_identity()
        claims = jwt_hs256.build_claims(
            user_id=user.id, name=identity["name"], role=identity["role"],
            partner_id=identity["partner_id"], ttl=ttl,
            department=identity["department"] if identity["role"] == "support-agent" else None,
        )
        token = jwt_hs256.encode(claims, secret)
        return request.make_response(
            json.dumps({"token": token, "expires_in": ttl}), headers=headers)
