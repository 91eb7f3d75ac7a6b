"""The kernel stays pure: no I/O, no clock, no randomness, no edges under dita/kernel/."""

from __future__ import annotations

import ast
from pathlib import Path

import dita.kernel

KERNEL_DIR = Path(dita.kernel.__file__).parent
FORBIDDEN = {
    "asyncio",
    "time",
    "datetime",
    "random",
    "secrets",
    "uuid",
    "os",
    "sys",
    "io",
    "pathlib",
    "socket",
    "ssl",
    "select",
    "selectors",
    "subprocess",
    "threading",
    "multiprocessing",
    "sqlite3",
    "logging",
    "httpx",
    "aiohttp",
    "websockets",
    "requests",
    "urllib",
    "http",
    "shutil",
    "tempfile",
    "signal",
    "builtins",
    "importlib",
    "ctypes",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__"}


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        match node:
            case ast.Import(names=aliases):
                names.extend(a.name for a in aliases)
            case ast.ImportFrom(module=module, level=0) if module:
                names.append(module)
    return names


def kernel_violations(root: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in _imports(tree):
            top = name.split(".")[0]
            if top in FORBIDDEN:
                found.append(f"{path.name}: imports {name}")
            if top == "dita" and not name.startswith("dita.kernel"):
                found.append(f"{path.name}: imports an edge module {name}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS
            ):
                found.append(f"{path.name}:{node.lineno}: calls {node.func.id}()")
    return found


def test_kernel_imports_no_io_clock_or_randomness() -> None:
    assert list(KERNEL_DIR.rglob("*.py")), "kernel sources not found"
    assert kernel_violations(KERNEL_DIR) == []


def test_the_purity_check_catches_a_violation(tmp_path: Path) -> None:
    # the check itself must be able to fail
    (tmp_path / "bad.py").write_text("import time\nfrom dita.engine import Engine\nopen('x')\n")
    assert kernel_violations(tmp_path) == [
        "bad.py: imports time",
        "bad.py: imports an edge module dita.engine",
        "bad.py:3: calls open()",
    ]
