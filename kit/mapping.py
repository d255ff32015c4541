"""Column mappings: how a survey tool's export maps onto the canonical response table (YAML).

See ``kit/data/mappings/example_surveytool.yaml``. ``load_mapping(path)`` reads a mapping strictly
(``kit.config``: unknown keys refused with a did-you-mean, keys written twice refused, wrong types
refused) and lists every problem before it refuses; ``kit.ingest`` uses the ``ColumnMapping``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Tag

from kit import config
from kit.errors import Problem, ResponseFileError
from kit.i18n import t

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


# -- the schema ----------------------------------------------------------------------------------
Texts = Annotated[
    Annotated[list[str], Tag("<list>")] | Annotated[str, Tag("<text>")],
    Discriminator(config.list_or_text),
]


class MappingModel(config.StrictModel):
    columns: dict[str, str] | None = None
    items: str | None = None
    open_questions: str | None = None
    values: dict[Literal["wave", "role", "group"], dict[str, str] | None] | None = None
    not_applicable: Texts | None = None
    ignore: Texts | None = None
    sheet: str | None = None


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
        if isinstance(value, str) and "{n}" not in value and "{id}" not in value:
            check.add((key,), "config.mapping.pattern", value, n="{n}", id="{id}")
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

    return ColumnMapping(
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
    )


def _refuse(check: config.Checker, lang: str) -> None:
    if check.problems:
        problems = sorted(check.problems, key=lambda p: (p.row is None, p.row or 0))
        raise ResponseFileError(check.doc.source, problems, hint=t(HINT, lang, example=EXAMPLE))
