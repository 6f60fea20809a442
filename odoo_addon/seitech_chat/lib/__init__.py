# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
"""ORM-free logic of seitech_chat.

Everything in this package imports only the standard library, so that it
can be unit-tested without Odoo and reused verbatim by the JSON-RPC double
in ``tests/odoo_double`` (the double loads this folder by path). Only
relative imports are allowed inside it for the same reason.
"""
