# Copyright 2026 Seitech
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
from . import test_access, test_gateway, test_models, test_odoo17, test_push, test_token
