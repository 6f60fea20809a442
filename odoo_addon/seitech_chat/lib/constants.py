# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""Shared vocabulary of the addon, the gateway API and the double."""

API_VERSION = 1
# Oldest client version this server still answers correctly; bumped only when a
# method is removed or changes meaning (additions keep API_VERSION compatible).
API_MIN_COMPATIBLE = 1

MAX_BATCH = 500
MAX_CONTENT_CHARS = 4000
MAX_ATTACHMENTS = 10
MAX_EMOJI_CHARS = 32
MAX_NAME_CHARS = 256
MAX_COMMENT_CHARS = 2000
MAX_PREVIEW_CHARS = 200

ROLES = ("public", "student", "instructor", "support-agent", "admin")

QUERY_TYPES = ("course_inquiry", "technical_support", "billing", "other")
DEPARTMENTS = ("sales", "support", "billing", "general")
QUERY_TYPE_DEPARTMENT = {
    "course_inquiry": "sales",
    "technical_support": "support",
    "billing": "billing",
    "other": "general",
}

# Conversation types on the wire (protocol section 4) and their value in the
# Odoo field discuss.channel.seitech_chat_type.
WIRE_TO_CHAT_TYPE = {
    "direct": "chat",
    "group": "group",
    "support": "support",
    "channel": "broadcast",
}
CHAT_TYPE_TO_WIRE = {v: k for k, v in WIRE_TO_CHAT_TYPE.items()}

CONVERSATION_STATES = ("queued", "active", "ended")
MESSAGE_TYPES = ("text", "file", "system")

INGEST_KINDS = (
    "conversation",
    "message",
    "read",
    "edit",
    "delete",
    "reaction",
    "end",
    "rating",
)

# Result status of one ingest item.
OK = "ok"
DUPLICATE = "duplicate"
REJECTED = "rejected"

# Rejection codes (all permanent: resending the same item gives the same code).
E_INVALID = "invalid"
E_UNKNOWN_CONVERSATION = "unknown_conversation"
E_UNKNOWN_MESSAGE = "unknown_message"
E_UNKNOWN_USER = "unknown_user"
E_CONFLICT = "conflict"

PUSH_EVENT_TYPES = ("message", "conversation", "agent", "user")
SIGNATURE_HEADER = "X-Seitech-Signature"
TIMESTAMP_HEADER = "X-Seitech-Timestamp"
SIGNATURE_TOLERANCE_SECS = 300
