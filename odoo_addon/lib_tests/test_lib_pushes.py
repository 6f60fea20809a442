import pytest
from seitech_chat_lib import pushes


def test_conversation_event_names_the_agent_as_a_string_or_null():
    assert pushes.conversation_event("c-1", "active", 6) == {
        "conversation_id": "c-1", "status": "active", "assigned_agent_id": "6"}
    assert pushes.conversation_event("c-1", "ended", False)["assigned_agent_id"] is None
    assert pushes.conversation_event("c-1", "queued", None)["assigned_agent_id"] is None


@pytest.mark.parametrize(("state", "old", "new"), [
    ("active", 5, 6),         # a manager reassigns
    ("active", "5", 6),       # ids as the gateway spells them
    ("queued", None, 6),      # an agent takes a queued chat
    ("queued", False, "6"),
])
def test_a_new_agent_makes_the_chat_active(state, old, new):
    assert pushes.agent_change(state, old, new) == "active"


@pytest.mark.parametrize(("state", "old", "new"), [
    ("active", 6, 6),
    ("active", "6", 6),
    ("queued", None, False),
    ("ended", 6, 6),
    ("queued", 5, None),      # a queued chat loses a stale agent: nothing to tell
])
def test_no_change_of_agent_is_nothing_to_push(state, old, new):
    assert pushes.agent_change(state, old, new) is None


def test_an_active_chat_keeps_an_agent():
    with pytest.raises(pushes.AgentChangeError, match="needs an agent"):
        pushes.agent_change("active", 6, False)


def test_an_ended_chat_keeps_its_agent():
    with pytest.raises(pushes.AgentChangeError, match="ended"):
        pushes.agent_change("ended", 6, 5)


@pytest.mark.parametrize(("status", "state"), [
    (200, "sent"), (204, "sent"),
    # the gateway could not apply it now (its store or desk failed): resend
    (503, "pending"), (500, "pending"), (502, "pending"),
    # fixed by an operator, not in the push: resend once it is
    (401, "pending"), (404, "pending"), (429, "pending"),
    # the same bytes can never be applied: parked for a manager at once
    (400, "failed"), (413, "failed"), (415, "failed"), (422, "failed"),
])
def test_the_gateway_answer_decides_whether_a_push_is_sent_again(status, state):
    assert pushes.delivery_state(status) == state
