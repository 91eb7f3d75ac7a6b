"""Storage-damage torture: bit flips in a journal's main file and in a crashed run's WAL,
and SIGKILLs during journal creation.

The one check: a damaged journal is either refused loudly (``JournalError`` on
open or on reading a record) or it opens with every committed record present
and identical. It is never accepted with fewer records or other contents.

Each case copies a base journal (written by a child process: committed group
by group, then either closed, so everything is in the main file, or
SIGKILLed after its last commit, so the WAL was never checkpointed) and flips
one bit at a random offset of one file. Creation kills run a child that does
nothing but create journals and SIGKILL it at a random instant; every path it
touched must then hold a valid journal or nothing.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

from dita.journal import EngineNote, JournalError, SqliteJournal

_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from dita.journal import EngineNote, SqliteJournal
    path, groups, crash = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "crash"
    j = SqliteJournal.open(path)
    n = 0
    for g in range(groups):
        for _ in range(1 + g % 7):
            n += 1
            j.append(EngineNote("tick", "x" * (n % 300), {"i": n}), ts=n)
        j.commit()
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    j.close()
    """
)

_CREATOR = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dita.journal import SqliteJournal
    root = Path(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        SqliteJournal.open(root / f"j{i}.sqlite").close()
        i += 1
    """
)


def _body(n: int) -> EngineNote:
    return EngineNote("tick", "x" * (n % 300), {"i": n})


@dataclass
class StorageResult:
    cases: int = 0
    refused: int = 0  # refused loudly
    intact: int = 0  # opened with every committed record
    creation_kills: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [cases, refused]
    violations: list[str] = field(default_factory=list)


def _base(dirpath: Path, groups: int, crash: bool) -> tuple[Path, int]:
    dirpath.mkdir(parents=True, exist_ok=True)
    path = dirpath / "base.sqlite"
    p = subprocess.run(
        [sys.executable, "-c", _WRITER, str(path), str(groups), "crash" if crash else "close"],
        check=False,
        capture_output=True,
    )
    want = -signal.SIGKILL if crash else 0
    if p.returncode != want:
        raise RuntimeError(f"journal writer exited {p.returncode}: {p.stderr.decode()[-500:]}")
    return path, sum(1 + g % 7 for g in range(groups))


def _copy(base: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-seal"):
        src = Path(f"{base}{suffix}")
        if src.exists():
            shutil.copyfile(src, Path(f"{to / base.name}{suffix}"))
    return to / base.name


def check_damaged(path: Path, committed: int) -> tuple[bool, str | None]:
    """(refused loudly?, what was silently accepted, if anything)."""
    try:
        with SqliteJournal.open(path) as j:
            if j.last_seq < committed:
                return False, f"opened with last_seq {j.last_seq} of {committed} committed"
            seen = 0
            for rec in j.read_from(1):
                seen += 1
                if rec.seq > committed:
                    break
                if rec.body != _body(rec.seq):
                    return False, f"record {rec.seq} reads back different: {rec.body!r}"
            if seen < committed:
                return False, f"read {seen} of {committed} committed records"
    except JournalError:
        return True, None
    return False, None


def run_storage_torture(
    workdir: Path,
    *,
    cases: int,
    seed: int,
    creation_kills: int = 10,
    report: Callable[[str], None] = print,
) -> StorageResult:
    rng = Random(seed)
    res = StorageResult()
    closed, n_closed = _base(workdir / "base-closed", 60, crash=False)
    crashed, n_crashed = _base(workdir / "base-crashed", 60, crash=True)
    kinds = [
        ("main file of a closed journal", closed, n_closed, ""),
        ("main file of a crashed run", crashed, n_crashed, ""),
        ("WAL of a crashed run", crashed, n_crashed, "-wal"),
    ]
    for i in range(cases):
        label, base, committed, suffix = kinds[i % len(kinds)]
        path = _copy(base, workdir / f"case{i}")
        target = Path(f"{path}{suffix}")
        data = bytearray(target.read_bytes())
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(data))
        refused, wrong = check_damaged(path, committed)
        stats = res.by_kind.setdefault(label, [0, 0])
        stats[0] += 1
        res.cases += 1
        if refused:
            res.refused += 1
            stats[1] += 1
        elif wrong is None:
            res.intact += 1
        if wrong is not None:
            v = f"seed {seed} case {i} ({label}, bit flipped at byte {at}): {wrong}"
            res.violations.append(v)
            report(f"  VIOLATION {v}")
        shutil.rmtree(workdir / f"case{i}", ignore_errors=True)
    for k in range(creation_kills):
        root = workdir / f"create{k}"
        root.mkdir(parents=True, exist_ok=True)
        p = subprocess.Popen(
            [sys.executable, "-c", _CREATOR, str(root)], stdout=subprocess.PIPE, text=True
        )
        assert p.stdout is not None
        p.stdout.readline()
        time.sleep(rng.uniform(0.01, 0.25))
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()
        res.creation_kills += 1
        i = 0
        while True:
            j = root / f"j{i}.sqlite"
            if not j.exists():
                break
            try:
                SqliteJournal.open(j, readonly=True).close()
            except JournalError as e:
                v = f"seed {seed} creation kill {k}: {j.name} is neither a journal nor absent: {e}"
                res.violations.append(v)
                report(f"  VIOLATION {v}")
            i += 1
        shutil.rmtree(root, ignore_errors=True)
    return res
