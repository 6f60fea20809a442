"""Shared helpers of the python tests: the real gateway binary, a recording
python-socketio client, JWT minting, /metrics, and a real SMTP server (aiosmtpd).

The gateway (GATEWAY_BIN, default target/debug/seitech-chat) runs on 127.0.0.1
with --port 0 (the bound address is read from its stdout), a fresh data dir
and tests/fixtures/directory.json.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time

import requests
import socketio
from aiosmtpd.controller import Controller

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


def wait_until(cond, what, timeout=TIMEOUT, interval=0.02):
    """Polls `cond` until it returns a truthy value (returned), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Gateway:
    """The seitech-chat binary on an ephemeral port; `extra_args` are added flags."""

    def __init__(self, extra_args=()):
        self.data_dir = tempfile.mkdtemp(prefix="seitech-chat-py-")
        self.secret = "py-" + secrets.token_hex(16)
        self.proc = subprocess.Popen(
            [gateway_bin(), "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data_dir,
             "--jwt-secret", self.secret, "--directory-file", DIRECTORY, *extra_args],
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

    def metrics(self):
        """`/metrics` as {(name, frozenset(labels.items())): value}."""
        r = requests.get(self.url + "/metrics", timeout=TIMEOUT)
        r.raise_for_status()
        out = {}
        for line in r.text.splitlines():
            m = _SAMPLE.match(line.strip())
            if not m or line.startswith("#"):
                continue
            labels = frozenset(_LABEL.findall(m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
        return out

    def metric(self, name, **labels):
        """One sample of `/metrics`; AssertionError when the gateway does not export it."""
        key = (name, frozenset(labels.items()))
        samples = self.metrics()
        assert key in samples, f"/metrics has no {name}{labels}"
        return samples[key]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)


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
                raise AssertionError(f"timed out waiting for {event}") from None
            if pred(payload):
                return payload

    def call(self, event, data):
        return self.sio.call(event, data, timeout=TIMEOUT)

    def ok(self, event, data):
        """`call` that must be acked with `ok: true`."""
        res = self.call(event, data)
        assert res and res.get("ok") is True, f"{event} {data!r} -> {res!r}"
        return res

    def close(self):
        self.sio.disconnect()


class _EphemeralPortController(Controller):
    # aiosmtpd 1.4 checks readiness by connecting to self.port: with port 0
    # that must be the port the server was actually bound to.
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, ephemeral port, keeping every
    mail it accepts as (envelope sender, envelope recipients, parsed message)."""

    def __init__(self):
        self.mails = []
        self._cond = threading.Condition()
        self._controller = _EphemeralPortController(self, hostname="127.0.0.1", port=0)
        self._controller.start()
        self.url = f"smtp://127.0.0.1:{self._controller.port}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self._cond:
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
            self._cond.notify_all()
        return "250 OK"

    def count(self):
        with self._cond:
            return len(self.mails)

    def wait_for(self, n, timeout=TIMEOUT):
        """Waits until at least `n` mails arrived; returns them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.mails) >= n, timeout=timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for mail #{n} "
                                     f"({len(self.mails)} arrived)")
            return list(self.mails)

    def stop(self):
        self._controller.stop()
