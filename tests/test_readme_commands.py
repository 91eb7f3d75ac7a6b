"""The README's two top commands: the first installs the runtime only and runs the main job, the
second installs [dev] and runs the tests, and .ci/run runs exactly that; no link leaves the repo."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _sh_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", README, flags=re.M | re.S)]


def test_the_first_command_installs_the_runtime_only_and_runs_dita() -> None:
    first, second = _sh_blocks()[:2]
    assert first == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dita run"
    assert second == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest -n auto"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = " ".join(project["dependencies"])
    for heavy in ("chdb", "matplotlib", "pyarrow", "pytest", "playwright", "clickhouse"):
        assert heavy not in runtime
    assert project["optional-dependencies"]["clickhouse"] == ["clickhouse-connect>=0.8"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == _sh_blocks()[1]


def test_no_link_points_outside_the_repository() -> None:
    for target in re.findall(r"\]\(([^)]+)\)", README):
        assert not target.startswith(("../", "/", "http")), target
        assert (ROOT / target.split("#")[0]).exists(), target
    assert "../shared" not in README


def _architecture_tree() -> set[str]:
    """The names the README's architecture tree lists under ``dita/``."""
    section = README.split("## Architecture", 1)[1]
    block = re.search(r"^```text\n(.*?)^```", section, flags=re.M | re.S)
    assert block is not None, "the architecture section has no ```text tree"
    names: set[str] = set()
    for line in block.group(1).splitlines()[1:]:  # the first line is dita/ itself
        first = re.split(r"\s{3,}", line.strip())[0]
        if first.endswith(("/", ".py")):  # a line of names, not a wrapped description
            names |= {n for n in first.split() if n.endswith(("/", ".py"))}
    return names


def test_the_architecture_tree_is_the_folder_tree() -> None:
    pkg = ROOT / "dita"
    actual = {f"{p.name}/" for p in pkg.iterdir() if (p / "__init__.py").is_file()}
    actual |= {p.name for p in pkg.glob("*.py") if p.name != "__init__.py"}
    assert _architecture_tree() == actual
