# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Who may start a conversation with whom (protocol section 5).

The facts that need the database (does the target teach one of the
caller's courses, is the caller agent assigned to a chat with the target)
are computed by the caller of ``may_start`` and passed in, so this stays a
pure function shared by the addon and the double.
"""


def may_start(caller_role, caller_id, target_role, target_id, *,
              target_teaches_caller=False, caller_assigned_to_target=False):
    if str(caller_id) == str(target_id):
        return False
    if caller_role == "admin":
        return True
    if caller_role == "student":
        if target_role == "support-agent":
            return True
        return target_role == "instructor" and target_teaches_caller
    if caller_role == "instructor":
        return target_role in ("admin", "support-agent")
    if caller_role == "support-agent":
        return target_role == "admin" or caller_assigned_to_target
    # "public" reaches agents only through support:start, never through the
    # directory, so it may start nothing here.
    return False
