# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Odoo -> gateway push events (docs/odoo-gateway-api.md section 6).

The addon and the test double build the ``conversation`` event, and decide
what a back-office change of a support chat's agent means, with the same
code, so the gateway is tested against what Odoo really sends; and they
read the gateway's answer to a push the same way.
"""

#: Answers of the gateway that refuse a push for good: it could not read the
#: body (400) or will never take it as it is (413, 415, 422). Sending the
#: same bytes again cannot help, so the row is parked for a manager at once
#: instead of being retried 48 times.
REFUSED_FOR_GOOD = frozenset({400, 413, 415, 422})


def delivery_state(status):
    """The state a push row takes after the gateway answered ``status``.

    ``"sent"`` for any 2xx; ``"failed"`` for an answer in REFUSED_FOR_GOOD;
    ``"pending"`` (the cron sends it again, with backoff) for anything else:
    503 when the gateway's store or desk failed, 401 while an operator fixes
    the secret or a clock, 404 while the gateway has no Odoo bridge, 429, and
    every other 5xx (docs/odoo-gateway-api.md section 6).
    """
    if 200 <= status < 300:
        return "sent"
    if status in REFUSED_FOR_GOOD:
        return "failed"
    return "pending"


class AgentChangeError(ValueError):
    """A change of agent the gateway cannot carry out; nothing is written."""


def conversation_event(conversation_id, status, agent_id):
    """``data`` of a ``conversation`` push event.

    ``agent_id``: an Odoo user id (int or decimal string) or a falsy value;
    on the wire it is a decimal string or null.
    """
    return {
        "conversation_id": conversation_id,
        "status": status,
        "assigned_agent_id": str(agent_id) if agent_id else None,
    }


def agent_change(state, old_agent, new_agent):
    """What a manager setting a support chat's agent from ``old_agent`` to
    ``new_agent`` (user ids or falsy) means, for a chat in ``state``.

    Returns the chat's state after the change (``"active"``: the chat is the
    new agent's, and the gateway is told), or None when the agent does not
    change (nothing to tell). Raises AgentChangeError for an ended chat
    (its agent is history) and for clearing the agent of an active chat (the
    visitor would be left talking to no one: choose another agent, or end
    the chat).
    """
    old = int(old_agent) if old_agent else None
    new = int(new_agent) if new_agent else None
    if old == new:
        return None
    if state == "ended":
        raise AgentChangeError("An ended conversation keeps its agent.")
    if new is None:
        if state == "active":
            raise AgentChangeError(
                "An active conversation needs an agent: choose another agent or end it.")
        return None
    return "active"
