"""Load the addon's ORM-free package (odoo_addon/seitech_chat/lib) by path.

Importing it as ``seitech_chat.lib`` would run the addon's __init__, which
imports Odoo; loading the folder under its own name keeps the double on the
very same code as the addon without Odoo installed.
"""

import importlib
import importlib.util
import pathlib
import sys

LIB_DIR = pathlib.Path(__file__).resolve().parents[2] / "odoo_addon" / "seitech_chat" / "lib"
NAME = "seitech_chat_lib"


def load():
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            NAME, LIB_DIR / "__init__.py", submodule_search_locations=[str(LIB_DIR)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[NAME]


def sub(name):
    load()
    return importlib.import_module(f"{NAME}.{name}")
