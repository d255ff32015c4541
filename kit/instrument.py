"""Instruments are data: YAML files describing scale, dimensions, items and open questions.

``load_instrument("lagprofil")`` loads a shipped instrument from ``kit/data/instruments``;
``load_instrument(path)`` loads a licensed user's own. Loading validates the file and reports
every problem at once (duplicate ids, an item in no dimension, a missing translation, a bad scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from kit.errors import InstrumentError, NotFoundError, Problem
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


@dataclass(frozen=True)
class Dimension:
    id: str
    category: str
    name: Text
    description: Text
    item_ids: tuple[str, ...]
    recommendation: int | None = None  # 1-6, the programme's six recommendations
    exercises: tuple[str, ...] = ()  # live exercises suggested when the dimension is weak


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
    def reverse_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items if i.reverse)

    def item(self, item_id: str) -> Item:
        return self._items_by_id[item_id]

    def dimension(self, dimension_id: str) -> Dimension:
        try:
            return self._dimensions_by_id[dimension_id]
        except KeyError:
            raise NotFoundError(
                f"Instrument {self.id!r} has no dimension {dimension_id!r}; "
                f"its dimensions are: {', '.join(self.dimension_ids)}."
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


def load_instrument(name_or_path: str | Path) -> Instrument:
    """Load and validate an instrument by shipped id or by path to a YAML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = INSTRUMENTS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise NotFoundError(
            f"Instrument {str(name_or_path)!r} not found. Give the path to a YAML file, or one of "
            f"the shipped instruments: {', '.join(available_instruments())}."
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        col = f", column {mark.column + 1}" if mark is not None else ""
        raise InstrumentError(
            path.name,
            [Problem(path.name, f"is not valid YAML (line {row}{col}): {what}", row=row)],
            hint="Check the indentation and the quoting near that line.",
        ) from None
    return parse_instrument(data, source=path.name, source_path=str(path))


def parse_instrument(data: Any, source: str = "instrument", source_path: str = "") -> Instrument:
    """Build an ``Instrument`` from parsed YAML, collecting every problem before refusing."""
    v = _Validator(source)
    if not isinstance(data, dict):
        v.add("the file must be a mapping with id, version, scale, dimensions and items")
        v.raise_if_any()
    iid = v.req_str(data, "id")
    version = str(data.get("version", "")).strip() or v.add("version is missing") or ""
    raw_languages = data.get("languages") or LANGUAGES
    if isinstance(raw_languages, str):
        raw_languages = [raw_languages]
    languages = tuple(str(x) for x in raw_languages)
    bad_lang = [lang for lang in languages if lang not in LANGUAGES]
    if bad_lang:
        v.add(f"languages {bad_lang} are not supported; use {list(LANGUAGES)}")
    v.languages = tuple(lang for lang in languages if lang in LANGUAGES)
    name = v.text(data.get("name"), "name")
    scale = v.scale(data.get("scale"))

    categories = []
    for i, c in enumerate(_as_list(v, data.get("categories"), "categories")):
        if not isinstance(c, dict):
            v.add(f"categories[{i}] must be a mapping with id and name")
            continue
        cid = v.req_str(c, "id", f"categories[{i}]")
        categories.append(Category(cid, v.text(c.get("name"), f"category {cid}.name")))
    v.unique([c.id for c in categories], "category")
    cat_ids = {c.id for c in categories}

    items = []
    for i, it in enumerate(_as_list(v, data.get("items"), "items")):
        if not isinstance(it, dict):
            v.add(f"items[{i}] must be a mapping with id, dimension and text")
            continue
        item_id = v.req_str(it, "id", f"items[{i}]")
        dim = it.get("dimension")
        if not dim:
            v.add(f"item {item_id} is in no dimension; give it 'dimension: <id>'")
        reverse = it.get("reverse", False)
        if not isinstance(reverse, bool):
            v.add(f"item {item_id}: reverse must be true or false, not {reverse!r}")
        text = v.text(it.get("text"), f"item {item_id}.text")
        items.append(Item(item_id, str(dim or ""), text, bool(reverse)))
    if not items:
        v.add("the instrument has no items")
    v.unique([i.id for i in items], "item")

    dimensions = []
    raw_dims = _as_list(v, data.get("dimensions"), "dimensions")
    known_exercises = _exercise_ids()
    if not raw_dims:
        v.add("the instrument has no dimensions")
    for i, d in enumerate(raw_dims):
        if not isinstance(d, dict):
            v.add(f"dimensions[{i}] must be a mapping")
            continue
        did = v.req_str(d, "id", f"dimensions[{i}]")
        cat = str(d.get("category", ""))
        if cat_ids and cat not in cat_ids:
            v.add(f"dimension {did}: category {cat!r} is not one of {sorted(cat_ids)}")
        rec = d.get("recommendation")
        if rec is not None and rec not in range(1, 7):
            v.add(f"dimension {did}: recommendation must be 1-6, not {rec!r}")
        exercises = d.get("exercises") or []
        if isinstance(exercises, str):
            exercises = [exercises]
        unknown = [e for e in exercises if known_exercises and e not in known_exercises]
        if unknown:
            v.add(f"dimension {did}: unknown exercises {unknown}; use ids from "
                  f"kit/data/exercises.yaml: {', '.join(sorted(known_exercises))}")
        member_ids = tuple(it.id for it in items if it.dimension == did)
        if not member_ids:
            v.add(f"dimension {did} has no items")
        dimensions.append(
            Dimension(
                id=did,
                category=cat,
                name=v.text(d.get("name"), f"dimension {did}.name"),
                description=v.text(
                    d.get("description") or d.get("name"), f"dimension {did}.description"
                ),
                item_ids=member_ids,
                recommendation=rec,
                exercises=tuple(str(e) for e in exercises),
            )
        )
    v.unique([d.id for d in dimensions], "dimension")
    dim_ids = {d.id for d in dimensions}
    for it in items:
        if it.dimension and it.dimension not in dim_ids:
            v.add(f"item {it.id} is in dimension {it.dimension!r}, which is not defined")

    questions = []
    for i, q in enumerate(_as_list(v, data.get("open_questions"), "open_questions")):
        if not isinstance(q, dict):
            v.add(f"open_questions[{i}] must be a mapping with id and text")
            continue
        qid = v.req_str(q, "id", f"open_questions[{i}]")
        questions.append(OpenQuestion(qid, v.text(q.get("text"), f"open question {qid}.text")))
    v.unique([q.id for q in questions], "open question")
    clash = {i.id for i in items} & {q.id for q in questions}
    if clash:
        v.add(f"ids used for both an item and an open question: {sorted(clash)}")

    v.raise_if_any()
    return Instrument(
        id=iid,
        version=version,
        languages=v.languages,
        name=name,
        scale=scale,  # type: ignore[arg-type]
        categories=tuple(categories),
        dimensions=tuple(dimensions),
        items=tuple(items),
        open_questions=tuple(questions),
        source_path=source_path,
    )


def _as_list(v: _Validator, value: Any, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.add(f"{key} must be a list")
        return []
    return value


def _exercise_ids() -> set[str]:
    """Ids of the kit's exercises (empty if they cannot be read: then they are not checked)."""
    try:
        from kit.exercises import load_exercises

        return set(load_exercises())
    except Exception:  # noqa: BLE001 - an unreadable exercises file is reported by its own loader
        return set()


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.languages: tuple[str, ...] = LANGUAGES

    def add(self, reason: str) -> None:
        self.problems.append(Problem(self.source, reason))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InstrumentError(
                self.source,
                self.problems,
                hint="Fix the instrument file; see kit/data/instruments/lagprofil.yaml for the "
                "format.",
            )

    def req_str(self, d: Any, key: str, where: str = "") -> str:
        value = d.get(key) if isinstance(d, dict) else None
        if value is None or str(value).strip() == "":
            self.add(f"{where + ': ' if where else ''}{key} is missing")
            return ""
        return str(value)

    def text(self, value: Any, where: str) -> Text:
        if isinstance(value, str):
            one = len(self.languages) == 1
            value = {lang: value for lang in self.languages} if one else {"?": value}
        if not isinstance(value, dict):
            self.add(f"{where} must give a text per language ({', '.join(self.languages)})")
            return {}
        missing = [lang for lang in self.languages if not str(value.get(lang) or "").strip()]
        if missing:
            self.add(f"{where} has no translation for {', '.join(missing)}")
        return {lang: str(value[lang]) for lang in self.languages if value.get(lang)}

    def scale(self, s: Any) -> Scale | None:
        if not isinstance(s, dict):
            self.add("scale is missing: give min, max and labels per language")
            return None
        lo, hi = s.get("min"), s.get("max")
        if any(not isinstance(x, int) or isinstance(x, bool) for x in (lo, hi)):
            self.add(f"scale min and max must be whole numbers, not {lo!r} and {hi!r}")
            return None
        if hi - lo < 1 or hi - lo > 10:
            self.add(f"scale {lo}-{hi} is not a usable response scale (2 to 11 options)")
            return None
        labels: dict[str, tuple[str, ...]] = {}
        raw = s.get("labels") or {}
        if not isinstance(raw, dict):
            raw = {}
        for lang in self.languages:
            got = raw.get(lang)
            if not isinstance(got, list) or len(got) != hi - lo + 1:
                self.add(
                    f"scale labels for {lang} must list {hi - lo + 1} labels, "
                    f"one per value {lo}-{hi}"
                )
            else:
                labels[lang] = tuple(str(x) for x in got)
        na = s.get("not_applicable")
        na_text = self.text(na, "scale.not_applicable") if na else None
        return Scale(lo, hi, labels, na_text)

    def unique(self, ids: list[str], kind: str) -> None:
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                self.add(f"duplicate {kind} id {i!r}")
            seen.add(i)
