"""Text the kit shows, in bokmål and English, from data files (never hard-coded in logic).

Each file ``kit/data/i18n/<namespace>.yaml`` maps a key to its text per language::

    summary.title:
      nb: Sammendrag
      en: Summary

Keys are used as ``<namespace>.<key>``, e.g. ``t("report.summary.title", "en")``.
Text may hold ``str.format`` fields: ``t("report.cover.n", "nb", n=6, invited=8)``.
"""

from __future__ import annotations

import numbers
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from kit.errors import KitError
from kit.settings import DATA_DIR, LANGUAGES

I18N_DIR = DATA_DIR / "i18n"
# libyaml's safe loader where it is built (every command reads the texts: 5x faster), else Python's
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def load_texts(i18n_dir: Path = I18N_DIR) -> dict[str, dict[str, str]]:
    """Every text of every namespace, checked: each key has every language."""
    texts: dict[str, dict[str, str]] = {}
    problems = []
    for path in sorted(i18n_dir.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        for key, per_lang in data.items():
            full = f"{path.stem}.{key}"
            if not isinstance(per_lang, dict):
                problems.append(f"{path.name}: {key} must map languages to text")
                continue
            missing = [lang for lang in LANGUAGES if not per_lang.get(lang)]
            if missing:
                problems.append(f"{path.name}: {key} has no text for {', '.join(missing)}")
            texts[full] = {lang: str(v) for lang, v in per_lang.items()}
    if problems:
        raise KitError("Translation files are incomplete:\n" + "\n".join(problems))  # dev-text
    return texts


class Text:
    """A text key with its fields, translated when shown: a field of another text can be one."""

    __slots__ = ("fields", "key")

    def __init__(self, key: str, /, **fields: object) -> None:
        self.key, self.fields = key, fields

    def __call__(self, lang: str) -> str:
        return t(self.key, lang, **self.fields)

    def __repr__(self) -> str:
        return f"Text({self.key!r})"


class Joined(Text):
    """Several texts shown as one field, each in the language asked for: ``a; b; c``."""

    __slots__ = ("parts", "sep")

    def __init__(self, parts: list[Text], sep: str = "; ") -> None:
        super().__init__("")
        self.parts, self.sep = parts, sep

    def __call__(self, lang: str) -> str:
        return self.sep.join(p(lang) for p in self.parts)

    def __repr__(self) -> str:
        return f"Joined({self.parts!r})"


def t(key: str, lang: str, /, **fields: object) -> str:
    """The text for ``key`` in ``lang``, formatted with ``fields``."""
    if lang not in LANGUAGES:
        shown = ", ".join(LANGUAGES)
        raise KitError(f"Language {lang!r} is not supported; use one of {shown}.")  # dev-text
    try:
        text = load_texts()[key][lang]
    except KeyError:
        raise KitError(  # dev-text: the translations themselves are broken
            f"No text for {key!r}; add it to kit/data/i18n/{key.split('.')[0]}.yaml "
            "with an nb and an en entry."
        ) from None
    if not fields:
        return text
    shown = {k: v(lang) if isinstance(v, Text) else v for k, v in fields.items()}
    return _FORMATTERS[lang].format(text, **shown)


class _Formatter(string.Formatter):
    """``str.format`` whose numbers follow the language: ``0,70`` and ``12 000`` in bokmål."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        if self.lang != "nb" or isinstance(value, bool) or not isinstance(value, numbers.Real):
            return text
        # Thousands separator: a no-break space; decimal separator: a comma; "50 %" with a space.
        text = text.replace(",", "\u00a0").replace(".", ",")
        return text[:-1] + "\u00a0%" if text.endswith("%") else text


_FORMATTERS = {lang: _Formatter(lang) for lang in LANGUAGES}


def format_number(value: float | int, lang: str, spec: str = "") -> str:
    """A number as the language writes it (decimal comma in bokmål)."""
    return _FORMATTERS[lang].format_field(value, spec)


def translator(lang: str):
    """A one-argument ``t`` bound to ``lang``, handy in notebooks and widgets."""

    def _t(key: str, /, **fields: object) -> str:
        return t(key, lang, **fields)

    return _t
