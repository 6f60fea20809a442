"""Smoke test of the seitech-chat gateway with the python-socketio 5.x client.

Starts the real binary (GATEWAY_BIN, default target/debug/seitech-chat) on
127.0.0.1 with --port 0, a fresh data dir and tests/fixtures/directory.json,
then chats as a guest and as JWT users over websocket and over polling.
"""
import base64
import hashlib
import hmac
import json
import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests
import socketio

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIRECTORY = os.path.join(ROOT, "tests", "fixtures", "directory.json")
TIMEOUT = 10


def gateway_bin():
    b = os.environ.get("GATEWAY_BIN", os.path.join("target", "debug", "seitech-chat"))
    return b if os.path.isabs(b) else os.path.join(ROOT, b)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret, sub, name, role, ttl=3600):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": sub, "name": name, "role": role,
                                 "exp": int(time.time()) + ttl}).encode())
    signing_input = f"{header}.{payload}".encode()
    sig = b64url(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{sig}"


class Gateway:
    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="seitech-chat-py-")
        self.secret = "py-" + secrets.token_hex(16)
        self.proc = subprocess.Popen(
            [gateway_bin(), "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data_dir,
             "--jwt-secret", self.secret, "--directory-file", DIRECTORY],
            cwd=self.data_dir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 20
        self.url = None
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("seitech-chat listening on "):
                self.url = line.split(" on ", 1)[1].strip()
                break
        if not self.url:
            self.stop()
            raise RuntimeError("gateway did not print its listening line")

    def token(self, sub, name, role):
        return mint_jwt(self.secret, sub, name, role)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def gw():
    g = Gateway()
    yield g
    g.stop()


class Client:
    """A socketio.Client that records events into queues."""

    def __init__(self, gw, token=None, transports=None):
        self.sio = socketio.Client(reconnection=False)
        self.events = {}
        self._lock = threading.Lock()

        @self.sio.on("*")
        def any_event(event, *args):
            self._q(event).put(args[0] if args else None)

        auth = {"token": token} if token else {}
        self.sio.connect(gw.url, auth=auth, transports=transports, wait_timeout=TIMEOUT)
        self.session = self.wait("session")

    def _q(self, event):
        with self._lock:
            return self.events.setdefault(event, queue.Queue())

    def wait(self, event, pred=lambda p: True, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        q = self._q(event)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {event}")
            try:
                payload = q.get(timeout=remaining)
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {event}")
            if pred(payload):
                return payload

    def call(self, event, data):
        return self.sio.call(event, data, timeout=TIMEOUT)

    def close(self):
        self.sio.disconnect()


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
