# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
import datetime as dt
import json
import logging
import time

import requests

from odoo import SUPERUSER_ID, api, fields, models

from ..lib import pushes, signing
from ..lib.constants import API_VERSION, SIGNATURE_HEADER, TIMESTAMP_HEADER
from ..lib.ids import iso_utc, uuid7

_logger = logging.getLogger(__name__)

PUSH_TIMEOUT_SECS = 5
MAX_ATTEMPTS = 48
MAX_BACKOFF = dt.timedelta(hours=1)


def backoff(attempts):
    """Delay before attempt ``attempts + 1``: 1 min * 2^attempts, <= 1 h."""
    return min(dt.timedelta(minutes=1) * (2 ** min(attempts, 10)), MAX_BACKOFF)


def _deliver_after_commit(registry, push_id):
    """Send one push once the transaction that queued it has committed.

    The request's cursor is committed (and may be closed) by now: work in a
    fresh one so the delivery state is saved on its own. It runs as
    superuser whoever made the change: the outbox is a technical table only
    managers may read, and an agent's Send / Take / End must reach the
    gateway at once too. Nothing raised here may reach the user, whose data
    is already committed (an error would make them click again): it is
    logged, and the cron retries the row.
    """
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["seitech.chat.push"].browse(push_id).exists()._send()
    except Exception:  # noqa: BLE001 -- see the docstring; the cron retries
        _logger.exception("push %s: delivery after commit failed; the cron retries it", push_id)


class SeitechChatPush(models.Model):
    """Outbox of Odoo -> gateway events (docs/odoo-gateway-api.md section 6).

    A row is written in the same transaction as the change it reports, so
    a rolled-back change is never announced; it is sent after commit and,
    when the gateway is unreachable, by the cron.
    """

    _name = "seitech.chat.push"
    _description = "Seitech Chat event pushed to the gateway"
    _order = "id"

    events_json = fields.Text(required=True, readonly=True)
    event_types = fields.Char(readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("sent", "Sent"), ("failed", "Failed")],
        default="pending", required=True, index=True,
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(default=fields.Datetime.now, index=True)
    last_error = fields.Char(readonly=True)
    sent_at = fields.Datetime(readonly=True)

    @api.model
    def _enqueue(self, typed_events):
        """Queue ``[(type, data), ...]`` as one push, sent after commit."""
        if not typed_events:
            return self.browse()
        now = iso_utc(fields.Datetime.now())
        events = [{"id": uuid7(), "type": etype, "occurred_at": now, "data": data}
                  for etype, data in typed_events]
        push = self.create({
            "events_json": json.dumps(events),
            "event_types": ",".join(sorted({e["type"] for e in events})),
        })
        dbname, push_id = self.env.cr.dbname, push.id

        registry = self.env.registry

        def _send_after_commit():
            _deliver_after_commit(registry, push_id)

        if not self.env.context.get("seitech_push_no_postcommit"):
            self.env.cr.postcommit.add(_send_after_commit)
        _logger.debug("queued push %s in %s", push_id, dbname)
        return push

    def _config(self):
        params = self.env["ir.config_parameter"].sudo()
        return (params.get_param("seitech_chat.gateway_url") or "").rstrip("/"), \
            params.get_param("seitech_chat.push_secret") or ""

    def _body(self):
        self.ensure_one()
        events = json.loads(self.events_json)
        return json.dumps({"version": API_VERSION, "events": events},
                          separators=(",", ":")).encode()

    def _send(self):
        url, secret = self._config()
        if not url or not secret:
            # Not configured yet: keep rows pending; the cron delivers them
            # once an operator sets the gateway URL.
            return
        for push in self.filtered(lambda p: p.state == "pending"):
            body = push._body()
            ts = int(time.time())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signing.sign(secret, ts, body),
                TIMESTAMP_HEADER: str(ts),
            }
            error, state = None, "sent"
            try:
                resp = requests.post(url + "/internal/odoo/events", data=body,
                                     headers=headers, timeout=PUSH_TIMEOUT_SECS)
                state = pushes.delivery_state(resp.status_code)
                if state != "sent":
                    error = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                error, state = type(exc).__name__, "pending"
            push._record_attempt(error, final=state == "failed")

    def _record_attempt(self, error, final=False):
        """Record one delivery attempt: ``error`` None means delivered;
        ``final`` means the gateway refused the push for good (it is parked
        at once, see lib/pushes.py); otherwise it is retried with backoff
        until MAX_ATTEMPTS."""
        self.ensure_one()
        now = fields.Datetime.now()
        attempts = self.attempts + 1
        if error is None:
            self.write({"state": "sent", "attempts": attempts, "sent_at": now,
                        "last_error": False})
            return
        _logger.warning("push %s to the gateway failed: %s", self.id, error)
        self.write({
            "state": "failed" if final or attempts >= MAX_ATTEMPTS else "pending",
            "attempts": attempts,
            "last_error": error[:200],
            "next_attempt_at": now + backoff(attempts),
        })

    @api.model
    def _cron_retry(self, limit=200):
        due = self.search([("state", "=", "pending"),
                           ("next_attempt_at", "<=", fields.Datetime.now())],
                          order="id", limit=limit)
        due._send()
        return len(due)

    def action_retry_now(self):
        self.filtered(lambda p: p.state != "sent").write(
            {"state": "pending", "next_attempt_at": fields.Datetime.now()})
        self._send()
