# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from . import (
    discuss_channel,
    res_users,
    seitech_chat_agent,
    seitech_chat_dead_letter,
    seitech_chat_gateway,
    seitech_chat_message,
    seitech_chat_op,
    seitech_chat_push,
)
