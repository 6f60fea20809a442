# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import json

from odoo import _, api, fields, models
from odoo.exceptions import UserError

MAX_ITEM_CHARS = 20000


class SeitechChatDeadLetter(models.Model):
    """An ingest item Odoo refused for good: the gateway parked it as a dead
    letter (docs/odoo-gateway-api.md section 4.3). Recorded here by
    ``ingest`` itself so that a manager sees what was refused and why, fixes
    the cause (a missing user, a rule) and asks the gateway to send it again
    (``action_retry``, a ``retry`` push); the row is resolved when the item
    is then accepted."""

    _name = "seitech.chat.dead.letter"
    _description = "Seitech Chat item refused by Odoo (gateway dead letter)"
    _order = "id desc"
    _rec_name = "uuid"

    uuid = fields.Char(required=True, readonly=True, index=True)
    kind = fields.Char(readonly=True)
    conversation_id = fields.Char(readonly=True, index=True)
    code = fields.Char(readonly=True)
    reason = fields.Char(readonly=True)
    item_json = fields.Text("Item", readonly=True)
    refusals = fields.Integer(readonly=True, default=1)
    state = fields.Selection(
        [("parked", "Parked"), ("retrying", "Retry asked"), ("resolved", "Resolved")],
        default="parked", required=True, index=True, readonly=True)

    _sql_constraints = [("uuid_unique", "unique(uuid)", "An item is parked once.")]

    @api.model
    def _record(self, batch, results):
        """Upsert the refused items of one ingest call, resolve the accepted
        ones: two queries whatever the batch size."""
        uuids = [r["uuid"] for r in results if isinstance(r.get("uuid"), str)]
        known = {d.uuid: d for d in self.search([("uuid", "in", uuids)])} if uuids else {}
        new = []
        for raw, result in zip(batch, results, strict=True):
            uuid = result.get("uuid")
            if not isinstance(uuid, str):
                continue
            row = known.get(uuid)
            if result["status"] == "rejected":
                vals = {"code": result.get("code"), "reason": (result.get("reason") or "")[:500],
                        "state": "parked"}
                if row:
                    row.write(dict(vals, refusals=row.refusals + 1))
                elif uuid not in {v["uuid"] for v in new}:
                    item = raw if isinstance(raw, dict) else {}
                    new.append(dict(vals, uuid=uuid, kind=str(item.get("kind") or "")[:32],
                                    conversation_id=str(item.get("conversation_id") or "")[:64] or False,
                                    item_json=json.dumps(item)[:MAX_ITEM_CHARS]))
            elif row and row.state != "resolved":
                row.state = "resolved"
        if new:
            self.create(new)

    def action_retry(self):
        """Ask the gateway to send these items again (after a fix)."""
        todo = self.filtered(lambda d: d.state != "resolved")
        if not todo:
            raise UserError(_("Nothing to retry: these items were accepted since."))
        todo.write({"state": "retrying"})
        self.env["seitech.chat.push"].sudo()._enqueue([("retry", {"uuids": todo.mapped("uuid")})])
