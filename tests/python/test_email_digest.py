"""End to end: the offline email digest (§7, crates/chat-gateway/src/notify.rs).

Each test starts a real SMTP server (aiosmtpd) on 127.0.0.1 on an ephemeral
port and the real gateway pointed at it with --smtp-url, then chats with
python-socketio clients. Users (tests/fixtures/directory.json): Ada Student
(1) may write to Ian Instructor (2), who teaches her course; admins may write
to anyone; Sam Agent (5) serves the `support` department.

No sleeps stand in for synchronisation. The gateway decides whom to notify
(presence, guest filter, the per-conversation rate gate) before it acks the
message, so after an ack `chat_notifications_total{channel="any",
result="rate_limited"}` already tells whether the gate was asked; the mail
itself goes out afterwards and is waited for, bounded, on the SMTP server.
"""
import re
import socket
import uuid

import pytest

from harness import Client, Gateway, SmtpSink, wait_until

MAIL_FROM = "chat@seitech.test"
NOTIFICATIONS = "chat_notifications_total"
ONLINE_USERS = "chat_online_users"

ADA = ("1", "Ada Student", "student")
IAN = ("2", "Ian Instructor", "instructor")
IAN_EMAIL = "ian@example.org"
ROOT_ADMIN = ("9", "Root Admin", "admin")
ROOT_EMAIL = "root@example.org"
SAM = ("5", "Sam Agent", "support-agent")


@pytest.fixture
def smtp():
    s = SmtpSink()
    yield s
    s.stop()


@pytest.fixture
def gw(smtp):
    # A window far longer than any test: a second notification inside it is
    # always rate limited.
    g = Gateway(extra_args=["--smtp-url", smtp.url, "--mail-from", MAIL_FROM,
                            "--notify-interval-secs", "3600"])
    yield g
    g.stop()


@pytest.fixture
def connect(gw):
    clients = []

    def _connect(user=None):
        c = Client(gw, token=gw.token(*user) if user else None)
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        if c.sio.connected:
            c.close()


def uniq(text):
    return f"{text} {uuid.uuid4().hex[:12]}"


def sent(gw):
    return gw.metric(NOTIFICATIONS, channel="email", result="sent")


def failed(gw):
    return gw.metric(NOTIFICATIONS, channel="email", result="failed")


def rate_limited(gw):
    return gw.metric(NOTIFICATIONS, channel="any", result="rate_limited")


def parts(msg):
    """The text/plain and text/html bodies of a multipart/alternative mail."""
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    found = {}
    for part in msg.iter_parts():
        found.setdefault(part.get_content_type(), part.get_content())
    assert set(found) == {"text/plain", "text/html"}, sorted(found)
    return found["text/plain"], found["text/html"]


def go_offline(client, watcher, user_id):
    """Closes `client` (its user's only socket) and waits until `watcher`, who
    shares a conversation with it, is told the user is offline: presence is
    counted down before `user:offline` goes out."""
    client.close()
    watcher.wait("user:offline", lambda u: u == user_id)


def test_offline_participant_gets_one_digest_per_window(gw, smtp, connect):
    ada = connect(ADA)
    assert sent(gw) == 0 and rate_limited(gw) == 0

    # Ian has no open connection: one digest, to his directory address.
    first = uniq("Grüße, Ian — are you there? ✓")
    res = ada.ok("message", {"recipientId": IAN[0], "content": first})
    room = res["message"]["roomId"]
    mails = smtp.wait_for(1)
    assert len(mails) == 1, [m["Subject"] for _, _, m in mails]
    mail_from, rcpt, msg = mails[0]
    assert mail_from == MAIL_FROM
    assert rcpt == [IAN_EMAIL]
    assert IAN_EMAIL in msg["To"]
    assert MAIL_FROM in msg["From"]
    assert msg["Subject"] == "New messages from Ada Student"
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", msg["Message-ID"] or ""), msg["Message-ID"]
    text, html = parts(msg)
    assert re.search(r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\] Ada Student: ", text), text
    for body in (text, html):
        assert "New messages from Ada Student" in body
        assert "Ada Student" in body
        assert first in body
    assert "<h2>New messages from Ada Student</h2>" in html
    wait_until(lambda: sent(gw) == 1, "email sent counter = 1")

    # A second message in the same conversation inside the window: rate
    # limited (counted before the ack, so no waiting is needed), no mail.
    second = uniq("hello again")
    ada.ok("message", {"roomId": room, "content": second})
    wait_until(lambda: rate_limited(gw) == 1, "rate_limited counter = 1")
    assert sent(gw) == 1
    assert failed(gw) == 0

    # Marker: a message in another conversation (admin -> Ian) is mailed, and
    # it is the only further mail; the suppressed message never was.
    admin = connect(ROOT_ADMIN)
    marker = uniq("from the admin")
    admin.ok("message", {"recipientId": IAN[0], "content": marker})
    mails = smtp.wait_for(2)
    _, rcpt2, msg2 = mails[1]
    assert rcpt2 == [IAN_EMAIL]
    assert msg2["Subject"] == "New messages from Root Admin"
    text2, _ = parts(msg2)
    assert marker in text2 and first not in text2
    wait_until(lambda: sent(gw) == 2, "email sent counter = 2")
    assert smtp.count() == 2
    assert all(second not in m.as_string() for _, _, m in smtp.mails)
    assert rate_limited(gw) == 1 and failed(gw) == 0


def test_connected_participant_gets_no_email(gw, smtp, connect):
    ada = connect(ADA)
    ian = connect(IAN)

    # Ian is connected: he gets the message over his socket, and nobody is
    # notified. Whether the gate was asked is settled by the time of the ack.
    online = uniq("you are online")
    res = ada.ok("message", {"recipientId": IAN[0], "content": online})
    room = res["message"]["roomId"]
    got = ian.wait("message", lambda m: m and m.get("id") == res["message"]["id"])
    assert got["content"] == online
    assert rate_limited(gw) == 0 and sent(gw) == 0 and smtp.count() == 0

    # Proof that the first message was not notified (not merely not yet): once
    # Ian is offline, the next message of the same conversation is mailed and
    # not rate limited, which it would be had the first one used the window.
    go_offline(ian, ada, IAN[0])
    offline = uniq("now you are offline")
    ada.ok("message", {"roomId": room, "content": offline})
    mails = smtp.wait_for(1)
    assert len(mails) == 1, [m["Subject"] for _, _, m in mails]
    _, rcpt, msg = mails[0]
    assert rcpt == [IAN_EMAIL]
    text, html = parts(msg)
    # the digest shows the conversation's recent messages, oldest first
    assert text.index(online) < text.index(offline)
    assert offline in html
    wait_until(lambda: sent(gw) == 1, "email sent counter = 1")
    assert smtp.count() == 1 and failed(gw) == 0
    assert rate_limited(gw) == 0


def test_guest_participant_never_gets_email(gw, smtp, connect):
    sam = connect(SAM)
    guest = connect()
    guest_id = guest.session["userId"]
    assert guest_id.startswith("guest_")
    # The visitor leaves an email address in the support form: the gateway
    # knows where it could mail, and must not.
    start = guest.ok("support:start", {
        "name": "Vic Visitor", "email": "vic@example.org",
        "queryType": "technical_support", "message": uniq("my video does not play"),
    })
    assert start["status"] == "assigned", start
    room = start["conversation"]["id"]
    sam.wait("conversation:new", lambda c: c and c.get("id") == room)

    # The visitor closes its tab. Guests' presence is not announced, so wait
    # for the online-users gauge (set after presence is counted down).
    guest.close()
    wait_until(lambda: gw.metric(ONLINE_USERS) == 1, "only Sam online")

    for i in range(2):
        sam.ok("message", {"roomId": room, "content": uniq(f"are you still there? {i}")})
        # Had the guest been a notification target, the second message would
        # hit the window of the first.
        assert rate_limited(gw) == 0
    assert sent(gw) == 0

    # Marker: an offline signed-in user (Root Admin) is mailed; that is the
    # only mail.
    marker = uniq("to the admin")
    sam.ok("message", {"recipientId": ROOT_ADMIN[0], "content": marker})
    mails = smtp.wait_for(1)
    assert len(mails) == 1, [m["Subject"] for _, _, m in mails]
    _, rcpt, msg = mails[0]
    assert rcpt == [ROOT_EMAIL]
    assert msg["Subject"] == "New messages from Sam Agent"
    assert marker in parts(msg)[0]
    wait_until(lambda: sent(gw) == 1, "email sent counter = 1")
    assert smtp.count() == 1
    assert rate_limited(gw) == 0 and failed(gw) == 0


def test_the_digest_shows_only_what_the_reader_missed(gw, smtp, connect):
    ada = connect(ADA)
    ian = connect(IAN)
    seen = uniq("already read")
    res = ada.ok("message", {"recipientId": IAN[0], "content": seen})
    room = res["message"]["roomId"]
    ian.wait("message", lambda m: m and m.get("id") == res["message"]["id"])
    ian.ok("read", {"roomId": room, "messageId": res["message"]["id"]})
    go_offline(ian, ada, IAN[0])

    missed = uniq("missed this one")
    ada.ok("message", {"roomId": room, "content": missed})
    mails = smtp.wait_for(1)
    text, html = parts(mails[0][2])
    assert missed in text and missed in html
    assert seen not in text and seen not in html, "a message Ian had read is not in the digest"


def closed_port():
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failed_email_gives_the_window_back():
    # The SMTP server is down: the notification fails, and the next message
    # tries again instead of the window keeping Ian from hearing anything.
    g = Gateway(extra_args=["--smtp-url", f"smtp://127.0.0.1:{closed_port()}",
                            "--mail-from", MAIL_FROM, "--notify-interval-secs", "3600"])
    ada = Client(g, token=g.token(*ADA))
    try:
        room = ada.ok("message", {"recipientId": IAN[0], "content": uniq("first")})["message"]["roomId"]
        wait_until(lambda: failed(g) == 1, "email failed counter = 1")
        ada.ok("message", {"roomId": room, "content": uniq("second")})
        wait_until(lambda: failed(g) == 2, "the second message was tried too")
        assert rate_limited(g) == 0 and sent(g) == 0
    finally:
        ada.close()
        g.stop()


def test_nothing_configured_opens_no_window():
    # No SMTP, no Web Push, no Odoo: nobody can be notified, so nothing is
    # gated or counted (the rate-limited counter used to climb regardless).
    g = Gateway(extra_args=["--notify-interval-secs", "3600"])
    ada = Client(g, token=g.token(*ADA))
    try:
        room = ada.ok("message", {"recipientId": IAN[0], "content": uniq("first")})["message"]["roomId"]
        ada.ok("message", {"roomId": room, "content": uniq("second")})
        # decided before each ack (see the module's docstring)
        assert rate_limited(g) == 0 and sent(g) == 0 and failed(g) == 0
    finally:
        ada.close()
        g.stop()
