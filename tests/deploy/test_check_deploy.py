"""The deploy checker fails on the mistakes it is there to catch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import check_deploy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy", ignore=shutil.ignore_patterns("grafana", "prometheus"))
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def failures(capsys: pytest.CaptureFixture[str], root: Path) -> list[str]:
    assert check_deploy.main(root) == 1
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]


def test_the_repository_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_deploy.main(ROOT) == 0, capsys.readouterr().out


# (file, text, replaced by, what a failure line must say): one mistake each.
MISTAKES = {
    "two nodes with one node id": (
        "deploy/compose.yaml", "NODE_ID: gateway2", "NODE_ID: gateway1", "NODE_ID"),
    "a secret written in the file": (
        "deploy/compose.yaml", "${JWT_SECRET:?set JWT_SECRET in .env}", "hunter2", "no secret"),
    "a node missing from the upstream": (
        "deploy/nginx/compose.conf", "    server gateway3:3001 max_fails=3 fail_timeout=10s;\n", "",
        "exactly the gateway nodes"),
    "an upstream that is not sticky": (
        "deploy/nginx/compose.conf", "hash $remote_addr consistent;", "least_conn;", "sticky"),
    "locations drifting apart": (
        "deploy/nginx/compose.conf", "proxy_buffering off;", "proxy_buffering on;", "locations"),
    "nodes on separate media volumes": (
        "deploy/compose.yaml", '"gateway2-data:/data", "media:/media"',
        '"gateway2-data:/data", "gateway2-data:/media"', "media volume"),
}


@pytest.mark.parametrize(("file", "old", "new", "said"), MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_is_caught(
    tree: Path, capsys: pytest.CaptureFixture[str], file: str, old: str, new: str, said: str
) -> None:
    edit(tree / file, old, new)
    assert any(said in f for f in failures(capsys, tree))
