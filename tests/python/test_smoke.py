"""Smoke test of the seitech-chat gateway with the python-socketio 5.x client.

Starts the real binary (GATEWAY_BIN, default target/debug/seitech-chat) on
127.0.0.1 with --port 0, a fresh data dir and tests/fixtures/directory.json,
then chats as a guest and as JWT users over websocket and over polling.
"""
import uuid

import pytest
import requests

from harness import TIMEOUT, Client, Gateway


@pytest.fixture(scope="module")
def gw():
    g = Gateway()
    yield g
    g.stop()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_guest_session(gw, transport):
    c = Client(gw, transports=[transport])
    try:
        assert c.sio.transport() == transport
        s = c.session
        assert s["role"] == "public"
        assert s["userId"].startswith("guest_")
        assert isinstance(s.get("guestToken"), str) and s["guestToken"]
    finally:
        c.close()
    again = Client(gw, token=s["guestToken"], transports=[transport])
    try:
        assert again.session["userId"] == s["userId"]
    finally:
        again.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_jwt_message_roundtrip(gw, transport):
    ada = Client(gw, token=gw.token("1", "Ada Student", "student"), transports=[transport])
    ian = Client(gw, token=gw.token("2", "Ian Instructor", "instructor"), transports=[transport])
    try:
        assert ada.session["userId"] == "1"
        assert ada.session["name"] == "Ada Student"
        assert ada.session["role"] == "student"
        content = f"hello from python over {transport} {uuid.uuid4()}"
        res = ada.call("message", {"recipientId": "2", "content": content, "clientId": str(uuid.uuid4())})
        assert res["ok"] is True, res
        msg = res["message"]
        assert msg["content"] == content
        assert msg["authorId"] == "1"
        got = ian.wait("message", lambda m: m and m.get("id") == msg["id"])
        assert got["content"] == content
        assert got["roomId"] == msg["roomId"]
        reply = ian.call("message", {"roomId": msg["roomId"], "content": "got it"})
        assert reply["ok"] is True, reply
        ada.wait("message", lambda m: m and m.get("id") == reply["message"]["id"])
    finally:
        ada.close()
        ian.close()


def test_error_ack_shape(gw):
    ada = Client(gw, token=gw.token("1", "Ada Student", "student"))
    try:
        res = ada.call("message", {"roomId": 42, "content": None})
        assert res["ok"] is False
        assert res["error"]["code"] == "invalid"
        assert isinstance(res["error"]["message"], str)
    finally:
        ada.close()


def test_health(gw):
    r = requests.get(gw.url + "/health", timeout=TIMEOUT)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert isinstance(body["connections"], int)
