"""No import inside dita/ runs back up the layers, and product code never imports a test harness.

The layers are data, lowest first. A module belongs to the layer of the longest
prefix that names it; it may import its own layer and any layer below, never
one above. Every import counts, module level or inside a function (the graph
is the one ``test_import_graph`` walks for cycles). The harnesses, all in
``dita.testing`` (the torture runs, the scripted mock venue, the synthetic
journals for the ClickHouse sink), may import anything; nothing outside that
package may import it. This is the layering as the
code has it today, declared honestly: ``recovery`` sits with the engine because
the engine calls it, and the ClickHouse sink's report and command sit with
reporting because they build on ``RunStats``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.test_import_graph import ROOT, import_graph

if TYPE_CHECKING:
    from pathlib import Path

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel", ("dita.kernel",)),
    ("foundations", ("dita", "dita.codec", "dita.files", "dita.clock", "dita.legacy", "dita.logs")),
    ("data and ports", ("dita.marketdata", "dita.venues", "dita.venues.base", "dita.policy")),
    ("journal, venues, policies", (
        "dita.journal", "dita.venues.sim", "dita.venues.bingx", "dita.venues.bingx_emulator",
        "dita.reconcile", "dita.markets", "dita.policies",
    )),
    ("reporting", ("dita.reporting", "dita.serve", "dita.journal.clickhouse", "dita.journal.clickhouse_cli")),
    ("engine", ("dita.engine", "dita.recovery")),
    ("application", (
        "dita.app", "dita.fetch", "dita.selftest", "dita.verify",
    )),
    ("cli", ("dita.cli",)),
)  # fmt: skip

HARNESSES = ("dita.testing",)


def _longest(module: str, prefixes: tuple[str, ...]) -> str | None:
    hits = [p for p in prefixes if module == p or module.startswith(p + ".")]
    return max(hits, key=len, default=None)


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    best: tuple[int, int] | None = None
    for rank, (_, prefixes) in enumerate(layers):
        hit = _longest(module, prefixes)
        if hit is not None and (best is None or len(hit) > best[1]):
            best = (rank, len(hit))
    if best is None:
        raise AssertionError(f"{module} is in no declared layer: add it to LAYERS")
    return best[0]


def violations(
    root: Path,
    package: str,
    layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS,
    harnesses: tuple[str, ...] = HARNESSES,
) -> list[str]:
    """Every import under ``root`` that runs up the layers or from product code into a harness."""
    found: list[str] = []
    for module, deps in sorted(import_graph(root, package).items()):
        in_harness = _longest(module, harnesses) is not None
        for dep in sorted(deps):
            if _longest(dep, harnesses) is not None:
                if not in_harness:
                    found.append(f"{module} imports the test harness {dep}")
                continue
            if in_harness:
                continue
            mine, theirs = layer_of(module, layers), layer_of(dep, layers)
            if theirs > mine:
                found.append(
                    f"{module} ({layers[mine][0]}) imports {dep} ({layers[theirs][0]}), a layer above"
                )
    return found


def test_no_import_runs_back_up_the_layers() -> None:
    assert violations(ROOT, "dita") == []


def test_every_module_is_declared() -> None:
    for module in import_graph(ROOT, "dita"):
        if _longest(module, HARNESSES) is None:
            layer_of(module, LAYERS)


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


SYNTHETIC_LAYERS = (("low", ("pkg", "pkg.low")), ("high", ("pkg.high",)))


def test_the_checker_finds_a_wrong_way_import(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def helper() -> None:\n    from pkg.high import top  # runs back up\n",
        "high.py": "from pkg.low import helper\n\ndef top() -> None:\n    helper()\n",
    })  # fmt: skip
    assert violations(root, "pkg", SYNTHETIC_LAYERS, ()) == [
        "pkg.low (low) imports pkg.high (high), a layer above"
    ]


def test_the_checker_finds_product_code_importing_a_harness(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "import pkg.fake\n",
        "high.py": "",
        "fake.py": "import pkg.high\n",
    })  # fmt: skip
    assert violations(root, "pkg", SYNTHETIC_LAYERS, ("pkg.fake",)) == [
        "pkg.low imports the test harness pkg.fake"
    ]


def test_the_checker_passes_a_right_way_package(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "",
        "high.py": "from pkg import low\n",
    })  # fmt: skip
    assert violations(root, "pkg", SYNTHETIC_LAYERS, ()) == []
