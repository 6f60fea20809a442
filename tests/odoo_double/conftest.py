import json
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

GATEWAY_KEY = "test-only-api-key-not-a-secret"


class Client:
    def __init__(self, url):
        self.url = url
        self._id = 0

    def post(self, path, payload, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null"), resp.headers
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                body = json.loads(body)
            except ValueError:
                body = body.decode("utf-8", "replace")
            return exc.code, body, exc.headers

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def rpc(self, service, method, args):
        self._id += 1
        status, body, _ = self.post("/jsonrpc", {"jsonrpc": "2.0", "method": "call", "id": self._id,
                                                 "params": {"service": service, "method": method, "args": args}})
        assert status == 200
        assert body["jsonrpc"] == "2.0" and body["id"] == self._id
        return body

    def call(self, method, *args, uid=2, key=GATEWAY_KEY, **kwargs):
        return self.rpc("object", "execute_kw", ["seitech", uid, key, "seitech.chat.gateway", method,
                                                 list(args), kwargs])

    def ok(self, method, *args, **kwargs):
        body = self.call(method, *args, **kwargs)
        assert "error" not in body, body
        return body["result"]

    def faults(self, **switches):
        status, body, _ = self.post("/__double__/faults", switches)
        assert status == 200, body
        return body


@pytest.fixture(scope="session")
def server():
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "server.py"), "--port", "0", "--seed", str(HERE / "seed.example.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # readline blocks until the server announces itself: no polling needed.
    line = proc.stdout.readline()
    assert line.startswith("odoo-double listening on http://127.0.0.1:"), (line, proc.stderr.read())
    yield line.strip().rsplit(" ", 1)[-1]
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def odoo(server):
    client = Client(server)
    status, _, _ = client.post("/__double__/reset", {})
    assert status == 200
    return client
