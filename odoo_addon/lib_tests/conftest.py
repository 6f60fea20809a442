"""Load ../seitech_chat/lib (the addon's ORM-free package) without importing Odoo: the
addon's own __init__ imports odoo, so the folder is loaded under its own
name, exactly as tests/odoo_double does."""

import importlib.util
import pathlib
import sys

LIB_DIR = pathlib.Path(__file__).resolve().parents[1] / "seitech_chat" / "lib"
NAME = "seitech_chat_lib"

if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        NAME, LIB_DIR / "__init__.py", submodule_search_locations=[str(LIB_DIR)])
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _mod
    _spec.loader.exec_module(_mod)
