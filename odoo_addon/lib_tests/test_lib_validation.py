import datetime as dt

import pytest
from seitech_chat_lib import ids, validation
from seitech_chat_lib.constants import MAX_BATCH

T = "2026-11-24T10:00:00.000Z"


def conv(**kw):
    item = {"kind": "conversation", "uuid": "op-1", "conversation_id": "c-1", "type": "support",
            "visitor": {"user_id": "guest_1_a", "name": "Vi", "email": "vi@example.org"},
            "query_type": "billing", "created_at": T}
    item.update(kw)
    return item


def msg(**kw):
    item = {"kind": "message", "uuid": "m-1", "conversation_id": "c-1", "author_id": "5",
            "content": " hi\x00 there\n ", "created_at": T}
    item.update(kw)
    return item


def test_conversation_defaults_and_normalisation():
    norm = validation.validate_item(conv())
    assert norm["status"] == "queued"
    assert norm["created_at"] == dt.datetime(2026, 11, 24, 10, 0, 0)
    assert validation.validate_item(conv(type="group", query_type=None, visitor=None,
                                         participant_ids=[1, "2", 2]))["participant_ids"] == [1, 2]


def test_time_offsets_become_utc():
    norm = validation.validate_item(conv(created_at="2026-11-24T12:00:00+02:00"))
    assert norm["created_at"] == dt.datetime(2026, 11, 24, 10, 0, 0)


def test_message_content_is_cleaned_and_author_parsed():
    norm = validation.validate_item(msg())
    assert norm["content"] == "hi there"
    assert norm["author"] == ("user", 5)
    assert norm["message_id"] == "m-1"
    guest = validation.validate_item(msg(author_id="guest_9_z", author_name="Vi"))
    assert guest["author"] == ("guest", "guest_9_z")


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("nope", "object"),
        ({"kind": "explode", "uuid": "x"}, "kind"),
        (conv(uuid="../etc"), "uuid"),
        (conv(uuid=None), "uuid"),
        (conv(type="dm"), "type"),
        (conv(query_type=None), "query_type"),
        (conv(visitor=None), "visitor"),
        (conv(type="group", query_type="billing", visitor=None), "support conversations only"),
        (conv(type="group", query_type=None, visitor=None, status="queued"), "queued"),
        (conv(participant_ids=["guest_1_a"]), "guest"),
        (conv(participant_ids="1,2"), "participant_ids"),
        (conv(created_at="2026-11-24T10:00:00"), "offset"),
        (conv(created_at="yesterday"), "ISO"),
        (conv(status="paused"), "status"),
        (conv(assigned_agent_id="guest_x_1"), "Odoo user"),
        (conv(visitor={"name": "Vi", "email": "not-an-email"}), "email"),
        (msg(content="   "), "content or an attachment"),
        (msg(content="x" * 4001), "4000"),
        (msg(content=5), "string"),
        (msg(author_id=None), "author_id"),
        (msg(author_id="guest_9_z"), "author_name"),
        (msg(author_id=True), "user id"),
        (msg(author_id=-3), "positive"),
        (msg(type="video"), "type"),
        (msg(attachments=[{"id": "a1"}] * 11), "at most 10"),
        (msg(attachments=[{"id": "a1", "name": "f", "mimeType": "text/plain", "size": -1, "url": "/x"}]),
         "size"),
        ({"kind": "edit", "uuid": "e", "message_id": "m-1", "content": "  ", "edited_at": T}, "empty"),
        ({"kind": "reaction", "uuid": "r", "message_id": "m-1", "user_id": 1, "emoji": "👍",
          "added": "yes"}, "added"),
        ({"kind": "reaction", "uuid": "r", "message_id": "m-1", "user_id": 1, "emoji": "x" * 33,
          "added": True}, "longer"),
        ({"kind": "rating", "uuid": "r", "conversation_id": "c-1", "rating": 6}, "1..5"),
        ({"kind": "rating", "uuid": "r", "conversation_id": "c-1", "rating": True}, "1..5"),
        ({"kind": "read", "uuid": "r", "conversation_id": "c-1", "message_id": "m-1", "user_id": "x",
          "read_at": T}, "user id"),
    ],
)
def test_invalid_items_are_refused_with_a_reason(item, fragment):
    with pytest.raises(validation.ItemError) as err:
        validation.validate_item(item)
    assert err.value.code == "invalid"
    assert fragment in err.value.reason


def test_unknown_keys_are_ignored_for_forward_compatibility():
    assert validation.validate_item(msg(future_field={"x": 1}))["content"] == "hi there"


def test_item_uuid_echoes_only_well_formed_uuids():
    assert validation.item_uuid({"uuid": "m-1"}) == "m-1"
    assert validation.item_uuid({"uuid": "bad uuid"}) is None
    assert validation.item_uuid(["m-1"]) is None


def test_batch_limits():
    validation.validate_batch([{}] * MAX_BATCH)
    with pytest.raises(validation.BatchError):
        validation.validate_batch([{}] * (MAX_BATCH + 1))
    with pytest.raises(validation.BatchError):
        validation.validate_batch({"kind": "message"})


def test_uuid7_is_version_7_and_time_ordered():
    a, b = ids.uuid7(now_ms=1_700_000_000_000), ids.uuid7(now_ms=1_700_000_000_001)
    assert a[14] == "7" and a[19] in "89ab"
    assert a < b
    assert ids.iso_utc(dt.datetime(2026, 1, 2, 3, 4, 5, 678000)) == "2026-01-02T03:04:05.678Z"
