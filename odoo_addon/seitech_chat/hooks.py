# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import secrets

# Generated per database at install so that no secret ever lives in the
# repository or in a data file; an operator copies them to the gateway.
SECRET_PARAMS = ("seitech_chat.jwt_secret", "seitech_chat.push_secret")
# The gateway URL has no default: Odoo drops empty parameters, and pushes
# simply wait (pending) until an operator sets seitech_chat.gateway_url.
DEFAULT_PARAMS = {"seitech_chat.token_ttl": "300"}


def post_init_hook(env):
    params = env["ir.config_parameter"].sudo()
    for key in SECRET_PARAMS:
        if not params.get_param(key):
            params.set_param(key, secrets.token_hex(32))
    for key, value in DEFAULT_PARAMS.items():
        if params.get_param(key) is False:
            params.set_param(key, value)
