"""Bars from Parquet files (optional extra ``parquet``: ``pip install 'dita[parquet]'``).

Columns are found by name exactly like a header-named CSV (see
``dita.marketdata.csvio``). Each cell becomes text before it is parsed, so the
same checks apply: decimal and string columns stay exact; a float64 column is
read as the shortest text that round-trips the stored double (the file holds a
binary float, nothing better can be recovered); a timestamp column becomes
ISO-8601 (naive = UTC). Row numbers in errors count the header as line 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dita.marketdata.model import MarketDataError

EXTRA_HINT = "pip install 'dita[parquet]'"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


@contextmanager
def parquet_rows(path: Path) -> Iterator[tuple[str, Iterator[tuple[int, list[str]]]]]:
    """(label, rows as text cells with line numbers, header first)."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise MarketDataError(
            path, None, f"reading Parquet needs the optional extra 'parquet' ({EXTRA_HINT})"
        ) from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError family
        raise MarketDataError(path, None, f"not a readable Parquet file: {e}") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        names = list(pf.schema_arrow.names)
        yield 1, names
        line = 1
        for batch in pf.iter_batches(batch_size=65_536):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns, strict=True):
                line += 1
                yield line, [_text(v) for v in values]

    yield str(path), rows()
