import json
import pathlib

import pytest
from seitech_chat_lib import assign, roles, routing


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"is_system": True, "is_agent": True, "teaches_courses": True, "enrolled_courses": True}, "admin"),
        ({"is_system": False, "is_agent": True, "teaches_courses": True, "enrolled_courses": True},
         "support-agent"),
        ({"is_system": False, "is_agent": False, "teaches_courses": True, "enrolled_courses": True},
         "instructor"),
        ({"is_system": False, "is_agent": False, "teaches_courses": False, "enrolled_courses": True}, "student"),
        ({"is_system": False, "is_agent": False, "teaches_courses": False, "enrolled_courses": False}, "public"),
    ],
)
def test_map_role_follows_privilege_order(facts, expected):
    assert roles.map_role(**facts) == expected


def test_public_website_user_is_public_whatever_its_groups():
    assert roles.map_role(is_system=True, is_agent=True, teaches_courses=True,
                          enrolled_courses=True, is_public_user=True) == "public"


@pytest.mark.parametrize(("query", "dept"), [
    ("course_inquiry", "sales"), ("technical_support", "support"),
    ("billing", "billing"), ("other", "general")])
def test_department_for_query_type(query, dept):
    assert roles.department_for(query) == dept


@pytest.mark.parametrize("bad", ["", "Billing", None, "sales"])
def test_department_for_unknown_query_type_raises(bad):
    with pytest.raises(ValueError):
        roles.department_for(bad)


# The routing table is shared with the gateway (Rust) and the frontend
# (TypeScript): tests/fixtures/routing-cases.json, one row a case.
ROUTING_TABLE = json.loads(
    (pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "routing-cases.json")
    .read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize(
    "case", ROUTING_TABLE,
    ids=[f"{c['caller']['id']}->{c['target']['id']}:{c['allowed']}" for c in ROUTING_TABLE])
def test_routing_policy_follows_the_shared_table(case):
    allowed = routing.may_start(
        case["caller"]["role"], case["caller"]["id"], case["target"]["role"], case["target"]["id"],
        target_teaches_caller=case["relation"]["targetTeachesCaller"],
        caller_assigned_to_target=case["relation"]["callerAssignedToTarget"])
    assert allowed is case["allowed"], case["why"]


def test_routing_never_allows_self():
    assert routing.may_start("admin", "1", "admin", 1) is False


def _agent(uid, dept, count, idle=None, **kw):
    return {"user_id": uid, "department": dept, "current_chat_count": count,
            "max_concurrent_chats": kw.pop("max", 5), "is_available": kw.pop("available", True),
            "idle_since": idle, **kw}


def test_pick_agent_least_loaded_in_department():
    agents = [_agent("1", "sales", 2), _agent("2", "sales", 1), _agent("3", "general", 0)]
    assert assign.pick_agent(agents, "sales")["user_id"] == "2"


def test_pick_agent_ties_go_to_idle_longest():
    agents = [_agent("1", "support", 1, idle="2026-01-02T00:00:00Z"),
              _agent("2", "support", 1, idle="2026-01-01T00:00:00Z")]
    assert assign.pick_agent(agents, "support")["user_id"] == "2"


def test_pick_agent_falls_back_to_general_then_none():
    agents = [_agent("1", "billing", 5), _agent("2", "general", 0, available=False),
              _agent("3", "general", 4, max=5), _agent("4", "sales", 0, online=False)]
    assert assign.pick_agent(agents, "billing")["user_id"] == "3"
    assert assign.pick_agent(agents[:2], "billing") is None
    assert assign.pick_agent([agents[3]], "sales") is None
