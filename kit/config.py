"""Strict configuration files: one reader and one schema check for every YAML file a person edits.

Programme files, run files, instruments and column mappings are read with :func:`read_config` and
checked against a pydantic model with :func:`check_model`:

- a file larger than :data:`MAX_CONFIG_BYTES` is refused before it is read (with its size);
- a file that is not UTF-8 is refused with the line of the first bad byte;
- a key written twice in one mapping is refused with both lines (PyYAML keeps the last one);
- dates stay text until the schema parses them, so ``2025-02-30`` is a user's mistake, not a crash;
- an unknown key is refused with its path in the file (``cohorts[0].start_dato``), its line and a
  did-you-mean (``difflib``);
- every problem is collected and shown as the kit's problem table, in the user's language:
  pydantic's error *types* are mapped to texts in ``kit/data/i18n/config.yaml``; pydantic's own
  English messages never reach the user.

Cross-references (an unknown wave in ``invited``, duplicate ids, end before start) are checked by
each file's loader on the raw data with :class:`Checker`, so they are found in the same pass as the
schema's problems.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from kit.errors import Problem, ProblemsError
from kit.i18n import t
from kit.settings import LANGUAGES

# The largest real files are a few hundred kB (an instrument with every text in two languages, a
# programme with a hundred groups); a file a hundred times larger is a mistake (a data export saved
# as .yaml), and reading it would cost minutes and gigabytes.
MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000  # YAML nodes, aliases counted where they are used ("billion laughs")

Path_ = tuple[str | int, ...]

# Tags of the tagged unions (text or mapping, ...): dropped from error locations.
TAGS = frozenset({"<text>", "<mapping>", "<list>", "<name>"})


def text_or_mapping(value: Any) -> str:
    """Discriminator of a ``str | dict`` field: anything but a mapping is checked as text."""
    return "<mapping>" if isinstance(value, dict) else "<text>"


def list_or_text(value: Any) -> str:
    """Discriminator of a ``list | str`` field: anything but a scalar is checked as a list."""
    return "<text>" if isinstance(value, str | int | float) else "<list>"


def list_or_mapping(value: Any) -> str:
    """Discriminator of a ``list | dict`` field: anything but a list is checked as a mapping."""
    return "<list>" if isinstance(value, list) else "<mapping>"


class StrictModel(BaseModel):
    """Base of every configuration schema: unknown keys refused, numbers accepted as ids."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, frozen=True)


def language(lang: str | None = None) -> str:
    """``lang``, or the ``KIT_LANGUAGE`` setting, or English.

    The CLI passes the user's language and ``kit serve`` exports ``KIT_LANGUAGE`` to its kernels;
    a library call that says nothing gets English, like the library's other messages.
    """
    if lang in LANGUAGES:
        return lang  # type: ignore[return-value]
    env = os.environ.get("KIT_LANGUAGE", "")
    return env if env in LANGUAGES else "en"


# -- reading -------------------------------------------------------------------------------------
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader without implicit timestamps: dates stay text until the schema checks them."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class ConfigDoc:
    """A parsed configuration file: its data and the line of every path in it."""

    source: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # keys written twice

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, or of the nearest enclosing path that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def read_config(
    path: str | Path,
    *,
    error: type[ProblemsError],
    lang: str | None = None,
    hint_key: str = "config.hint.fix",
) -> ConfigDoc:
    """Read a YAML configuration file strictly; raise ``error`` (a ``ProblemsError``) if not."""
    lang = language(lang)
    path = Path(path)
    source = path.name
    size = path.stat().st_size
    raw = b""
    if size <= MAX_CONFIG_BYTES:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # bounded, even if the file grew since stat()
        size = max(size, len(raw))
    if size > MAX_CONFIG_BYTES:
        sizes = {"size": format_size(size, lang), "limit": format_size(MAX_CONFIG_BYTES, lang)}
        if len(raw) > MAX_CONFIG_BYTES:  # only the first bytes were read
            sizes["size"] = t("config.more_than", lang, size=format_size(MAX_CONFIG_BYTES, lang))
        _refuse(
            error,
            source,
            [Problem(source, t("config.too_large", lang, **sizes))],
            lang,
            "config.hint.too_large",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = f"0x{raw[exc.start]:02X}"
        _refuse(
            error,
            source,
            [Problem(source, t("config.not_utf8", lang, byte=byte), row=line, value=byte)],
            lang,
            "config.hint.not_utf8",
        )
    return parse_config_text(text, source, error=error, lang=lang, hint_key=hint_key)


def parse_config_text(
    text: str,
    source: str,
    *,
    error: type[ProblemsError],
    lang: str | None = None,
    hint_key: str = "config.hint.fix",
) -> ConfigDoc:
    """Parse YAML text strictly (duplicate keys refused, dates kept as text)."""
    lang = language(lang)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return ConfigDoc(source, None, {})
        lines: dict[Path_, int] = {}
        problems: list[Problem] = []
        try:
            _walk(node, (), lines, problems, source, lang, [0], set())
        except _TooMany:
            _refuse(error, source, problems, lang, hint_key)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        row = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else 0
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        reason = t("config.not_yaml", lang, line=row or "?", column=col or "?")
        if lang == "en":  # PyYAML's own words are English: shown to an English reader only
            reason += f" ({detail})"
        _refuse(error, source, [Problem(source, reason, row=row)], lang, "config.hint.yaml")
    finally:
        loader.dispose()
    return ConfigDoc(source, data, lines, problems)


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    problems: list[Problem],
    source: str,
    lang: str,
    count: list[int],
    seen: set[int],
) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        problems.append(Problem(source, t("config.too_many_nodes", lang, limit=MAX_NODES)))
        raise _TooMany
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:  # an alias: its content was walked where the anchor is
        # still count its nodes, or an alias bomb would pass and explode in the schema check
        count[0] += _size(node)
        if count[0] > MAX_NODES:
            problems.append(Problem(source, t("config.too_many_nodes", lang, limit=MAX_NODES)))
            raise _TooMany
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in first:
                problems.append(
                    Problem(
                        source,
                        t("config.duplicate_key", lang, key=key, first=first[key]),
                        row=line,
                        column=format_path((*path, key)),
                    )
                )
                continue
            first[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, source, lang, count, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _walk(child, (*path, i), lines, problems, source, lang, count, seen)


def _size(node: yaml.Node, memo: dict[int, int] | None = None) -> int:
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    n = 1
    if isinstance(node, yaml.MappingNode):
        n += sum(_size(k, memo) + _size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        n += sum(_size(c, memo) for c in node.value)
    memo[id(node)] = n
    return n


class _TooMany(Exception):
    pass


def _refuse(
    error: type[ProblemsError], source: str, problems: list[Problem], lang: str, hint_key: str
) -> typing.NoReturn:
    raise error(source, problems, hint=t(hint_key, lang))


# -- checking against a schema -------------------------------------------------------------------
def check_model(
    model: type[BaseModel], doc: ConfigDoc, lang: str | None = None
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate ``doc.data`` against ``model``: the model, or None and every problem found."""
    lang = language(lang)
    try:
        return model.model_validate(doc.data if doc.data is not None else {}), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            problem = _problem(model, err, doc, lang)
            if problem not in problems:
                problems.append(problem)
        return None, problems


def _problem(model: type[BaseModel], err: Any, doc: ConfigDoc, lang: str) -> Problem:
    loc = tuple(p for p in err["loc"] if p not in TAGS and p != "[key]")
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    shown = None if kind in ("missing", "extra_forbidden") else _show(value)
    if kind == "extra_forbidden":
        known = known_keys(model, loc[:-1])
        reason = unknown_key_text(str(loc[-1]), known, lang)
    elif kind == "missing":
        reason = t("config.type.missing", lang)
    else:
        key = TYPE_KEYS.get(kind, "other")
        fields_ = {k: _ctx(v, lang) for k, v in ctx.items()}
        if kind == "literal_error":
            choices = re.findall(r"'([^']*)'", str(ctx.get("expected")))
            fields_["expected"] = ", ".join(c or '""' for c in choices)
        try:
            reason = t(f"config.type.{key}", lang, **fields_)
        except (KeyError, IndexError):
            reason = t("config.type.other", lang)
    return Problem(
        doc.source, reason, row=doc.line(loc), column=format_path(loc) or None, value=shown
    )


# pydantic error type -> text key under config.type.* (anything else: config.type.other)
TYPE_KEYS = {
    "string_type": "text",
    "string_sub_type": "text",
    "int_type": "whole",
    "int_parsing": "whole",
    "int_from_float": "whole",
    "float_type": "number",
    "float_parsing": "number",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "date_type": "date",
    "date_parsing": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "list_type": "list",
    "tuple_type": "list",
    "dict_type": "mapping",
    "model_type": "mapping",
    "model_attributes_type": "mapping",
    "greater_than_equal": "ge",
    "greater_than": "gt",
    "less_than_equal": "le",
    "less_than": "lt",
    "string_too_short": "empty",
    "string_too_long": "too_long",
    "too_short": "too_few",
    "too_long": "too_many",
    "string_pattern_mismatch": "pattern",
    "literal_error": "choice",
    "enum": "choice",
    "union_tag_invalid": "form",
    "union_tag_not_found": "form",
    "none_required": "other",
}


def _ctx(value: Any, lang: str) -> Any:
    if isinstance(value, float):
        return format_number(value, lang)
    if isinstance(value, str):
        return value.replace("'", "")
    return value


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return None  # a whole block: the path says where it is
    return str(value)


def unknown_key_text(key: str, known: Iterable[str], lang: str) -> str:
    """ "is not a known key; did you mean X? The keys here are: ..." in ``lang``."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    suggestion = t("config.did_you_mean", lang, name=close[0]) if close else ""
    return t("config.unknown_key", lang, known=", ".join(known), suggestion=suggestion)


def known_keys(model: type[BaseModel], loc: Path_) -> list[str]:
    """The keys a mapping at ``loc`` of ``model`` may hold (for a did-you-mean)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            current = info.annotation if info is not None else None
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """The model inside ``Annotated[...]``, ``X | None`` and unions (the first model found)."""
    for _ in range(10):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else (args[0] if args else None)
        else:
            return annotation
    return annotation


def partial_model(model: type[BaseModel], data: Any) -> types.SimpleNamespace:
    """What of ``data`` is valid, field by field: a list's invalid elements become None.

    Lets a loader check cross-references among the valid parts of a file whose schema check
    failed, so one pass lists every problem. Invalid or missing fields are None.
    """
    data = data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        raw = data.get(info.alias or name, None)
        annotation = info.annotation
        element = _list_element(annotation)
        if element is not None and isinstance(raw, list):
            adapter = _adapter(element)
            out[name] = [_valid(adapter, x) for x in raw]
            continue
        out[name] = _valid(_adapter(annotation), raw) if raw is not None else info.default
    return types.SimpleNamespace(**out)


def _list_element(annotation: Any) -> Any:
    for _ in range(5):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None
            annotation = args[0]
        elif origin is list:
            return typing.get_args(annotation)[0]
        else:
            return None
    return None


def _adapter(annotation: Any) -> TypeAdapter:
    key = repr(annotation)
    if key not in _ADAPTERS:
        _ADAPTERS[key] = TypeAdapter(annotation)
    return _ADAPTERS[key]


_ADAPTERS: dict[str, TypeAdapter] = {}


def _valid(adapter: TypeAdapter, value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


# -- helpers for loaders -------------------------------------------------------------------------
def format_path(path: Iterable[str | int]) -> str:
    """``('cohorts', 0, 'start_dato')`` -> ``cohorts[0].start_dato``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_number(value: float, lang: str, decimals: int = 1) -> str:
    text = f"{value:.{decimals}f}"
    return text.replace(".", ",") if lang == "nb" else text


def format_size(size: int, lang: str) -> str:
    """A file size for a person: ``50,0 MB`` in bokmål, ``50.0 MB`` in English."""
    if size >= 1024 * 1024:
        return f"{format_number(size / (1024 * 1024), lang)} MB"
    return f"{format_number(size / 1024, lang)} kB"


class Checker:
    """Collects a file's problems with their path and line, texts from ``config.*`` in i18n."""

    def __init__(self, doc: ConfigDoc, lang: str | None = None) -> None:
        self.doc = doc
        self.lang = language(lang)
        self.problems: list[Problem] = []
        self._paths: set[str] = set()
        self.extend(doc.problems)

    def add(self, path: Path_, key: str, value: Any = None, **fields: Any) -> None:
        """One problem at ``path``; the text is ``t(key, lang, **fields)``.

        Skipped where the schema already reported the path (or one around or inside it).
        """
        if self.flagged(path):
            return
        where = format_path(path)
        problem = Problem(
            self.doc.source,
            t(key, self.lang, **fields),
            row=self.doc.line(path),
            column=where or None,
            value=None if value is None else _show(value),
        )
        if problem not in self.problems:
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            if p not in self.problems:
                self.problems.append(p)
                if p.column:
                    self._paths.add(p.column)

    def flagged(self, path: Path_) -> bool:
        """Whether the schema already reported ``path`` or a path around or inside it."""
        where = format_path(path)
        return any(
            p == where
            or where.startswith(p + ".")
            or where.startswith(p + "[")
            or p.startswith(where + ".")
            or p.startswith(where + "[")
            for p in self._paths
        )

    def unique(self, entries: Iterable[tuple[Path_, Any]], key: str) -> None:
        """Refuse a value seen before (ids, ordinals); ``entries`` are (path, value)."""
        first: dict[str, Path_] = {}
        for path, value in entries:
            if value is None or value == "":
                continue
            text = str(value)
            if text in first:
                self.add(path, key, value, first=format_path(first[text]))
            else:
                first[text] = path

    def refuse_if_any(self, error: type[ProblemsError], hint_key: str = "config.hint.fix") -> None:
        if self.problems:
            problems = sorted(self.problems, key=lambda p: (p.row is None, p.row or 0))
            raise error(self.doc.source, problems, hint=t(hint_key, self.lang))


def raw_items(value: Any) -> list[tuple[int, Any]]:
    """(index, element) of a list in raw data, or nothing if it is not a list."""
    return list(enumerate(value)) if isinstance(value, list) else []


def raw_get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None
