"""The kit's errors: one base class, domain subclasses with structured fields.

A message says what failed, where, what was expected and how to fix it. The CLI turns a
``KitError`` into a clean message and a non-zero exit; apps show ``user_message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class KitError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 2

    @property
    def user_message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, what was found, why it is wrong."""

    source: str
    reason: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def where(self) -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts)

    def __str__(self) -> str:
        shown = f": {self.value!r}" if self.value is not None else ""
        return f"{self.where()}{shown} {self.reason}".strip()


def format_problems(problems: list[Problem], limit: int = 50) -> str:
    """A fixed-width table a facilitator can read (not a JSON dump)."""
    header = ("row", "column", "value", "problem")
    rows = [
        (
            "" if p.row is None else str(p.row),
            p.column or "",
            "" if p.value is None else _clip(p.value, 20),
            p.reason,
        )
        for p in problems[:limit]
    ]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    widths[-1] = len(header[-1])  # last column is free text
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more problems")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class ProblemsError(KitError):
    """Raised after collecting every problem in an input (lazy validation)."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    hint: str = ""

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{self.source}: {n} problem{'s' if n != 1 else ''} found; nothing was changed."
        tail = f"\n{self.hint}" if self.hint else ""
        return f"{head}\n{format_problems(self.problems)}{tail}"


class InstrumentError(ProblemsError):
    """An instrument definition (YAML) is invalid."""


class ResponseFileError(ProblemsError):
    """A survey export cannot be imported as it is."""


class ParameterError(ProblemsError):
    """Parameters of a run (report, session, settings) are invalid."""


class SettingsError(KitError):
    """A KIT_* environment variable or settings value is invalid."""


class StoreError(KitError):
    """The database cannot be reached or is not in the expected state."""


class NotFoundError(KitError):
    """A named group, wave, cohort, instrument or session does not exist."""


class PrivacyError(KitError):
    """A request would reveal what the anonymity rules suppress."""


class AccessError(KitError):
    """A key or invitation code is missing, wrong, expired or revoked."""
