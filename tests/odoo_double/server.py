#!/usr/bin/env python3
"""odoo-double: a TEST DOUBLE of Odoo 17 for the seitech-chat gateway's tests.

This is NOT Odoo. It is a small stdlib HTTP server that answers the few
Odoo routes the gateway uses, with Odoo 17's envelopes and error shapes,
and keeps records in memory.

Covered:
  POST /jsonrpc  service "common": version, authenticate, login
                 service "object": execute_kw on model seitech.chat.gateway
                 only (methods of docs/odoo-gateway-api.md). Other models
                 answer Odoo's "Object X doesn't exist" error.
  POST /web/session/authenticate     (JSON-RPC "call"; sets session_id cookie)
  POST /web/session/get_session_info (cookie session_id -> user; error 100)
  Pushes Odoo -> gateway: POST {gateway}/internal/odoo/events, signed with
  X-Seitech-Signature / X-Seitech-Timestamp exactly as the addon signs them.
The behaviour of the gateway API (role mapping, routing policy, ingest
validation and idempotency rules) is the addon's own code, imported from
odoo_addon/seitech_chat/lib, not a rewrite.

Not covered: the ORM, ir.model.access and record rules (only the addon's
own check that the caller is in Chat Gateway or Settings is reproduced), real mail sending (mails are
recorded), the bus/longpolling, the web client, any other model or route,
multi-database setups beyond one db name.

Control (never faulted):
  POST /__double__/faults   merge fault switches, {"reset": true} clears:
        down (bool)            close the connection without an answer
        http_status (int)      answer every Odoo route with this status (e.g. 502)
        fail_next (int)        the next N Odoo calls answer 502, then normal
        delay_ms (int)         wait before answering Odoo routes
        access_denied (bool)   execute_kw raises odoo.exceptions.AccessDenied
        session_expired (bool) get_session_info answers code 100
        reject_uuids ({uuid: reason} or [uuid])  those ingest items are
                               rejected as an ORM ValidationError would make them
        none_methods ([name])  those gateway API methods still run but answer
                               as a method returning None: no "result" key
  GET  /__double__/faults     current switches
  GET  /__double__/records    conversations, messages, ops, mails, pushes, calls
  POST /__double__/reset      forget records and faults (seed kept)
  POST /__double__/agent_reply {conversation_id, author_id, content,
        parent_id?, gateway_url?, secret?, forge?}  an agent answers from
        the back office: store the message, push it signed, report the result
  POST /__double__/reassign   {conversation_id, agent_id (int or null),
        gateway_url?, secret?}  a manager gives a support chat to another
        agent in the back office: update it as the addon does and push the
        same signed "conversation" event ({"changed": false} and no push
        when the agent is unchanged; 400 for what the addon refuses)
  POST /__double__/push       {events: [...], gateway_url?, secret?, forge?}
  POST /__double__/retry_pushes  what the addon's cron does: resend pending
  POST /__double__/take       {conversation_id, user_id, gateway_url?, secret?}
        an agent takes a queued support chat (action_seitech_take)
  POST /__double__/end        {conversation_id, user_id, gateway_url?, secret?}
        the assigned agent or a manager ends a chat (action_seitech_end);
        agent_reply, take and end refuse (400) whom the addon refuses
  POST /__double__/retry_dead_letters {uuids?, gateway_url?, secret?}  a
        manager's Retry on refused items: a signed "retry" push
  POST /web/webclient/version_info  Odoo's type="json" route (POST only)

Run: python3 tests/odoo_double/server.py --port 0 --seed FILE
     [--gateway-url URL] [--push-secret-env VAR]
Prints "odoo-double listening on http://127.0.0.1:PORT" on stdout once ready.
"""

import argparse
import datetime as dt
import http.cookies
import json
import os
import pathlib
import secrets
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import addon_lib  # noqa: E402
from gateway_api import GatewayApi, MemoryStore, OdooError, iso, uuid7  # noqa: E402

C = addon_lib.sub("constants")
pushes = addon_lib.sub("pushes")
signing = addon_lib.sub("signing")

GATEWAY_MODEL = "seitech.chat.gateway"
SERVER_VERSION_INFO = [17, 0, 0, "final", 0, ""]
VERSION_INFO = "/web/webclient/version_info"
MAX_BODY = 16 * 1024 * 1024
MAX_DELAY_MS = 120_000
FAULT_KEYS = {"down", "http_status", "fail_next", "delay_ms", "access_denied",
              "session_expired", "reject_uuids", "none_methods"}


def error_envelope(req_id, exc):
    """Odoo 17's JsonRPCDispatcher.handle_error + serialize_exception."""
    code, message = 200, "Odoo Server Error"
    if exc.code == 100:
        code, message = 100, "Odoo Session Expired"
    return {
        "jsonrpc": "2.0",
        "id": req_id,
        "error": {
            "code": code,
            "message": message,
            "data": {
                "name": exc.name,
                "debug": "Traceback (most recent call last):\n  (odoo-double)\n"
                         f"{exc.name.rsplit('.', 1)[-1]}: {exc.message}\n",
                "message": exc.message,
                "arguments": [exc.message],
                "context": {},
            },
        },
    }


def access_denied():
    return OdooError("odoo.exceptions.AccessDenied", "Access Denied")


def session_expired():
    return OdooError("odoo.http.SessionExpiredException", "Session expired", code=100)


class Double:
    def __init__(self, seed, gateway_url=None, push_secret=None):
        self.seed = seed
        self.db = seed.get("db", "seitech")
        self.gateway_url = gateway_url
        self.push_secret = push_secret
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.store = MemoryStore(self.seed)
            self.api = GatewayApi(self.store)
            self.sessions = {}
            for user in self.seed.get("users", []):
                for sid in user.get("sessions", []):
                    self.sessions[sid] = int(user["id"])
            self.pushes = []
            self.calls = []

    # -- credentials -----------------------------------------------------
    def check_login(self, db, login, password):
        if db != self.db:
            return False
        for user in self.store.users.values():
            if user.get("login") == login and user.get("active", True) and isinstance(password, str) \
                    and password and password in [user.get("password")] + list(user.get("api_keys", [])):
                return int(user["id"])
        return False

    def check_uid(self, uid, password):
        user = self.store.users.get(uid) if isinstance(uid, int) else None
        if user is None or not user.get("active", True) or not isinstance(password, str) or not password:
            raise access_denied()
        if password not in [user.get("password")] + list(user.get("api_keys", [])):
            raise access_denied()
        return user

    # -- /jsonrpc --------------------------------------------------------
    def dispatch_rpc(self, service, method, args):
        if not isinstance(args, list):
            raise OdooError("builtins.TypeError", "args must be a list")
        if service == "common":
            if method == "version":
                return self.version()
            if method in ("authenticate", "login"):
                want = 4 if method == "authenticate" else 3
                if len(args) != want:
                    raise OdooError("builtins.TypeError",
                                    f"exp_{method}() takes {want} positional arguments but {len(args)} were given")
                return self.check_login(*args[:3])
            raise OdooError("builtins.KeyError", f"'{method}'")
        if service == "object":
            if method != "execute_kw":
                raise OdooError("builtins.NameError", f"Method not available {method}")
            if len(args) < 3:
                raise OdooError("builtins.IndexError", "list index out of range")
            db, uid, password = args[:3]
            uid = _odoo_int(uid)  # odoo.service.model.dispatch: int(params[1])
            if db != self.db:
                raise OdooError("psycopg2.OperationalError",
                                f'connection to server failed: FATAL:  database "{db}" does not exist')
            user = self.check_uid(uid, password)
            # execute_kw(db, uid, obj, method, args, kw=None) on params[3:]
            if len(args) < 6:
                missing = ["obj", "method", "args"][len(args) - 3:]
                raise OdooError("builtins.TypeError",
                                f"execute_kw() missing {len(missing)} required positional argument"
                                f"{'s' if len(missing) > 1 else ''}: "
                                + " and ".join(repr(m) for m in missing))
            if len(args) > 7:
                raise OdooError("builtins.TypeError",
                                f"execute_kw() takes from 5 to 6 positional arguments but {len(args) - 1} were given")
            model, meth = args[3], args[4]
            m_args = _star_args(args[5])
            m_kwargs = _star_kwargs(args[6] if len(args) > 6 else None)
            if self.store.faults.get("access_denied"):
                raise access_denied()
            if model != GATEWAY_MODEL:
                raise OdooError("odoo.exceptions.UserError", f"Object {model} doesn't exist")
            if not {"gateway", "system"} & set(user.get("groups", [])):
                # The addon's methods check the Chat Gateway group the same way.
                raise OdooError("odoo.exceptions.AccessError",
                                "Only the Chat Gateway user may call the gateway API.")
            m_kwargs = {k: v for k, v in m_kwargs.items() if k != "context"}
            with self.lock:
                self.calls.append({"method": meth, "items": len(m_args[0]) if meth == "ingest"
                                   and m_args and isinstance(m_args[0], list) else None,
                                   "at": time.time()})
            result = self.api.call(meth, m_args, m_kwargs)
            if meth in self.store.faults.get("none_methods", []):
                # A method that returns None: Odoo's envelope then has no
                # "result" key at all (JsonRPCDispatcher._response).
                return None
            return result
        raise OdooError("builtins.Exception", f"Unknown service {service}")

    @staticmethod
    def version():
        """odoo.service.common.exp_version(), also /web/webclient/version_info."""
        return {"server_version": "17.0", "server_version_info": SERVER_VERSION_INFO,
                "server_serie": "17.0", "protocol_version": 1}

    def session_info(self, uid, _sid):
        user = self.store.users[uid]
        groups = set(user.get("groups", []))
        return {
            "uid": uid,
            "is_system": "system" in groups,
            "is_admin": "system" in groups,
            "user_context": {"lang": user.get("lang", "en_US"), "tz": user.get("tz", "UTC"), "uid": uid},
            "db": self.db,
            "server_version": "17.0",
            "server_version_info": SERVER_VERSION_INFO,
            "name": user["name"],
            "username": user.get("login"),
            "partner_display_name": user["name"],
            "partner_id": user.get("partner_id"),
        }

    # -- pushes ----------------------------------------------------------
    def deliver(self, push, gateway_url, secret, forge=False):
        body = json.dumps({"version": C.API_VERSION, "events": push["events"]},
                          separators=(",", ":")).encode()
        ts = int(time.time())
        sig = signing.sign(secret, ts, body)
        if forge:
            sig = signing.sign(secret + "-forged", ts, body)
        req = urllib.request.Request(
            gateway_url.rstrip("/") + "/internal/odoo/events", data=body, method="POST",
            headers={"Content-Type": "application/json", C.SIGNATURE_HEADER: sig,
                     C.TIMESTAMP_HEADER: str(ts), "User-Agent": "odoo-double"})
        push["attempts"] += 1
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 -- loopback test target
                push.update(state="sent", status=resp.status, response=resp.read(4096).decode("utf-8", "replace"),
                            last_error=None)
        except urllib.error.HTTPError as exc:
            # As the addon reads the answer: a push refused for good is parked.
            push.update(state=pushes.delivery_state(exc.code), status=exc.code,
                        response=exc.read(4096).decode("utf-8", "replace"), last_error=f"HTTP {exc.code}")
        except (OSError, ValueError) as exc:
            push.update(state="pending", status=None, response=None, last_error=str(exc))
        return push

    def push_events(self, events, body):
        gateway_url = body.get("gateway_url") or self.gateway_url
        secret = body.get("secret") or self.push_secret
        if not gateway_url or not secret:
            raise ValueError("gateway_url and secret are needed (flags or request body)")
        push = {"id": uuid7(), "events": events, "state": "pending", "attempts": 0,
                "gateway_url": gateway_url, "secret": secret}
        with self.lock:
            self.pushes.append(push)
        self.deliver(push, gateway_url, secret, forge=bool(body.get("forge")))
        return push

    def agent_reply(self, body):
        cid = body.get("conversation_id")
        with self.store.lock:
            conv = self.store.conversations.get(cid) if isinstance(cid, str) else None
            if conv is None:
                raise ValueError(f"unknown conversation {cid!r}")
            author = body.get("author_id")
            if not isinstance(author, int) or author not in self.store.users:
                raise ValueError("author_id must be a seeded user id (int)")
            if conv["status"] == "ended":
                raise ValueError("This conversation has ended.")
            self._check_may_act(conv, author)
            content = addon_lib.sub("validation").clean_content(body.get("content", ""), allow_empty=False)
            mid = uuid7()
            now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            msg = {
                "id": mid, "conversation_id": cid, "author_id": author, "guest_id": None,
                "author_name": self.store.users[author]["name"], "content": content, "type": "text",
                "attachments": [], "parent_id": body.get("parent_id"), "client_id": None,
                "created_at": iso(now), "edited_at": None, "is_edited": False, "deleted": False,
                "read_by": [], "reactions": {}, "origin": "odoo",
            }
            self.store.messages[mid] = msg
        event = {"id": uuid7(), "type": "message", "occurred_at": iso(now),
                 "data": {"conversation_id": cid, "message": wire_message(msg)}}
        return self.push_events([event], body)

    def reassign(self, body):
        """A manager gives a support chat to another agent in the back office:
        what the addon's discuss.channel.write does (lib.pushes decides),
        then the same signed ``conversation`` push."""
        cid = body.get("conversation_id")
        agent = body.get("agent_id")
        with self.store.lock:
            conv = self.store.conversations.get(cid) if isinstance(cid, str) else None
            if conv is None or conv["type"] != "support":
                raise ValueError(f"unknown support conversation {cid!r}")
            if agent is not None and (not isinstance(agent, int) or agent not in self.store.users):
                raise ValueError("agent_id must be a seeded user id (int) or null")
            try:
                state = pushes.agent_change(conv["status"], conv["assigned_agent_id"], agent)
            except pushes.AgentChangeError as exc:
                raise ValueError(str(exc)) from None
            conv["assigned_agent_id"] = agent
            if state is None:
                return {"changed": False}
            conv["status"] = state
            # The new agent is the chat's only Odoo member (_seitech_sync_agent_member).
            conv["participant_ids"] = [agent]
            data = pushes.conversation_event(cid, conv["status"], agent)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        event = {"id": uuid7(), "type": "conversation", "occurred_at": iso(now), "data": data}
        return {"changed": True, **self.push_events([event], body)}

    def _check_may_act(self, conv, uid):
        """The addon's DiscussChannel._seitech_check_may_act: a support chat's
        assigned agent or a Chat Manager; other gateway chats only a manager.
        (Their push then goes out at once, as superuser, whoever acted.)"""
        if "manager" in self.store.users[uid].get("groups", []):
            return
        if conv["type"] != "support" or conv["assigned_agent_id"] not in (uid, str(uid)):
            raise ValueError("Only the assigned agent or a manager acts on this chat.")

    def _acting(self, body, key="user_id"):
        cid = body.get("conversation_id")
        conv = self.store.conversations.get(cid) if isinstance(cid, str) else None
        if conv is None:
            raise ValueError(f"unknown conversation {cid!r}")
        uid = body.get(key)
        if not isinstance(uid, int) or uid not in self.store.users:
            raise ValueError(f"{key} must be a seeded user id (int)")
        return cid, conv, uid

    def _conversation_push(self, cid, conv, body):
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        data = pushes.conversation_event(cid, conv["status"], conv["assigned_agent_id"])
        event = {"id": uuid7(), "type": "conversation", "occurred_at": iso(now), "data": data}
        return self.push_events([event], body)

    def take(self, body):
        """action_seitech_take: a Chat Agent takes a queued support chat."""
        with self.store.lock:
            cid, conv, uid = self._acting(body)
            groups = self.store.users[uid].get("groups", [])
            if not {"agent", "manager"} & set(groups):
                raise ValueError("Only chat agents take conversations.")
            if conv["type"] != "support" or conv["status"] != "queued":
                raise ValueError("Only a queued conversation can be taken.")
            conv.update(status="active", assigned_agent_id=uid, participant_ids=[uid])
        return self._conversation_push(cid, conv, body)

    def end(self, body):
        """action_seitech_end: the assigned agent or a manager ends a chat."""
        with self.store.lock:
            cid, conv, uid = self._acting(body)
            self._check_may_act(conv, uid)
            if conv["status"] == "ended":
                return {"changed": False}
            conv.update(status="ended", conversation_ended=iso(
                dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
        return {"changed": True, **self._conversation_push(cid, conv, body)}

    def retry_dead_letters(self, body):
        """A manager's Retry on refused items (seitech.chat.dead.letter
        action_retry): a signed ``retry`` push naming them."""
        with self.store.lock:
            rows = self.store.dead_letters
            uuids = body.get("uuids")
            if uuids is None:
                uuids = [u for u, r in rows.items() if r["state"] != "resolved"]
            if not isinstance(uuids, list) or not uuids or \
                    any(u not in rows or rows[u]["state"] == "resolved" for u in uuids):
                raise ValueError("Nothing to retry: these items were accepted since.")
            for u in uuids:
                rows[u]["state"] = "retrying"
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        event = {"id": uuid7(), "type": "retry", "occurred_at": iso(now), "data": {"uuids": uuids}}
        return self.push_events([event], body)

    def retry_pushes(self):
        out = []
        for push in list(self.pushes):
            if push["state"] == "pending":  # as the cron: parked rows wait for a manager
                out.append(self.deliver(push, push["gateway_url"], push["secret"]))
        return out

    def records(self):
        with self.store.lock, self.lock:
            return json.loads(json.dumps({
                "conversations": self.store.conversations,
                "messages": self.store.messages,
                "ops": self.store.ops,
                "mails": self.store.mails,
                "dead_letters": self.store.dead_letters,
                "agents": self.store.agents,
                "pushes": [{k: v for k, v in p.items() if k != "secret"} for p in self.pushes],
                "calls": self.calls,
            }, default=str))


def wire_message(msg):
    """Message object of the push event: protocol section 4's shape."""
    return {
        "id": msg["id"], "roomId": msg["conversation_id"],
        "authorId": str(msg["author_id"]) if msg["author_id"] else msg["guest_id"],
        "authorName": msg["author_name"], "content": msg["content"], "type": msg["type"],
        "attachments": msg["attachments"], "parentId": msg["parent_id"], "clientId": msg["client_id"],
        "createdAt": msg["created_at"], "editedAt": msg["edited_at"],
    }


class Handler(BaseHTTPRequestHandler):
    server_version = "Werkzeug/2.0.2"  # what Odoo 17 answers with
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("ODOO_DOUBLE_VERBOSE"):
            sys.stderr.write("odoo-double: " + fmt % args + "\n")

    @property
    def double(self):
        return self.server.double

    def _send(self, status, payload, content_type="application/json", headers=()):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length)

    def _apply_faults(self):
        """Return True when a fault already answered (or dropped) the request."""
        faults = self.double.store.faults
        delay = faults.get("delay_ms") or 0
        if delay:
            # The delay is the fault under test (a slow Odoo), not a wait.
            time.sleep(min(delay, MAX_DELAY_MS) / 1000)
        if faults.get("down"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        status = faults.get("http_status")
        with self.double.lock:
            if not status and faults.get("fail_next", 0) > 0:
                faults["fail_next"] -= 1
                status = 502
        if status:
            self._send(int(status), b"<html><body><h1>%d</h1></body></html>" % int(status), "text/html")
            return True
        return False

    def do_GET(self):  # noqa: N802 -- http.server's naming
        if self.path == "/__double__/records":
            return self._send(200, self.double.records())
        if self.path == "/__double__/faults":
            return self._send(200, self.double.store.faults)
        return self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")

    def do_POST(self):  # noqa: N802
        try:
            raw = self._read_body()
        except ValueError:
            return self._send(413, b"too large", "text/plain")
        if self.path.startswith("/__double__/"):
            return self._control(raw)
        if self.path not in ("/jsonrpc", "/web/session/get_session_info", "/web/session/authenticate",
                             VERSION_INFO):
            return self._send(404, b"<html><body>404 Not Found</body></html>", "text/html")
        if self._apply_faults():
            return None
        try:
            req = json.loads(raw)
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            # Odoo answers a JSON route whose body is not JSON with a 400 page.
            return self._send(400, b"<html><body>400 Bad Request: Invalid JSON data</body></html>",
                              "text/html")
        req_id = req.get("id")
        params = req.get("params") or {}
        if not isinstance(params, dict):
            params = {}
        headers = []
        try:
            if self.path == "/jsonrpc":
                result = self.double.dispatch_rpc(params.get("service"), params.get("method"),
                                                  params.get("args", []))
            elif self.path == "/web/session/authenticate":
                uid = self.double.check_login(params.get("db"), params.get("login"), params.get("password"))
                if not uid:
                    raise access_denied()
                sid = secrets.token_hex(20)
                with self.double.lock:
                    self.double.sessions[sid] = uid
                headers.append(("Set-Cookie", f"session_id={sid}; HttpOnly; Path=/; SameSite=Lax"))
                result = self.double.session_info(uid, sid)
            elif self.path == VERSION_INFO:
                # A type="json" route (POST, JSON-RPC envelope), auth="none".
                result = self.double.version()
            else:
                result = self._session_info()
        except OdooError as exc:
            return self._send(200, error_envelope(req_id, exc))
        except Exception as exc:  # noqa: BLE001 -- Odoo serialises any exception
            traceback.print_exc(file=sys.stderr)
            err = OdooError(f"builtins.{type(exc).__name__}", str(exc))
            return self._send(200, error_envelope(req_id, err))
        # odoo.http.JsonRPCDispatcher._response: "result" only when not None.
        envelope = {"jsonrpc": "2.0", "id": req_id}
        if result is not None:
            envelope["result"] = result
        return self._send(200, envelope, headers=headers)

    def _session_info(self):
        cookie = http.cookies.SimpleCookie()
        try:
            cookie.load(self.headers.get("Cookie") or "")
        except http.cookies.CookieError:
            raise session_expired() from None
        sid = cookie["session_id"].value if "session_id" in cookie else None
        with self.double.lock:
            uid = self.double.sessions.get(sid) if sid else None
        if uid is None or self.double.store.faults.get("session_expired"):
            raise session_expired()
        return self.double.session_info(uid, sid)

    def _control(self, raw):
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            path = self.path
            if path == "/__double__/faults":
                return self._send(200, self._set_faults(body))
            if path == "/__double__/reset":
                self.double.reset()
                return self._send(200, {"ok": True})
            if path == "/__double__/agent_reply":
                return self._send(200, _public_push(self.double.agent_reply(body)))
            if path == "/__double__/reassign":
                return self._send(200, _public_push(self.double.reassign(body)))
            if path == "/__double__/take":
                return self._send(200, _public_push(self.double.take(body)))
            if path == "/__double__/end":
                return self._send(200, _public_push(self.double.end(body)))
            if path == "/__double__/retry_dead_letters":
                return self._send(200, _public_push(self.double.retry_dead_letters(body)))
            if path == "/__double__/push":
                events = body.get("events")
                if not isinstance(events, list) or not events:
                    raise ValueError("events must be a non-empty list")
                return self._send(200, _public_push(self.double.push_events(events, body)))
            if path == "/__double__/retry_pushes":
                return self._send(200, [_public_push(p) for p in self.double.retry_pushes()])
            return self._send(404, {"error": "unknown control route"})
        except (ValueError, TypeError) as exc:
            return self._send(400, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 -- control errors are reported, never crash
            return self._send(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _set_faults(self, body):
        unknown = set(body) - FAULT_KEYS - {"reset"}
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        faults = self.double.store.faults
        with self.double.lock:
            if body.get("reset"):
                faults.clear()
            for key in FAULT_KEYS & set(body):
                value = body[key]
                if key == "none_methods":
                    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                        raise ValueError("none_methods must be a list of method names")
                elif key == "reject_uuids":
                    if isinstance(value, list):
                        value = {u: "" for u in value}
                    if not isinstance(value, dict):
                        raise ValueError("reject_uuids must be a list or an object")
                elif key in ("http_status", "fail_next", "delay_ms"):
                    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                        raise ValueError(f"{key} must be a non-negative integer")
                    if key == "http_status" and value and not 400 <= value <= 599:
                        raise ValueError("http_status must be 400..599")
                elif not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                faults[key] = value
            return dict(faults)


def _odoo_int(value):
    """int() as Odoo applies it to the uid of execute_kw: "2" is 2."""
    try:
        return int(value)
    except TypeError:
        raise OdooError("builtins.TypeError",
                        f"int() argument must be a string, a bytes-like object or a real number, "
                        f"not '{type(value).__name__}'") from None
    except ValueError:
        raise OdooError("builtins.ValueError",
                        f"invalid literal for int() with base 10: {value!r}") from None


def _star_args(value):
    """What ``*args`` makes of the positional arguments of execute_kw: any
    iterable (a JSON object gives its keys, a string its characters)."""
    if isinstance(value, list | dict | str):
        return list(value)
    raise OdooError("builtins.TypeError",
                    f"odoo.service.model.execute() argument after * must be an iterable, "
                    f"not {_json_type(value)}")


def _star_kwargs(value):
    """``**kw or {}``: anything falsy is no keyword argument, else a mapping."""
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    raise OdooError("builtins.TypeError",
                    f"odoo.service.model.execute() argument after ** must be a mapping, "
                    f"not {_json_type(value)}")


def _json_type(value):
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list",
            dict: "dict", type(None): "NoneType"}.get(type(value), type(value).__name__)


def _public_push(push):
    return {k: v for k, v in push.items() if k != "secret"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", required=True, help="JSON seed of users, courses and agents")
    parser.add_argument("--gateway-url", default=os.environ.get("ODOO_DOUBLE_GATEWAY_URL"))
    parser.add_argument("--push-secret-env", default="ODOO_PUSH_SECRET",
                        help="environment variable holding the push HMAC secret "
                             "(a flag would leak it into the process list)")
    args = parser.parse_args(argv)
    seed = json.loads(pathlib.Path(args.seed).read_text(encoding="utf-8"))
    double = Double(seed, args.gateway_url, os.environ.get(args.push_secret_env))
    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    httpd.daemon_threads = True
    httpd.double = double
    host, port = httpd.server_address[:2]
    print(f"odoo-double listening on http://{host}:{port}", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
