# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Role of a user on the chat wire, and support department by query type."""

from .constants import DEPARTMENTS, QUERY_TYPE_DEPARTMENT, QUERY_TYPES


def map_role(*, is_system, is_agent, teaches_courses, enrolled_courses,
             is_public_user=False):
    """Return the wire role of a user from facts the ORM computes.

    The order is the privilege order: a course responsible who is also an
    agent acts as an agent, because the support desk must be able to assign
    chats to it. Odoo's public user (the anonymous website user) is always
    ``public`` whatever groups a misconfiguration gave it.
    """
    if is_public_user:
        return "public"
    if is_system:
        return "admin"
    if is_agent:
        return "support-agent"
    if teaches_courses:
        return "instructor"
    if enrolled_courses:
        return "student"
    return "public"


def department_for(query_type):
    """Department that serves a support query type (protocol section 6)."""
    if query_type not in QUERY_TYPES:
        raise ValueError(f"unknown query type {query_type!r}")
    return QUERY_TYPE_DEPARTMENT[query_type]


def is_department(value):
    return value in DEPARTMENTS
