"""One settings object for every entry point: CLI, report runner, widgets and served apps.

Defaults are safe; each field can be overridden by an environment variable ``KIT_<FIELD>``
(for example ``KIT_DATABASE_URL`` or ``KIT_MIN_RESPONDENTS=3``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kit.client import parse_proxies
from kit.errors import SettingsError

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
PROJECT_DIR = PACKAGE_DIR.parent

LANGUAGES = ("nb", "en")

# How the kit starts the machine's Chromium (Debian's package) for PDFs, tests and benchmarks:
# headless, and with no background traffic to hosts this machine cannot reach.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def _default_home() -> Path:
    return Path(os.environ.get("KIT_HOME", str(PROJECT_DIR))).resolve()


@dataclass(frozen=True)
class Settings:
    """Everything configurable, validated on construction."""

    home_dir: Path = field(default_factory=_default_home)
    database_url: str = ""  # empty: SQLite file in var_dir
    language: str = "nb"
    instrument: str = "lagprofil"
    # Anonymity thresholds (fixed once a wave has started).
    min_respondents: int = 5  # per group and wave before any score exists
    min_subgroup_respondents: int = 5  # each side of a split (leader vs members), and the rest
    min_comment_respondents: int = 7  # respondents before open comments are shown
    min_answered_share: float = 0.5  # share of a dimension's items a respondent must answer
    min_comparison_groups: int = 3  # other reportable groups in any aggregate shown beside a group
    # Serving.
    host: str = "127.0.0.1"
    port: int = 8866
    public_url: str = ""  # how participants reach the server; empty: http://host:port
    # Kernels of ``kit serve``.
    max_kernels: int = 0  # kernels viewers may hold at once (pools come on top); 0: fit machine
    kernel_idle_seconds: int = 300  # a viewer's kernel idle this long is stopped
    iopub_timeout: int = 120  # seconds a page waits for a cell's outputs after it ran
    max_queue: int = 500  # viewers waiting for a kernel; beyond that: "come back later"
    # Processes that build dashboard pages (each ~200 MB; 0: on a thread of the server's own).
    page_builders: int = field(default_factory=lambda: max(1, min(2, (os.cpu_count() or 1) - 1)))
    # Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated; "none":
    # no proxy). Per-client limits count the client behind them (kit.client).
    trusted_proxies: str = "127.0.0.1,::1"
    # Work.
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    chromium_path: str = "/usr/bin/chromium"

    def __post_init__(self) -> None:
        from kit.i18n import Joined, Text  # kit.i18n reads this module's constants

        problems: list[Any] = []

        def check(ok: bool, key: str, **fields: Any) -> None:
            if not ok:
                problems.append(Text(f"engine.settings.{key}", **fields))

        check(
            self.language in LANGUAGES,
            "language",
            known=", ".join(LANGUAGES),
            value=self.language,
        )
        check(self.min_respondents >= 3, "min_respondents", value=self.min_respondents)
        check(self.min_subgroup_respondents >= self.min_respondents, "min_subgroup")
        check(self.min_comment_respondents >= self.min_respondents, "min_comment")
        check(self.min_comparison_groups >= 3, "min_comparison", value=self.min_comparison_groups)
        check(0 < self.min_answered_share <= 1, "share")
        check(0 < self.port < 65536, "port", value=self.port)
        check(self.max_kernels >= 0, "max_kernels", value=self.max_kernels)
        check(10 <= self.kernel_idle_seconds <= 86400, "idle", value=self.kernel_idle_seconds)
        check(5 <= self.iopub_timeout <= 3600, "iopub", value=self.iopub_timeout)
        check(0 <= self.max_queue <= 100_000, "max_queue", value=self.max_queue)
        check(0 <= self.page_builders <= 16, "page_builders", value=self.page_builders)
        check(self.workers >= 1, "workers")
        try:
            parse_proxies(self.trusted_proxies)
        except ValueError as exc:
            problems.append(Text("app.proxies.bad", entries=getattr(exc, "entries", "")))
        if problems:
            raise SettingsError.text("engine.settings.invalid", problems=Joined(problems))

    # Derived locations -------------------------------------------------------------------------
    @property
    def var_dir(self) -> Path:
        return self.home_dir / "var"

    @property
    def outputs_dir(self) -> Path:
        return self.home_dir / "outputs"

    @property
    def parameters_dir(self) -> Path:
        return self.home_dir / "parameters"

    @property
    def notebooks_dir(self) -> Path:
        return PROJECT_DIR / "notebooks"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL in force: ``database_url`` or a SQLite file under ``var_dir``."""
        return self.database_url or f"sqlite:///{self.var_dir / 'kit.sqlite'}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _parse(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(raw).expanduser().resolve()
        return raw
    except ValueError:
        shown = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
        raise SettingsError.text(
            "engine.settings.bad_env", name=name.upper(), raw=raw, kind=shown
        ) from None


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults, then ``KIT_*`` environment variables, then ``overrides``."""
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = os.environ.get(f"KIT_{f.name.upper()}")
        if raw is not None and raw != "":
            values[f.name] = _parse(f.name, raw, f.type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(values) - {f.name for f in fields(Settings)}
    if unknown:
        raise SettingsError.text("engine.settings.unknown", names=", ".join(sorted(unknown)))
    return Settings(**values)
