# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "Seitech Chat",
    "summary": "Back office and JSON-RPC bridge of the seitech-chat Socket.IO gateway",
    "version": "17.0.1.0.0",
    "category": "Website/Live Chat",
    "website": "https://github.com/seitech/seitech-chat",
    "author": "Seitech",
    "license": "LGPL-3",
    "application": True,
    "depends": ["mail", "website_slides"],
    "external_dependencies": {"python": ["requests"]},
    "data": [
        "security/seitech_chat_security.xml",
        "security/ir.model.access.csv",
        "security/seitech_chat_rules.xml",
        "data/ir_cron.xml",
        "views/discuss_channel_views.xml",
        "views/seitech_chat_message_views.xml",
        "views/seitech_chat_agent_views.xml",
        "views/seitech_chat_push_views.xml",
        "views/seitech_chat_dead_letter_views.xml",
        "views/menus.xml",
    ],
    "post_init_hook": "post_init_hook",
}
