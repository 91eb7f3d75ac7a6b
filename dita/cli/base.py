"""The ``dita`` root group and what every command shares: one-line failures, exact numbers."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from collections.abc import Callable


def _fail(command: str, message: str) -> NoReturn:
    first, _, rest = message.partition("\n")
    click.echo(f"dita {command}: error: {first}", err=True)
    if rest:
        click.echo(rest, err=True)
    sys.exit(1)


if TYPE_CHECKING:
    _ParamBase = click.ParamType[Decimal]
else:  # click.ParamType is generic only from click 8.2 on
    _ParamBase = click.ParamType


class _DecimalType(_ParamBase):
    name = "decimal"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not d.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return d


DECIMAL = _DecimalType()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dita")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="warning",
    show_default=True,
    envvar="DITA_LOG_LEVEL",
    show_envvar=True,
    help="Log records at this level and above (each with its UTC time and level).",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="DITA_LOG_FILE",
    show_envvar=True,
    help="Append the log to this file (created 0600) instead of stderr.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="DITA_LOG_FORMAT",
    show_envvar=True,
    help="text: 'TIME LEVEL logger: message'; json: one JSON object per line (ts, level, "
    "logger, msg). API keys, secrets and passwords are masked either way.",
)
def main(log_level: str, log_file: Path | None, log_format: str) -> None:
    """dita: an execution kernel for crypto perpetual futures.

    `dita run` runs a policy against a simulated exchange and journals every
    step; `dita replay` rebuilds and checks a run from its journal; `dita
    report` draws it; `dita emulate bingx` serves a loopback BingX.
    """
    from dita import logs

    try:
        logs.setup(log_level, log_file, log_format)
    except OSError as e:
        _fail("", f"--log-file {log_file}: {e.strerror}")


def parse_params(items: tuple[str, ...]) -> dict[str, object]:
    """``KEY=VALUE`` pairs; each VALUE read as a TOML value (floats as Decimal), else a string."""
    import tomllib

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE with KEY a Python identifier")
        try:
            out[key] = tomllib.loads(f"v = {value}", parse_float=Decimal)["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def _interrupted(journal: Path | None, venue: str) -> NoReturn:
    """Ctrl-C in a simulated run: say what was kept and the command that continues it."""
    import shlex

    if journal is None or not journal.exists() or venue != "sim":
        what = "nothing was journaled" if journal is None else f"{journal} keeps what was committed"
        click.echo(f"dita run: interrupted; {what}; run it again to start over", err=True)
        sys.exit(130)
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--journal":
            skip = True
        elif not (a.startswith("--journal=") or a == "--resume"):
            args.append(a)
    args += ["--journal", str(journal), "--resume"]
    click.echo(
        f"dita run: interrupted; {journal} keeps every step committed before it. Continue with:\n"
        f"  dita {shlex.join(args)}",
        err=True,
    )
    sys.exit(130)


def _default_journal(seed: int) -> Path:
    from datetime import UTC, datetime

    from dita.clock import LiveClock

    stamp = datetime.fromtimestamp(LiveClock().now_ms() / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    base = Path("runs") / f"{stamp}-seed{seed}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate / "journal.sqlite"


def bingx_connection(prefix: str = "") -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--testnet, --bingx-base-url, --bingx-credentials, --yes-real-money: how a command reaches
    BingX, declared once for ``dita run --venue bingx`` and ``dita selftest bingx``. ``prefix``
    starts every help text (``"bingx: "`` where the options only apply to one venue)."""

    def _capital(text: str) -> str:
        return prefix + text if prefix else text[0].upper() + text[1:]

    options = (
        click.option("--testnet", is_flag=True,
                     help=_capital("BingX's VST demo environment (no real money).")),
        click.option(
            "--bingx-base-url", default=None, metavar="URL",
            help=_capital("a loopback BingX emulator (http://127.0.0.1:PORT or "
                          "http://localhost:PORT only)."),
        ),
        click.option(
            "--bingx-credentials", type=click.Path(path_type=Path, dir_okay=False), default=None,
            help=_capital("file with the API key and secret (JSON api_key/api_secret, or "
                          "BINGX_API_KEY=/BINGX_API_SECRET= lines). Default: those environment "
                          "variables."),
        ),
        click.option(
            "--yes-real-money", is_flag=True,
            help=_capital("required to use BingX's live endpoints (without --testnet): real "
                          "orders, real fees."),
        ),
    )  # fmt: skip

    def decorate(f: Callable[..., None]) -> Callable[..., None]:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate
