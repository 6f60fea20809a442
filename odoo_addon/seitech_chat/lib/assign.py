# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Least-loaded agent choice (protocol section 6).

The gateway owns live assignment (it knows who is online); Odoo uses the
same rule when an agent is assigned from the back office, and the double
uses it to answer ``agents()`` consistently.
"""


def pick_agent(agents, department):
    """Return the chosen agent dict or None.

    ``agents``: dicts with ``user_id``, ``department``, ``is_available``,
    ``online`` (default True), ``max_concurrent_chats``,
    ``current_chat_count`` and ``idle_since`` (sortable; smaller means idle
    longer; None counts as idle forever).
    """
    for dept in (department, "general"):
        pool = [
            a for a in agents
            if a.get("department") == dept
            and a.get("is_available")
            and a.get("online", True)
            and a.get("current_chat_count", 0) < a.get("max_concurrent_chats", 5)
        ]
        if pool:
            return min(pool, key=lambda a: (
                a.get("current_chat_count", 0),
                (0, "") if a.get("idle_since") is None else (1, str(a["idle_since"])),
                str(a["user_id"]),
            ))
        if dept == "general":
            break
    return None
