#!/usr/bin/env python3
"""Static checks of the seitech_chat addon that need no Odoo.

1. the manifest is a literal dict with the keys and values OCA expects,
   and every data file it lists exists (and every data file is listed);
2. every XML file of the addon parses;
3. every model of ir.model.access.csv is declared by the addon's Python
   (``_name = "..."``) or is a known model of a module it depends on.

Exit status 1 with one line per problem; 0 and a summary otherwise.
"""

import ast
import csv
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

ADDON = pathlib.Path(__file__).resolve().parents[1] / "seitech_chat"
# Models of the dependencies (mail, website_slides and their own) that an
# access line may legitimately name.
KNOWN_ODOO_MODELS = {
    "res.users", "res.partner", "res.groups", "discuss.channel", "discuss.channel.member",
    "mail.message", "mail.mail", "slide.channel", "slide.channel.partner", "ir.config_parameter",
}
REQUIRED_KEYS = {"name", "version", "license", "author", "depends", "data", "summary"}


def check_manifest(problems):
    path = ADDON / "__manifest__.py"
    try:
        manifest = ast.literal_eval(path.read_text(encoding="utf-8"))
    except (ValueError, SyntaxError) as exc:
        problems.append(f"{path}: not a literal dict ({exc})")
        return
    if not isinstance(manifest, dict):
        problems.append(f"{path}: not a dict")
        return
    for key in sorted(REQUIRED_KEYS - set(manifest)):
        problems.append(f"manifest: missing key {key!r}")
    if not re.fullmatch(r"17\.0\.\d+\.\d+\.\d+", str(manifest.get("version", ""))):
        problems.append("manifest: version must be 17.0.x.y.z")
    if manifest.get("license") != "LGPL-3":
        problems.append("manifest: license must be LGPL-3")
    if "description" in manifest:
        problems.append("manifest: use README.rst, not a description key")
    listed = manifest.get("data", [])
    for rel in listed:
        if not (ADDON / rel).is_file():
            problems.append(f"manifest: data file {rel} does not exist")
    on_disk = {str(p.relative_to(ADDON)) for d in ("data", "security", "views")
               for p in (ADDON / d).glob("*") if p.suffix in (".xml", ".csv")}
    for rel in sorted(on_disk - set(listed)):
        problems.append(f"manifest: {rel} exists but is not in data")
    sec = [i for i, rel in enumerate(listed) if rel.startswith("security/")]
    if sec and sec[0] != 0:
        problems.append("manifest: security files must load first (groups before access)")
    hook = manifest.get("post_init_hook")
    if hook and f"def {hook}(" not in (ADDON / "hooks.py").read_text(encoding="utf-8"):
        problems.append(f"manifest: post_init_hook {hook} not defined in hooks.py")


def check_xml(problems):
    count = 0
    for path in sorted(ADDON.rglob("*.xml")):
        count += 1
        try:
            root = ET.parse(path).getroot()  # noqa: S314 -- our own repository files
        except ET.ParseError as exc:
            problems.append(f"{path}: {exc}")
            continue
        if root.tag != "odoo":
            problems.append(f"{path}: root element must be <odoo>")
    return count


def declared_models():
    names = set()
    for path in ADDON.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "_name" for t in node.targets) \
                    and isinstance(node.value, ast.Constant):
                names.add(node.value.value)
    return names


def check_access(problems):
    models = declared_models()
    path = ADDON / "security" / "ir.model.access.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = ["id", "name", "model_id:id", "group_id:id", "perm_read", "perm_write",
                "perm_create", "perm_unlink"]
    if rows and list(rows[0].keys()) != expected:
        problems.append(f"{path}: header must be {','.join(expected)}")
    ids = set()
    for n, row in enumerate(rows, start=2):
        if row["id"] in ids:
            problems.append(f"{path}:{n}: duplicate id {row['id']}")
        ids.add(row["id"])
        ref = row["model_id:id"].split(".")[-1]
        if not ref.startswith("model_"):
            problems.append(f"{path}:{n}: model_id must be model_<name>")
            continue
        candidates = {m for m in models | KNOWN_ODOO_MODELS if "model_" + m.replace(".", "_") == ref}
        if not candidates:
            problems.append(f"{path}:{n}: model {ref} is not declared by the addon nor a known Odoo model")
        for perm in expected[4:]:
            if row[perm] not in ("0", "1"):
                problems.append(f"{path}:{n}: {perm} must be 0 or 1")
    for model in sorted(models):
        if model == "seitech.chat.gateway":
            continue  # an AbstractModel: no table, no access lines
        if not any(r["model_id:id"].endswith("model_" + model.replace(".", "_")) for r in rows):
            problems.append(f"{path}: model {model} has no access line")
    return len(rows)


def main():
    problems = []
    check_manifest(problems)
    n_xml = check_xml(problems)
    n_access = check_access(problems)
    for p in problems:
        print(f"check_addon: {p}")
    if problems:
        print(f"check_addon: {len(problems)} problem(s)")
        return 1
    print(f"check_addon: manifest ok, {n_xml} XML files parse, {n_access} access lines name known models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
