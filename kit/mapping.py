"""Column mappings: how a survey tool's export maps onto the canonical response table (YAML).

See ``kit/data/mappings/example_surveytool.yaml``. ``load_mapping(path)`` reads a mapping strictly
(``kit.config``: unknown keys refused with a did-you-mean, keys written twice refused, wrong types
refused) and lists every problem before it refuses; ``kit.ingest`` uses the ``ColumnMapping``.

A *preset* is a mapping shipped in ``kit/data/mappings/`` for one survey tool (``nettskjema``,
``surveyxact``, ``limesurvey``, ``msforms``, ``enalyzer``, ``questback``, ``qualtrics``):
``load_preset(name)``; a mapping file can start from one (``preset: nettskjema``) and change what
differs. ``detect_preset`` recognises a tool from a file's headers (or a workbook's sheets).
"""

from __future__ import annotations

import dataclasses
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from kit import config
from kit.errors import Problem, ResponseFileError
from kit.i18n import t

MAPPINGS_DIR = Path(__file__).parent / "data" / "mappings"
ENCODINGS = ("utf-8", "utf-16", "windows-1252", "iso-8859-1")

if TYPE_CHECKING:
    from kit.instrument import Instrument

ROLES = ("leader", "member")
EXAMPLE = "kit/data/mappings/example_surveytool.yaml"
HINT = "config.mapping.hint"


@dataclass(frozen=True)
class ColumnMapping:
    """How a survey tool's export maps onto the canonical response table.

    ``columns``: file header -> canonical name (``respondent``, ``group``, ``wave``, ``role``, an
    item id or an open question id). ``items`` / ``open_questions``: a header pattern with ``{n}``
    (1-based position in the instrument) or ``{id}`` (e.g. ``"Spm {n}"``). ``values``: value labels
    per field (``wave``, ``role``, ``group``) -> id. ``not_applicable``: cell values meaning "not
    applicable". ``ignore``: headers (glob patterns allowed) of columns to leave out.
    """

    columns: dict[str, str] = field(default_factory=dict)
    items: str | None = None
    open_questions: str | None = None
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    not_applicable: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    sheet: str | None = None
    source: str = ""
    # Reading steps (see the example mapping and README "Survey tools"):
    wave: str | None = None  # the wave of every row (a file per survey round)
    group: str | None = None  # the group of every row (a file per group)
    respondent_from_row: bool = False  # no respondent column: number respondents by file row
    header_row: int = 1  # the row holding the headers (rows above it are left out)
    skip_rows: int = 0  # rows right under the headers that hold no answers (Qualtrics: 2)
    encoding: str | None = None  # None: recognised (UTF-8, UTF-16, Windows-1252)
    answers: dict[str, float | None] = field(default_factory=dict)  # folded text -> value/None
    item_answers: dict[str, dict[str, float | None]] = field(default_factory=dict)
    items_by_text: bool = False  # headers are the items' texts (Microsoft Forms)
    labels: tuple[str, ...] = ()  # labels files beside the data ("{stem}" = the data file's stem)
    labels_sheet: str | None = None  # the labels sheet of a workbook (SurveyXact)
    tool: str = ""  # the survey tool a preset is for
    preset: str = ""  # the preset this mapping is (or starts from)
    detect: tuple[tuple[tuple[str, ...], ...], ...] = ()  # (headers, sheets, beside) rules

    def with_overrides(self, **changes: Any) -> ColumnMapping:
        """A copy with some entries changed (``None`` values are left as they are)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def header_map(self, instrument: Instrument) -> dict[str, str]:
        """Lower-cased file header -> canonical column, for ``instrument``."""
        out: dict[str, str] = {}
        for pattern, ids in (
            (self.items, instrument.item_ids),
            (self.open_questions, instrument.open_question_ids),
        ):
            if pattern:
                for n, cid in enumerate(ids, start=1):
                    out[_key(pattern.format(n=n, id=cid))] = cid
        out.update({_key(k): v for k, v in self.columns.items()})
        return out

    def expected_headers(self, instrument: Instrument) -> dict[str, str]:
        """Canonical column -> the header a file written for this mapping has (``Spm 1``)."""
        out: dict[str, str] = {}
        for pattern, ids in (
            (self.items, instrument.item_ids),
            (self.open_questions, instrument.open_question_ids),
        ):
            if pattern:
                for n, cid in enumerate(ids, start=1):
                    out[cid] = pattern.format(n=n, id=cid)
        out.update({v: k for k, v in self.columns.items()})
        return out


def _key(text: str) -> str:
    return str(text).strip().casefold()


def pattern_fields(pattern: str) -> set[str] | None:
    """The field names of a header pattern (``{n}``, ``{n:03d}``, ``{id}``); None if broken."""
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
        pattern.format(n=1, id="Q01")
    except (ValueError, KeyError, IndexError):
        return None
    return names


def header_regex(pattern: str) -> re.Pattern[str]:
    """A header pattern made concrete (formatted) whose ``*`` stands for any text."""
    return re.compile(".*".join(re.escape(part) for part in _key(pattern).split("*")))


# -- the schema ----------------------------------------------------------------------------------
Texts = Annotated[
    Annotated[list[str], Tag("<list>")] | Annotated[str, Tag("<text>")],
    Discriminator(config.list_or_text),
]


class DetectModel(config.StrictModel):
    headers: list[str] | None = None
    sheets: list[str] | None = None
    beside: list[str] | None = None  # files beside the data ({stem} = the data file's stem)


class MappingModel(config.StrictModel):
    columns: dict[str, str] | None = None
    items: str | None = None
    open_questions: str | None = None
    values: dict[Literal["wave", "role", "group"], dict[str, str] | None] | None = None
    not_applicable: Texts | None = None
    ignore: Texts | None = None
    sheet: str | None = None
    preset: str | None = None
    tool: str | None = None
    detect: list[DetectModel] | None = None
    wave: str | None = None
    group: str | None = None
    respondents: Literal["column", "row"] | None = None
    header_row: Annotated[int, Field(ge=1, le=100)] | None = None
    skip_rows: Annotated[int, Field(ge=0, le=100)] | None = None
    encoding: Literal["utf-8", "utf-16", "windows-1252", "iso-8859-1"] | None = None
    answers: dict[str, float | None] | None = None
    item_answers: dict[str, dict[str, float | None] | None] | None = None
    items_by_text: bool | None = None
    labels: Texts | None = None
    labels_sheet: str | None = None


MERGED = ("columns", "values", "answers", "item_answers")  # preset entries a mapping adds to


def load_mapping(path: str | Path, lang: str | None = None) -> ColumnMapping:
    """Load and check a column-mapping YAML file, reporting every problem at once."""
    lang = config.language(lang)
    path = Path(path)
    if not path.is_file():
        raise ResponseFileError(
            path.name,
            [Problem(path.name, t("config.mapping.not_found", lang), value=str(path))],
            hint=t(HINT, lang, example=EXAMPLE),
        )
    doc = config.read_config(path, error=ResponseFileError, lang=lang, hint_key="config.hint.fix")
    return _build(doc, lang)


def available_presets() -> list[str]:
    """The names of the presets shipped with the kit (one per survey tool)."""
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml") if p.stem != "example_surveytool")


def load_preset(name: str, lang: str | None = None) -> ColumnMapping:
    """The preset mapping for one survey tool (``kit import FILE --preset NAME``)."""
    lang = config.language(lang)
    key = str(name).strip().lower()
    if key not in available_presets():
        raise ResponseFileError(
            str(name),
            [
                Problem.of(
                    str(name),
                    "ingest.preset.unknown",
                    value=str(name),
                    presets=", ".join(available_presets()),
                )
            ],
            hints=(("ingest.hint.preset", {}),),
        )
    return dataclasses.replace(load_mapping(MAPPINGS_DIR / f"{key}.yaml", lang=lang), preset=key)


def detect_preset(
    headers: list[str],
    sheets: list[str] | None = None,
    beside: list[str] | None = None,
    stem: str = "",
) -> str | None:
    """The preset whose ``detect`` rules a file meets, if exactly one does.

    A rule lists headers (``*`` patterns allowed), sheets of a workbook and files beside the data
    (``{stem}`` = the data file's name without its suffix) that must all be there; a preset is
    recognised when one of its rules holds. Two presets recognised at once (a rule too loose)
    count as none: the user names the preset.
    """
    folded = [_key(h) for h in headers]
    have_sheets = {_key(x) for x in sheets or []}
    have_files = {_key(x) for x in beside or []}
    found = []
    for name in available_presets():
        mapping = load_preset(name)
        for want_headers, want_sheets, want_files in mapping.detect:
            if (
                all(any(header_regex(w).fullmatch(h) for h in folded) for w in want_headers)
                and {_key(x) for x in want_sheets} <= have_sheets
                and {_key(x.format(stem=stem)) for x in want_files} <= have_files
            ):
                found.append(name)
                break
    return found[0] if len(found) == 1 else None


def parse_mapping(data: Any, source: str = "mapping", lang: str | None = None) -> ColumnMapping:
    """Build a ``ColumnMapping`` from parsed YAML (see ``load_mapping``)."""
    return _build(config.ConfigDoc(source, data), config.language(lang))


def _build(doc: config.ConfigDoc, lang: str) -> ColumnMapping:
    check = config.Checker(doc, lang)
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        check.add((), "config.mapping.not_mapping")
        _refuse(check, lang)
    model, problems = config.check_model(MappingModel, doc, lang)
    check.extend(problems)
    for key in ("items", "open_questions"):
        value = doc.data.get(key)
        names = pattern_fields(value) if isinstance(value, str) else set()
        if isinstance(value, str) and (
            names is None or not names & {"n", "id"} or names - {"n", "id"}
        ):
            check.add((key,), "config.mapping.pattern", value, n="{n}", id="{id}")
    labels = doc.data.get("labels")
    for k, name in enumerate([labels] if isinstance(labels, str) else labels or []):
        if not isinstance(name, str):
            continue
        try:
            name.format(stem="x")
        except (ValueError, KeyError, IndexError):
            where = ("labels",) if isinstance(labels, str) else ("labels", k)
            check.add(where, "ingest.mapping.labels_name", name, stem="{stem}")
    base: ColumnMapping | None = None
    start = doc.data.get("preset")
    if isinstance(start, str) and start.strip():
        if start.strip().lower() not in available_presets():
            check.add(
                ("preset",), "ingest.preset.unknown", start, presets=", ".join(available_presets())
            )
        else:
            base = load_preset(start, lang)
    columns = doc.data.get("columns")
    if isinstance(columns, dict):
        targets: dict[str, list[str]] = {}
        for head, target in columns.items():
            targets.setdefault(str(target).strip(), []).append(str(head))
        for target, heads in targets.items():
            if len(heads) > 1:
                check.add(
                    ("columns", heads[-1]),
                    "config.mapping.same_target",
                    target,
                    heads=", ".join(heads),
                )
    roles = config.raw_get(doc.data.get("values"), "role")
    if isinstance(roles, dict):
        for label, role in roles.items():
            if str(role).strip() not in ROLES:
                check.add(
                    ("values", "role", label), "config.mapping.role", role, roles=", ".join(ROLES)
                )
    _refuse(check, lang)
    assert model is not None

    def texts(value: Any) -> tuple[str, ...]:
        items = [value] if isinstance(value, str) else list(value or [])
        return tuple(str(x).strip() for x in items)

    def answer_map(values: dict[str, float | None] | None) -> dict[str, float | None]:
        return {_key(k): v for k, v in (values or {}).items()}

    built = ColumnMapping(
        columns={str(k).strip(): str(v).strip() for k, v in (model.columns or {}).items()},
        items=model.items,
        open_questions=model.open_questions,
        values={
            str(f): {str(k).strip(): str(v).strip() for k, v in (labels or {}).items()}
            for f, labels in (model.values or {}).items()
        },
        not_applicable=texts(model.not_applicable),
        ignore=texts(model.ignore),
        sheet=model.sheet,
        source=doc.source,
        wave=model.wave.strip() if model.wave else None,
        group=model.group.strip() if model.group else None,
        respondent_from_row=model.respondents == "row",
        header_row=model.header_row or 1,
        skip_rows=model.skip_rows or 0,
        encoding=model.encoding,
        answers=answer_map(model.answers),
        item_answers={str(i).strip(): answer_map(m) for i, m in (model.item_answers or {}).items()},
        items_by_text=bool(model.items_by_text),
        labels=texts(model.labels),
        labels_sheet=model.labels_sheet,
        tool=model.tool or "",
        preset=(model.preset or "").strip().lower(),
        detect=tuple(
            (tuple(d.headers or ()), tuple(d.sheets or ()), tuple(d.beside or ()))
            for d in model.detect or ()
        ),
    )
    return _start_from(base, built, doc.data) if base is not None else built


def _start_from(base: ColumnMapping, own: ColumnMapping, data: dict) -> ColumnMapping:
    """A mapping that starts from a preset: its own entries win, dictionaries are merged."""
    changes: dict[str, Any] = {"source": own.source, "detect": ()}
    names = {"respondents": "respondent_from_row"}
    for key in data:
        name = names.get(str(key), str(key))
        if name in ("preset",) or not hasattr(own, name):
            continue
        changes[name] = getattr(own, name)
    if "columns" in data:  # a field the mapping maps itself no longer comes from the preset
        taken = set(own.columns.values())
        changes["columns"] = {
            **{h: c for h, c in base.columns.items() if c not in taken},
            **own.columns,
        }
    if "values" in data:
        changes["values"] = {
            f: {**base.values.get(f, {}), **own.values.get(f, {})}
            for f in {*base.values, *own.values}
        }
    for key in ("answers", "item_answers"):
        if key in data:
            changes[key] = {**getattr(base, key), **getattr(own, key)}
    return dataclasses.replace(base, **changes)


def _refuse(check: config.Checker, lang: str) -> None:
    if check.problems:
        problems = sorted(check.problems, key=lambda p: (p.row is None, p.row or 0))
        raise ResponseFileError(check.doc.source, problems, hint=t(HINT, lang, example=EXAMPLE))
