"""Tests of the Odoo double itself: envelopes, gateway API behaviour,
faults and signed pushes."""

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import addon_lib
import pytest

signing = addon_lib.sub("signing")
T = "2026-11-24T10:00:00.000Z"


def support_conv(cid="c-1", uuid="op-c1", **kw):
    item = {"kind": "conversation", "uuid": uuid, "conversation_id": cid, "type": "support",
            "visitor": {"user_id": "guest_1_a", "name": "Vi", "email": "vi@example.org"},
            "query_type": "billing", "status": "active", "assigned_agent_id": "6",
            "participant_ids": ["6"], "created_at": T}
    item.update(kw)
    return item


def message(uuid, cid="c-1", **kw):
    item = {"kind": "message", "uuid": uuid, "conversation_id": cid, "author_id": "guest_1_a",
            "author_name": "Vi", "content": f"text {uuid}", "created_at": T}
    item.update(kw)
    return item


# -- envelopes ---------------------------------------------------------------

def test_common_version_and_authenticate(odoo):
    assert odoo.rpc("common", "version", [])["result"]["server_version_info"][0] == 17
    assert odoo.rpc("common", "authenticate", ["seitech", "chat-gateway", "test-only-api-key-not-a-secret",
                                               {}])["result"] == 2
    assert odoo.rpc("common", "authenticate", ["seitech", "chat-gateway", "wrong", {}])["result"] is False
    assert odoo.rpc("common", "authenticate", ["otherdb", "chat-gateway", "test-only-api-key-not-a-secret",
                                               {}])["result"] is False


def test_error_envelope_shape_for_access_denied(odoo):
    body = odoo.call("whois", [1], key="wrong")
    err = body["error"]
    assert err["code"] == 200 and err["message"] == "Odoo Server Error"
    assert err["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert err["data"]["message"] == "Access Denied"
    assert set(err["data"]) == {"name", "debug", "message", "arguments", "context"}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"uid": 1, "key": "ada-test-password"}, "odoo.exceptions.AccessError"),  # not in Chat Gateway
        ({"method": "_private"}, "odoo.exceptions.AccessError"),
        ({"method": "unlink"}, "builtins.AttributeError"),
    ],
)
def test_execute_kw_errors(odoo, kwargs, name):
    method = kwargs.pop("method", "api_version")
    assert odoo.call(method, **kwargs)["error"]["data"]["name"] == name


def test_unknown_model_and_db(odoo):
    body = odoo.rpc("object", "execute_kw", ["seitech", 2, "test-only-api-key-not-a-secret", "res.partner",
                                             "search", [[]]])
    assert body["error"]["data"]["name"] == "odoo.exceptions.UserError"
    body = odoo.rpc("object", "execute_kw", ["nodb", 2, "test-only-api-key-not-a-secret",
                                             "seitech.chat.gateway", "api_version", []])
    assert body["error"]["data"]["name"] == "psycopg2.OperationalError"


def test_body_that_is_not_json_is_a_400_page(odoo):
    status, body, _ = odoo.post("/jsonrpc", None, raw=b"{not json")
    assert status == 400 and "Invalid JSON" in body


def test_session_info_by_cookie_and_expired_session(odoo):
    status, body, _ = odoo.post("/web/session/get_session_info", {"jsonrpc": "2.0", "method": "call",
                                "params": {}, "id": 1}, headers={"Cookie": "session_id=test-session-ada"})
    assert status == 200 and body["result"]["uid"] == 1 and body["result"]["partner_id"] == 101
    for cookie in ({}, {"Cookie": "session_id=nope"}):
        _, body, _ = odoo.post("/web/session/get_session_info",
                               {"jsonrpc": "2.0", "method": "call", "params": {}, "id": 2}, headers=cookie)
        assert body["error"]["code"] == 100
        assert body["error"]["message"] == "Odoo Session Expired"
        assert body["error"]["data"]["name"] == "odoo.http.SessionExpiredException"


def test_web_session_authenticate_sets_a_usable_cookie(odoo):
    _, body, headers = odoo.post("/web/session/authenticate", {"jsonrpc": "2.0", "method": "call", "id": 1,
                                 "params": {"db": "seitech", "login": "sam", "password": "sam-test-password"}})
    assert body["result"]["uid"] == 5
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    _, body, _ = odoo.post("/web/session/get_session_info", {"jsonrpc": "2.0", "method": "call",
                           "params": {}, "id": 2}, headers={"Cookie": cookie})
    assert body["result"]["username"] == "sam"


# -- gateway API ---------------------------------------------------------------

def test_api_version(odoo):
    res = odoo.ok("api_version")
    assert res["version"] == 1 and res["max_batch"] == 500 and "ingest" in res["methods"]


def test_whois_roles_courses_and_missing(odoo):
    res = odoo.ok("whois", [1, "3", 5, 9, 7, 99])
    by_id = {u["id"]: u for u in res["users"]}
    assert {k: v["role"] for k, v in by_id.items()} == {
        "1": "student", "3": "instructor", "5": "support-agent", "9": "admin", "7": "public"}
    assert by_id["1"]["courses"] == [{"id": "1", "name": "Python 101", "as": "student"}]
    assert by_id["5"]["department"] == "support"
    assert res["missing"] == ["99"]


def test_whois_refuses_malformed_ids(odoo):
    assert odoo.call("whois", ["1; drop table"])["error"]["data"]["name"] == "odoo.exceptions.ValidationError"


def names(res):
    return sorted(u["name"] for u in res["users"])


def test_directory_search_applies_routing_policy(odoo):
    # Ada studies Python 101 (Ian), not Rust 201 (Oscar).
    assert names(odoo.ok("directory_search", 1, "")) == ["Bea Billing", "Ian Instructor", "Sam Agent"]
    assert names(odoo.ok("directory_search", 3, "")) == ["Bea Billing", "Root Admin", "Sam Agent"]
    assert names(odoo.ok("directory_search", 7, "")) == []
    assert names(odoo.ok("directory_search", 1, "ian")) == ["Ian Instructor"]
    assert names(odoo.ok("directory_search", 1, "", role="support-agent")) == ["Bea Billing", "Sam Agent"]
    assert len(odoo.ok("directory_search", 9, "", limit=2)["users"]) == 2


def test_agent_may_reach_the_user_it_is_assigned_to(odoo):
    assert "Ada Student" not in names(odoo.ok("directory_search", 5, ""))
    odoo.ok("ingest", [support_conv(visitor={"user_id": "1", "name": "Ada"}, assigned_agent_id="5")])
    assert "Ada Student" in names(odoo.ok("directory_search", 5, ""))


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 101}, {"role": "root"}, {"query": "x" * 101}])
def test_directory_search_refuses_bad_arguments(odoo, kwargs):
    assert odoo.call("directory_search", 1, **kwargs)["error"]["data"]["name"] == \
        "odoo.exceptions.ValidationError"


def test_agents_with_load(odoo):
    odoo.ok("ingest", [support_conv()])
    agents = {a["user_id"]: a for a in odoo.ok("agents")["agents"]}
    assert agents["6"]["current_chat_count"] == 1 and agents["5"]["current_chat_count"] == 0
    assert agents["6"]["max_concurrent_chats"] == 2


def test_ingest_ok_duplicate_rejected_in_order(odoo):
    batch = [support_conv(), message("m1"), message("m1"), message("m2", cid="c-404"), 7,
             message("m3", parent_id="m1")]
    res = odoo.ok("ingest", batch)["results"]
    assert [(r["uuid"], r["status"], r.get("code")) for r in res] == [
        ("op-c1", "ok", None), ("m1", "ok", None), ("m1", "duplicate", None),
        ("m2", "rejected", "unknown_conversation"), (None, "rejected", "invalid"), ("m3", "ok", None)]
    # The whole batch again: every item answers as delivered, nothing is doubled.
    again = odoo.ok("ingest", batch)["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "duplicate", "rejected", "rejected",
                                            "duplicate"]
    records = odoo.get("/__double__/records")
    assert sorted(records["messages"]) == ["m1", "m3"]


def test_ingest_state_rules(odoo):
    odoo.ok("ingest", [support_conv(), message("m1")])
    res = odoo.ok("ingest", [
        {"kind": "rating", "uuid": "r0", "conversation_id": "c-1", "rating": 5},
        {"kind": "delete", "uuid": "d1", "message_id": "m1", "deleted_at": T},
        {"kind": "edit", "uuid": "e1", "message_id": "m1", "content": "x", "edited_at": T},
        {"kind": "end", "uuid": "end1", "conversation_id": "c-1", "ended_at": T},
        {"kind": "rating", "uuid": "r1", "conversation_id": "c-1", "rating": 4, "comment": "good"},
        support_conv(uuid="op-c1-reopen", status="active"),
        support_conv(uuid="op-c1-type", type="group", query_type=None, visitor=None, assigned_agent_id=None),
    ])["results"]
    assert [(r["status"], r.get("code")) for r in res] == [
        ("rejected", "conflict"), ("ok", None), ("rejected", "conflict"), ("ok", None), ("ok", None),
        ("ok", None), ("rejected", "conflict")]
    conv = odoo.get("/__double__/records")["conversations"]["c-1"]
    assert conv["status"] == "ended" and conv["satisfaction_rating"] == 4, "a late 'active' does not reopen"


def test_ingest_reads_and_reactions(odoo):
    odoo.ok("ingest", [support_conv(), message("m1")])
    res = odoo.ok("ingest", [
        {"kind": "read", "uuid": "rd1", "conversation_id": "c-1", "message_id": "m1", "user_id": "6",
         "read_at": T},
        {"kind": "read", "uuid": "rd2", "conversation_id": "c-2", "message_id": "m1", "user_id": "6",
         "read_at": T},
        {"kind": "reaction", "uuid": "re1", "message_id": "m1", "user_id": 6, "emoji": "👍", "added": True},
        {"kind": "reaction", "uuid": "re2", "message_id": "m1", "user_id": 6, "emoji": "👍", "added": True},
        {"kind": "reaction", "uuid": "re3", "message_id": "m1", "user_id": 404, "emoji": "👍", "added": True},
    ])["results"]
    assert [(r["status"], r.get("code")) for r in res] == [
        ("ok", None), ("rejected", "unknown_message"), ("ok", None), ("ok", None), ("rejected", "unknown_user")]
    msg = odoo.get("/__double__/records")["messages"]["m1"]
    assert msg["read_by"] == ["6"] and msg["reactions"] == {"👍": ["6"]}


def test_ingest_batch_limit_fails_whole_call(odoo):
    body = odoo.call("ingest", [message(f"m{i}") for i in range(501)])
    assert body["error"]["data"]["name"] == "odoo.exceptions.ValidationError"
    assert odoo.get("/__double__/records")["messages"] == {}


def test_reject_uuid_fault_rejects_only_that_item(odoo):
    odoo.faults(reject_uuids={"m2": "body too ugly"})
    res = odoo.ok("ingest", [support_conv(), message("m1"), message("m2"), message("m3")])["results"]
    assert [r["status"] for r in res] == ["ok", "ok", "rejected", "ok"]
    assert res[2]["reason"] == "body too ugly"
    assert sorted(odoo.get("/__double__/records")["messages"]) == ["m1", "m3"]


def test_a_rejected_change_to_an_existing_record_is_undone(odoo):
    odoo.ok("ingest", [support_conv(), message("m1")])
    edit = {"kind": "edit", "uuid": "e1", "message_id": "m1", "content": "changed", "edited_at": T}
    end = {"kind": "end", "uuid": "x1", "conversation_id": "c-1", "ended_at": T}
    odoo.faults(reject_uuids={"e1": "no", "x1": "no"})
    res = odoo.ok("ingest", [edit, end])["results"]
    assert [r["status"] for r in res] == ["rejected", "rejected"]
    records = odoo.get("/__double__/records")
    assert records["messages"]["m1"]["content"] == "text m1"
    assert records["messages"]["m1"]["is_edited"] is False
    assert records["conversations"]["c-1"]["status"] == "active"
    assert "e1" not in records["ops"] and "x1" not in records["ops"]


def test_transcript_and_offline_notification(odoo):
    odoo.ok("ingest", [support_conv(), message("m1"), message("m2")])
    assert odoo.ok("send_transcript", "c-1") == {"queued": True, "email": "vi@example.org"}
    assert odoo.call("send_transcript", "c-1", "not an email")["error"]["data"]["name"] == \
        "odoo.exceptions.ValidationError"
    assert odoo.ok("notify_offline", 1, "c-1", "hello") == {"queued": True}
    assert odoo.ok("notify_offline", 1, "c-1", "again") == {"queued": False, "reason": "throttled"}
    mails = odoo.get("/__double__/records")["mails"]
    assert [m["kind"] for m in mails] == ["transcript", "offline"]
    assert mails[0]["lines"] == ["Vi: text m1", "Vi: text m2"]


# -- faults ---------------------------------------------------------------------

def test_fault_http_status_and_fail_next(odoo):
    odoo.faults(http_status=502)
    status, _, _ = odoo.post("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "params": {}, "id": 1})
    assert status == 502
    odoo.faults(reset=True, fail_next=2)
    statuses = [odoo.post("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "id": 1, "params": {
        "service": "common", "method": "version", "args": []}})[0] for _ in range(3)]
    assert statuses == [502, 502, 200]


def test_fault_down_closes_the_connection(odoo):
    odoo.faults(down=True)
    host, port = odoo.url.rsplit("/", 1)[-1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", "/jsonrpc", body=b"{}", headers={"Content-Type": "application/json"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    odoo.faults(down=False)
    assert odoo.rpc("common", "version", [])["result"]["server_serie"] == "17.0"


def test_fault_delay_and_access_denied(odoo):
    odoo.faults(delay_ms=300)
    start = time.monotonic()
    odoo.rpc("common", "version", [])
    assert time.monotonic() - start >= 0.3
    odoo.faults(reset=True, access_denied=True)
    assert odoo.call("api_version")["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"


def test_fault_session_expired(odoo):
    odoo.faults(session_expired=True)
    _, body, _ = odoo.post("/web/session/get_session_info", {"jsonrpc": "2.0", "method": "call",
                           "params": {}, "id": 1}, headers={"Cookie": "session_id=test-session-ada"})
    assert body["error"]["code"] == 100


@pytest.mark.parametrize("bad", [{"downn": True}, {"delay_ms": -1}, {"http_status": 200},
                                 {"down": "yes"}, {"reject_uuids": "m1"}])
def test_bad_fault_switches_are_refused_and_change_nothing(odoo, bad):
    odoo.faults(delay_ms=1)
    status, body, _ = odoo.post("/__double__/faults", bad)
    assert status == 400 and "error" in body
    assert odoo.get("/__double__/faults") == {"delay_ms": 1}


# -- pushes ---------------------------------------------------------------------

class Receiver:
    """A stand-in gateway endpoint that verifies signatures like the real one must."""

    def __init__(self, secret):
        self.secret = secret
        self.received = []
        self.refused = 0
        # What a signed push is answered (the gateway's 503, 400, ...).
        self.answer = 200
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    signing.verify(outer.secret, self.headers.get("X-Seitech-Signature"),
                                   self.headers.get("X-Seitech-Timestamp"), body)
                except signing.SignatureError:
                    outer.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                outer.received.append((self.path, json.loads(body)))
                if outer.answer != 200:
                    self.send_response(outer.answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver("push-secret-for-tests-only")
    yield r
    r.close()


def test_agent_reply_is_pushed_signed(odoo, receiver):
    odoo.ok("ingest", [support_conv()])
    status, push, _ = odoo.post("/__double__/agent_reply", {
        "conversation_id": "c-1", "author_id": 6, "content": "Fixed it",
        "gateway_url": receiver.url, "secret": receiver.secret})
    assert status == 200 and push["state"] == "sent" and "secret" not in push
    path, body = receiver.received[0]
    assert path == "/internal/odoo/events" and body["version"] == 1
    event = body["events"][0]
    assert event["type"] == "message"
    assert event["data"]["message"]["authorId"] == "6" and event["data"]["message"]["content"] == "Fixed it"
    mid = event["data"]["message"]["id"]
    # The gateway echoing it back is a duplicate, not a second message.
    assert odoo.ok("ingest", [message(mid)])["results"][0]["status"] == "duplicate"


def test_forged_push_is_refused_and_retried_later(odoo, receiver):
    odoo.ok("ingest", [support_conv()])
    _, push, _ = odoo.post("/__double__/agent_reply", {
        "conversation_id": "c-1", "author_id": 6, "content": "hi", "gateway_url": receiver.url,
        "secret": receiver.secret, "forge": True})
    assert push["state"] == "pending" and push["status"] == 401 and receiver.refused == 1
    assert receiver.received == []
    _, retried, _ = odoo.post("/__double__/retry_pushes", {})
    assert [p["state"] for p in retried] == ["sent"] and len(receiver.received) == 1


def test_the_gateway_answer_decides_whether_a_push_is_resent(odoo, receiver):
    """503 (the gateway's store failed) stays pending and the cron delivers it;
    400 (a body the gateway cannot read) is parked and never resent."""
    odoo.ok("ingest", [support_conv()])
    target = {"conversation_id": "c-1", "author_id": 6, "gateway_url": receiver.url,
              "secret": receiver.secret}
    receiver.answer = 503
    _, unavailable, _ = odoo.post("/__double__/agent_reply", {**target, "content": "store down"})
    assert (unavailable["state"], unavailable["status"]) == ("pending", 503)
    receiver.answer = 400
    _, unreadable, _ = odoo.post("/__double__/agent_reply", {**target, "content": "bad body"})
    assert (unreadable["state"], unreadable["status"]) == ("failed", 400)
    receiver.answer = 200
    _, retried, _ = odoo.post("/__double__/retry_pushes", {})
    assert [(p["id"], p["state"]) for p in retried] == [(unavailable["id"], "sent")]
    assert [body["events"][0]["data"]["message"]["content"] for _, body in receiver.received] == [
        "store down", "bad body", "store down"]


def test_reassignment_is_pushed_as_the_addon_pushes_it(odoo, receiver):
    odoo.ok("ingest", [support_conv()])
    target = {"gateway_url": receiver.url, "secret": receiver.secret}
    status, push, _ = odoo.post("/__double__/reassign", {"conversation_id": "c-1", "agent_id": 5, **target})
    assert status == 200 and push["changed"] and push["state"] == "sent"
    _, body = receiver.received[0]
    event = body["events"][0]
    assert event["type"] == "conversation"
    assert event["data"] == {"conversation_id": "c-1", "status": "active", "assigned_agent_id": "5"}
    conv = odoo.get("/__double__/records")["conversations"]["c-1"]
    assert (conv["assigned_agent_id"], conv["status"], conv["participant_ids"]) == (5, "active", [5])
    # the same agent again: nothing changes, nothing is pushed
    status, again, _ = odoo.post("/__double__/reassign", {"conversation_id": "c-1", "agent_id": 5, **target})
    assert status == 200 and again == {"changed": False} and len(receiver.received) == 1


@pytest.mark.parametrize(("conv", "agent", "error"), [
    ({}, None, "needs an agent"),
    ({"status": "ended"}, 5, "ended"),
    ({}, 99, "seeded user"),
])
def test_reassignments_the_addon_refuses(odoo, receiver, conv, agent, error):
    odoo.ok("ingest", [support_conv(**conv)])
    status, body, _ = odoo.post("/__double__/reassign", {
        "conversation_id": "c-1", "agent_id": agent, "gateway_url": receiver.url, "secret": receiver.secret})
    assert status == 400 and error in body["error"]
    assert receiver.received == []


def test_agent_reply_refuses_unknown_conversation(odoo, receiver):
    status, body, _ = odoo.post("/__double__/agent_reply", {
        "conversation_id": "nope", "author_id": 6, "content": "hi", "gateway_url": receiver.url,
        "secret": receiver.secret})
    assert status == 400 and "unknown conversation" in body["error"]
    assert odoo.get("/__double__/records")["pushes"] == []


def test_unreachable_gateway_leaves_push_pending(odoo):
    odoo.ok("ingest", [support_conv()])
    _, push, _ = odoo.post("/__double__/push", {"events": [{"id": "e1", "type": "user", "data": {
        "user_id": "1"}}], "gateway_url": "http://127.0.0.1:9", "secret": "s"})
    assert push["state"] == "pending" and push["last_error"]


def test_records_are_json_and_hide_secrets(odoo):
    with urllib.request.urlopen(odoo.url + "/__double__/records", timeout=5) as resp:
        assert resp.headers["Content-Type"] == "application/json"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(odoo.url + "/__double__/nope", timeout=5)


# -- Odoo 17 behaviours the gateway relies on (issue 10) ------------------------

def direct(cid, people, uuid=None, **kw):
    item = {"kind": "conversation", "uuid": uuid or f"op-{cid}", "conversation_id": cid, "type": "direct",
            "participant_ids": people, "status": "active", "created_at": T}
    item.update(kw)
    return item


def test_direct_conversations_follow_odoos_two_member_rule(odoo):
    res = odoo.ok("ingest", [direct("d-1", ["1", "3"]), direct("d-2", ["1", "3", "5"]),
                             direct("d-1", ["1", "5"], uuid="op-d1-other"),
                             direct("d-1", ["3", "1"], uuid="op-d1-same")])["results"]
    assert [(r["status"], r.get("code")) for r in res] == [
        ("ok", None), ("rejected", "invalid"), ("rejected", "conflict"), ("ok", None)]
    conv = odoo.get("/__double__/records")["conversations"]
    assert "d-2" not in conv and sorted(conv["d-1"]["participant_ids"]) == [1, 3]


def test_refused_items_are_listed_as_the_back_office_lists_them(odoo, receiver):
    odoo.ok("ingest", [message("m1", cid="nope"), direct("d-2", ["1", "3", "5"])])
    rows = odoo.get("/__double__/records")["dead_letters"]
    assert {u: (r["code"], r["state"]) for u, r in rows.items()} == {
        "m1": ("unknown_conversation", "parked"), "op-d-2": ("invalid", "parked")}
    status, push, _ = odoo.post("/__double__/retry_dead_letters", {
        "uuids": ["m1"], "gateway_url": receiver.url, "secret": receiver.secret})
    assert status == 200 and push["state"] == "sent"
    event = receiver.received[0][1]["events"][0]
    assert (event["type"], event["data"]) == ("retry", {"uuids": ["m1"]})
    odoo.ok("ingest", [support_conv("nope"), message("m1", cid="nope")])
    rows = odoo.get("/__double__/records")["dead_letters"]
    assert (rows["m1"]["state"], rows["op-d-2"]["state"]) == ("resolved", "parked")
    status, body, _ = odoo.post("/__double__/retry_dead_letters", {
        "uuids": ["m1"], "gateway_url": receiver.url, "secret": receiver.secret})
    assert status == 400 and "Nothing to retry" in body["error"]


def test_back_office_actions_refuse_non_assigned_non_managers(odoo, receiver):
    target = {"gateway_url": receiver.url, "secret": receiver.secret}
    odoo.ok("ingest", [support_conv(assigned_agent_id="6"), support_conv("q-1", "op-q", status="queued",
                                                                         assigned_agent_id=None,
                                                                         participant_ids=[])])
    for route, body in [("agent_reply", {"author_id": 5, "content": "hi"}), ("end", {"user_id": 5}),
                        ("end", {"user_id": 1})]:
        status, err, _ = odoo.post(f"/__double__/{route}", {"conversation_id": "c-1", **body, **target})
        assert status == 400 and "assigned agent or a manager" in err["error"], (route, err)
    status, err, _ = odoo.post("/__double__/take", {"conversation_id": "q-1", "user_id": 1, **target})
    assert status == 400 and "agents" in err["error"]
    assert receiver.received == []
    # The assigned (non-manager) agent: each action is pushed at once.
    status, push, _ = odoo.post("/__double__/take", {"conversation_id": "q-1", "user_id": 5, **target})
    assert status == 200 and push["state"] == "sent"
    status, push, _ = odoo.post("/__double__/end", {"conversation_id": "c-1", "user_id": 6, **target})
    assert status == 200 and push["changed"] and push["state"] == "sent"
    data = [b["events"][0]["data"] for _, b in receiver.received]
    assert data == [{"conversation_id": "q-1", "status": "active", "assigned_agent_id": "5"},
                    {"conversation_id": "c-1", "status": "ended", "assigned_agent_id": "6"}]
    status, err, _ = odoo.post("/__double__/agent_reply", {"conversation_id": "c-1", "author_id": 6,
                                                           "content": "late", **target})
    assert status == 400 and "ended" in err["error"]


def test_result_is_omitted_when_a_method_returns_none(odoo):
    odoo.faults(none_methods=["ingest"])
    body = odoo.call("ingest", [support_conv()])
    assert "result" not in body and "error" not in body, body
    # The method ran (its writes are kept); only its answer is None.
    assert "c-1" in odoo.get("/__double__/records")["conversations"]
    assert "result" in odoo.call("api_version")


def test_version_info_is_a_post_json_rpc_route(odoo):
    status, body, _ = odoo.post("/web/webclient/version_info", {"jsonrpc": "2.0", "id": 7, "params": {}})
    assert status == 200 and body["id"] == 7
    assert body["result"]["server_version_info"][:2] == [17, 0]
    assert body["result"]["protocol_version"] == 1
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(odoo.url + "/web/webclient/version_info", timeout=5)


@pytest.mark.parametrize(("args", "name", "text"), [
    (["seitech", 2, "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version"],
     "builtins.TypeError", "missing 1 required positional argument: 'args'"),
    (["seitech", 2, "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", [], {}, 1],
     "builtins.TypeError", "takes from 5 to 6 positional arguments"),
    (["seitech", "two", "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", []],
     "builtins.ValueError", "invalid literal for int()"),
    (["seitech", 2, "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", 5],
     "builtins.TypeError", "argument after * must be an iterable"),
    (["seitech", 2, "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", [], [1]],
     "builtins.TypeError", "argument after ** must be a mapping"),
])
def test_execute_kw_arguments_are_checked_as_odoo_checks_them(odoo, args, name, text):
    err = odoo.rpc("object", "execute_kw", args)["error"]["data"]
    assert err["name"] == name and text in err["message"], err


def test_execute_kw_takes_what_odoo_takes(odoo):
    # uid as a string is int()-ed; kw null or {} is no keyword argument.
    for args in (["seitech", "2", "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", []],
                 ["seitech", 2, "test-only-api-key-not-a-secret", "seitech.chat.gateway", "api_version", [],
                  None]):
        assert odoo.rpc("object", "execute_kw", args)["result"]["version"] == 1
