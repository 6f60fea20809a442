# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from odoo import fields, models


class SeitechChatOp(models.Model):
    """Log of ingest uuids already applied: what makes ingest idempotent for
    kinds that create no record of their own (read, edit, end, ...)."""

    _name = "seitech.chat.op"
    _description = "Seitech Chat applied gateway operation"
    _log_access = False

    uuid = fields.Char(required=True, index=True)
    kind = fields.Char(required=True)
    applied_at = fields.Datetime(required=True, default=fields.Datetime.now)

    _sql_constraints = [
        ("uuid_unique", "unique(uuid)", "An operation is applied once."),
    ]
