"""Instruments are data: YAML files describing scale, dimensions, items and open questions.

``load_instrument("lagprofil")`` loads a shipped instrument from ``kit/data/instruments``;
``load_instrument(path)`` loads a licensed user's own. Loading validates the file and reports
every problem at once (duplicate ids, an item in no dimension, a missing translation, a bad scale),
strictly (``kit.config``: unknown keys such as ``reversed`` for ``reverse`` refused with a
did-you-mean, keys written twice refused, wrong types refused).

Scales: ``scale`` is the instrument's scale. A dimension or an item may give its own, inline
(``scale: {min: 0, max: 4, labels: ...}``) or by name from ``scales: {often: {...}}``. The items
of one dimension must share one scale (min and max): a dimension's mean, and rwg(J) with its
null variance (A^2-1)/12, are only meaningful over answers on the same A options; an instrument
mixing them within a dimension is refused. Reverse keying (min + max - x) and the checks of
answers use each item's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StrictBool, StrictInt, StringConstraints, Tag

from kit import config
from kit.errors import InstrumentError, NotFoundError
from kit.i18n import t
from kit.settings import DATA_DIR, LANGUAGES

INSTRUMENTS_DIR = DATA_DIR / "instruments"
CATEGORY_ORDER = ("prerequisites", "processes", "climate", "results")

Text = dict[str, str]  # language -> text


@dataclass(frozen=True)
class Scale:
    min: int
    max: int
    labels: dict[str, tuple[str, ...]]
    not_applicable: Text | None = None  # label of a "not applicable" option, if offered

    @property
    def options(self) -> int:
        """Number of response options A (for the uniform null variance (A^2-1)/12)."""
        return self.max - self.min + 1

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1))

    @property
    def null_variance(self) -> float:
        return (self.options**2 - 1) / 12


@dataclass(frozen=True)
class Category:
    id: str
    name: Text


@dataclass(frozen=True)
class Item:
    id: str
    dimension: str
    text: Text
    reverse: bool = False
    scale: Scale | None = None  # the item's own scale (the instrument's unless it gives one)


@dataclass(frozen=True)
class Dimension:
    id: str
    category: str
    name: Text
    description: Text
    item_ids: tuple[str, ...]
    recommendation: int | None = None  # 1-6, the programme's six recommendations
    exercises: tuple[str, ...] = ()  # live exercises suggested when the dimension is weak
    scale: Scale | None = None  # the one scale all its items share


@dataclass(frozen=True)
class OpenQuestion:
    id: str
    text: Text


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    languages: tuple[str, ...]
    name: Text
    scale: Scale
    categories: tuple[Category, ...]
    dimensions: tuple[Dimension, ...]
    items: tuple[Item, ...]
    open_questions: tuple[OpenQuestion, ...]
    source_path: str = ""

    @cached_property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @cached_property
    def dimension_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.dimensions)

    @cached_property
    def open_question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.open_questions)

    @cached_property
    def item_scales(self) -> tuple[Scale, ...]:
        """Each item's scale, in item order (the instrument's scale unless the item gives one)."""
        return tuple(i.scale or self.scale for i in self.items)

    @cached_property
    def has_one_scale(self) -> bool:
        """Whether every item is on the instrument's scale (reports and apps need this)."""
        return all((s.min, s.max) == (self.scale.min, self.scale.max) for s in self.item_scales)

    @cached_property
    def reverse_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.reverse)

    def item(self, item_id: str) -> Item:
        return self._items_by_id[item_id]

    def dimension(self, dimension_id: str) -> Dimension:
        try:
            return self._dimensions_by_id[dimension_id]
        except KeyError:
            raise NotFoundError.text(
                "engine.instrument.no_dimension",
                instrument=self.id,
                dimension=dimension_id,
                known=", ".join(self.dimension_ids),
            ) from None

    def category(self, category_id: str) -> Category:
        return next(c for c in self.categories if c.id == category_id)

    @cached_property
    def _items_by_id(self) -> dict[str, Item]:
        return {i.id: i for i in self.items}

    @cached_property
    def _dimensions_by_id(self) -> dict[str, Dimension]:
        return {d.id: d for d in self.dimensions}

    @cached_property
    def item_dimension(self) -> dict[str, str]:
        """item id -> dimension id."""
        return {i.id: i.dimension for i in self.items}


def available_instruments() -> list[str]:
    """Ids of the instruments shipped with the kit."""
    return sorted(p.stem for p in INSTRUMENTS_DIR.glob("*.yaml"))


def load_instrument(name_or_path: str | Path, lang: str | None = None) -> Instrument:
    """Load and validate an instrument by shipped id or by path to a YAML file."""
    lang = config.language(lang)
    path = Path(name_or_path)
    if not path.suffix:
        path = INSTRUMENTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise NotFoundError(
            t(
                "config.instrument.not_found",
                lang,
                name=str(name_or_path),
                shipped=", ".join(available_instruments()),
            )
        )
    doc = config.read_config(path, error=InstrumentError, lang=lang, hint_key=HINT)
    return _build(doc, lang, source_path=str(path))


def parse_instrument(
    data: Any, source: str = "instrument", source_path: str = "", lang: str | None = None
) -> Instrument:
    """Build an ``Instrument`` from parsed YAML, collecting every problem before refusing."""
    return _build(config.ConfigDoc(source, data), config.language(lang), source_path)


# -- the schema ----------------------------------------------------------------------------------
HINT = "config.instrument.hint"
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


TextIn = Annotated[
    Annotated[str, Tag("<text>")] | Annotated[dict[str, str | None], Tag("<mapping>")],
    Discriminator(config.text_or_mapping),
]


class ScaleModel(config.StrictModel):
    min: StrictInt
    max: StrictInt
    labels: dict[str, list[str]] | None = None
    not_applicable: TextIn | None = None


ScaleIn = Annotated[
    Annotated[ScaleModel, Tag("<mapping>")] | Annotated[Id, Tag("<text>")],
    Discriminator(config.text_or_mapping),
]
Ids = Annotated[
    Annotated[list[str], Tag("<list>")] | Annotated[str, Tag("<text>")],
    Discriminator(config.list_or_text),
]
Languages = Annotated[
    Annotated[list[Literal["nb", "en"]], Tag("<list>")]
    | Annotated[Literal["nb", "en"], Tag("<text>")],
    Discriminator(config.list_or_text),
]


class CategoryModel(config.StrictModel):
    id: Id
    name: TextIn


class DimensionModel(config.StrictModel):
    id: Id
    category: str | None = None
    recommendation: Annotated[StrictInt, Field(ge=1, le=6)] | None = None
    exercises: Ids | None = None
    name: TextIn
    description: TextIn | None = None
    scale: ScaleIn | None = None


class ItemModel(config.StrictModel):
    id: Id
    dimension: Id
    text: TextIn
    reverse: StrictBool = False
    scale: ScaleIn | None = None


class OpenQuestionModel(config.StrictModel):
    id: Id
    text: TextIn


class InstrumentModel(config.StrictModel):
    id: Id
    version: Name
    languages: Languages | None = None
    name: TextIn
    scale: ScaleModel
    scales: dict[str, ScaleModel] | None = None
    categories: list[CategoryModel] | None = None
    dimensions: Annotated[list[DimensionModel], Field(min_length=1)]
    items: Annotated[list[ItemModel], Field(min_length=1)]
    open_questions: list[OpenQuestionModel] | None = None


def _build(doc: config.ConfigDoc, lang: str, source_path: str = "") -> Instrument:
    check = config.Checker(doc, lang)
    if not isinstance(doc.data, dict):
        check.add((), "config.instrument.not_mapping")
        check.refuse_if_any(InstrumentError, HINT)
    model, problems = config.check_model(InstrumentModel, doc, lang)
    check.extend(problems)
    _cross_check_raw(doc.data, check)
    if model is None:  # check the cross-references among the valid parts too: one pass
        model = config.partial_model(InstrumentModel, doc.data)  # type: ignore[assignment]
    languages = _languages(model.languages)
    texts = _Texts(check, languages)

    def scale(m: ScaleModel | None, path: tuple) -> Scale | None:
        if m is None:
            return None
        if m.max - m.min < 1 or m.max - m.min > 10:
            check.add(path, "config.instrument.scale_range", lo=m.min, hi=m.max)
            return None
        labels: dict[str, tuple[str, ...]] = {}
        for lg in languages:
            got = (m.labels or {}).get(lg)
            if got is None or len(got) != m.max - m.min + 1:
                check.add(
                    (*path, "labels", lg) if m.labels else (*path, "labels"),
                    "config.instrument.scale_labels",
                    lang_=lg,
                    n=m.max - m.min + 1,
                    lo=m.min,
                    hi=m.max,
                )
            else:
                labels[lg] = tuple(str(x) for x in got)
        na = None
        if m.not_applicable is not None:
            na = texts(m.not_applicable, (*path, "not_applicable"))
        return Scale(m.min, m.max, labels, na)

    default = scale(model.scale, ("scale",))
    named = {k: scale(v, ("scales", k)) for k, v in (model.scales or {}).items()}

    def resolve(entry: Any, path: tuple, fallback: Scale | None) -> Scale | None:
        if entry is None:
            return fallback
        if isinstance(entry, ScaleModel):
            return scale(entry, path)
        if entry not in named:
            check.add(
                path,
                "config.instrument.unknown_scale",
                entry,
                names=", ".join(sorted(named)) or "-",
            )
            return fallback
        return named[entry]

    categories = [
        Category(c.id, texts(c.name, ("categories", i, "name")))
        for i, c in enumerate(model.categories or [])
        if c is not None
    ]
    cat_ids = {c.id for c in categories}
    known_exercises = _exercise_ids()
    dim_scales: dict[str, Scale | None] = {}
    for i, d in enumerate(model.dimensions or []):
        if d is None:
            continue
        dim_scales.setdefault(d.id, resolve(d.scale, ("dimensions", i, "scale"), default))
    items = []
    for i, it in enumerate(model.items or []):
        if it is None:
            continue
        sc = resolve(it.scale, ("items", i, "scale"), dim_scales.get(it.dimension, default))
        if it.dimension not in dim_scales:
            check.add(
                ("items", i, "dimension"),
                "config.instrument.unknown_dimension",
                it.dimension,
                known=", ".join(dim_scales),
            )
        items.append(
            Item(
                it.id,
                it.dimension,
                texts(it.text, ("items", i, "text")),
                it.reverse,
                sc or default or Scale(1, 2, {}),
            )
        )

    dimensions = []
    for i, d in enumerate(model.dimensions or []):
        if d is None:
            continue
        where = ("dimensions", i)
        if cat_ids and (d.category or "") not in cat_ids:
            check.add(
                (*where, "category"),
                "config.instrument.unknown_category",
                d.category,
                known=", ".join(sorted(cat_ids)),
            )
        exercises = [d.exercises] if isinstance(d.exercises, str) else list(d.exercises or [])
        unknown = [e for e in exercises if known_exercises and e not in known_exercises]
        if unknown:
            check.add(
                (*where, "exercises"),
                "config.instrument.unknown_exercises",
                ", ".join(unknown),
                known=", ".join(sorted(known_exercises)),
            )
        members = [it for it in items if it.dimension == d.id]
        if not members:
            check.add((*where, "id"), "config.instrument.no_items", d.id)
        ranges = sorted({(it.scale.min, it.scale.max) for it in members})
        if len(ranges) > 1:
            check.add(
                (*where, "id"),
                "config.instrument.mixed_scales",
                d.id,
                scales=", ".join(f"{lo}-{hi}" for lo, hi in ranges),
            )
        dimensions.append(
            Dimension(
                id=d.id,
                category=d.category or "",
                name=texts(d.name, (*where, "name")),
                description=texts(d.description or d.name, (*where, "description")),
                item_ids=tuple(it.id for it in members),
                recommendation=d.recommendation,
                exercises=tuple(exercises),
                scale=members[0].scale if members else default,
            )
        )

    questions = []
    item_ids = {it.id for it in items}
    for i, q in enumerate(model.open_questions or []):
        if q is None:
            continue
        questions.append(OpenQuestion(q.id, texts(q.text, ("open_questions", i, "text"))))
        if q.id in item_ids:
            check.add(("open_questions", i, "id"), "config.instrument.item_and_question", q.id)

    name = texts(model.name, ("name",))
    check.refuse_if_any(InstrumentError, HINT)
    return Instrument(
        id=model.id,
        version=model.version,
        languages=languages,
        name=name,
        scale=default,  # type: ignore[arg-type]
        categories=tuple(categories),
        dimensions=tuple(dimensions),
        items=tuple(items),
        open_questions=tuple(questions),
        source_path=source_path,
    )


def _languages(value: Any) -> tuple[str, ...]:
    if value is None:
        return LANGUAGES
    return (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))


def _cross_check_raw(data: Any, check: config.Checker) -> None:
    """Id checks that need no schema (duplicates), so they come with the schema's problems."""
    get = config.raw_get
    for key in ("categories", "dimensions", "items", "open_questions"):
        check.unique(
            [((key, i, "id"), get(x, "id")) for i, x in config.raw_items(get(data, key))],
            "config.instrument.duplicate_id",
        )


class _Texts:
    """A text per language, checked: every language of the instrument has one."""

    def __init__(self, check: config.Checker, languages: tuple[str, ...]) -> None:
        self.check, self.languages = check, languages

    def __call__(self, value: Any, path: tuple) -> Text:
        if isinstance(value, str):
            if len(self.languages) == 1:
                return {self.languages[0]: value}
            self.check.add(path, "config.instrument.one_text", langs=", ".join(self.languages))
            return {}
        value = value or {}
        missing = [lg for lg in self.languages if not str(value.get(lg) or "").strip()]
        if missing:
            self.check.add(path, "config.instrument.no_translation", langs=", ".join(missing))
        return {lg: str(value[lg]) for lg in self.languages if value.get(lg)}


def _exercise_ids() -> set[str]:
    """Ids of the kit's exercises (empty if they cannot be read: then they are not checked)."""
    try:
        from kit.exercises import load_exercises

        return set(load_exercises())
    except Exception:  # noqa: BLE001 - an unreadable exercises file is reported by its own loader
        return set()
