"""The kit's errors: one base class, domain subclasses with structured fields.

A message says what failed, where, what was expected and how to fix it. Messages come from the
translation files: an error made with a text key (``StoreError.text("store.locked", url=...)``,
``Problem.of(source, "ingest.reason.empty", column=...)``) is shown in the user's language by
:meth:`KitError.message`; ``str(exc)`` is the English text (logs, tests). The CLI turns a
``KitError`` into a clean message and a non-zero exit; apps show ``user_message``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any


def _t(key: str, lang: str, fields: dict[str, Any]) -> str:
    from kit.i18n import t  # kit.i18n imports this module

    return t(key, lang, **fields)


class KitError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 2
    key: str | None = None
    fields: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance by ``text``

    @classmethod
    def text(cls, key: str, /, **fields: Any) -> KitError:
        """An error whose message is the translated text ``key`` (English in ``str``)."""
        exc = cls(_t(key, "en", fields))
        exc.key, exc.fields = key, fields
        return exc

    @property
    def user_message(self) -> str:
        return str(self)

    def message(self, lang: str) -> str:
        """The message in ``lang`` (``nb`` or ``en``)."""
        if self.key is not None:
            return _t(self.key, lang, self.fields)
        return self.user_message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, what was found, why it is wrong.

    ``reason`` is English; a problem made by :meth:`of` keeps its text key and fields and is
    shown in any language by :meth:`reason_in`.
    """

    source: str
    reason: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    key: str | None = None
    fields: tuple[tuple[str, Any], ...] = ()
    warning: bool = False  # a thing to say, not a reason to refuse

    @classmethod
    def of(cls, source: str, key: str, /, *, row: int | None = None, column: str | None = None,
           value: str | None = None, warning: bool = False, **fields: Any) -> Problem:
        """A problem whose reason is the translated text ``key`` formatted with ``fields``."""
        return cls(source, _t(key, "en", fields), row=row, column=column, value=value, key=key,
                   fields=tuple(fields.items()), warning=warning)

    def reason_in(self, lang: str) -> str:
        return _t(self.key, lang, dict(self.fields)) if self.key else self.reason

    def where(self, lang: str = "en") -> str:
        parts = [self.source]
        if self.row is not None:
            parts.append(_t("common.problems.at_row", lang, {"row": self.row}))
        if self.column is not None:
            parts.append(_t("common.problems.at_column", lang, {"column": self.column}))
        return ", ".join(parts)

    def text_in(self, lang: str) -> str:
        shown = f": {self.value!r}" if self.value is not None else ""
        return f"{self.where(lang)}{shown} {self.reason_in(lang)}".strip()

    def __str__(self) -> str:
        return self.text_in("en")


def format_problems(problems: list[Problem], limit: int = 50, lang: str = "en") -> str:
    """A fixed-width table a facilitator can read (not a JSON dump), in ``lang``."""
    header = tuple(_t(f"common.problems.{k}", lang, {}) for k in ("row", "column", "value",
                                                                  "problem"))
    rows = [
        (
            "" if p.row is None else str(p.row),
            p.column or "",
            "" if p.value is None else _clip(p.value, 20),
            p.reason_in(lang),
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
        lines.append(_t("common.problems.more", lang, {"n": len(problems) - limit}))
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class ProblemsError(KitError):
    """Raised after collecting every problem in an input (lazy validation).

    ``hint`` is English text (older callers); ``hints`` are text keys with their fields, shown
    in the user's language.
    """

    source: str
    problems: list[Problem] = field(default_factory=list)
    hint: str = ""
    hints: tuple[tuple[str, dict[str, Any]], ...] = ()

    def __post_init__(self) -> None:
        if self.hints and not self.hint:
            self.hint = "\n".join(_t(k, "en", f) for k, f in self.hints)
        super().__init__(self.__str__())

    def message(self, lang: str) -> str:
        n = len(self.problems)
        head = _t("common.problems.head_one" if n == 1 else "common.problems.head", lang,
                  {"source": self.source, "n": n})
        if self.hints:
            hint = "\n".join(_t(k, lang, f) for k, f in self.hints)
        else:
            hint = self.hint
        tail = f"\n{hint}" if hint else ""
        return f"{head}\n{format_problems(self.problems, lang=lang)}{tail}"

    @property
    def user_message(self) -> str:
        return self.message("en")

    def __str__(self) -> str:
        return self.message("en")


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


# File-system failures a user can fix (a folder one cannot write, a full disk): errno -> reason.
OS_REASONS = {
    errno.EACCES: "denied",
    errno.EPERM: "denied",
    errno.EROFS: "read_only",
    errno.ENOSPC: "full",
    errno.ENOENT: "missing",
    errno.EISDIR: "is_dir",
    errno.ENOTDIR: "not_dir",
}


def os_reason(exc: OSError) -> Any:
    """Why a file-system call failed, as a text shown in the user's language."""
    from kit.i18n import Text

    reason = OS_REASONS.get(exc.errno or 0)
    if reason:
        return Text(f"cli.os.{reason}")
    return Text("cli.os.other", error=exc.strerror or str(exc))
