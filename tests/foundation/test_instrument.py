"""Instruments as data: the shipped ones load, and a broken one is refused with every problem."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from kit.errors import InstrumentError, NotFoundError
from kit.exercises import load_exercises
from kit.instrument import (
    CATEGORY_ORDER,
    INSTRUMENTS_DIR,
    available_instruments,
    load_instrument,
    parse_instrument,
)
from kit.settings import LANGUAGES


def _minimal() -> dict:
    """A small valid instrument to break in tests."""
    return {
        "id": "mini",
        "version": "1",
        "languages": ["nb", "en"],
        "name": {"nb": "Mini", "en": "Mini"},
        "scale": {"min": 1, "max": 5, "labels": {"nb": list("abcde"), "en": list("abcde")}},
        "categories": [{"id": "climate", "name": {"nb": "Klima", "en": "Climate"}}],
        "dimensions": [
            {
                "id": "safety",
                "category": "climate",
                "recommendation": 4,
                "exercises": ["pulse"],
                "name": {"nb": "Trygghet", "en": "Safety"},
            }
        ],
        "items": [
            {"id": f"Q{i}", "dimension": "safety", "text": {"nb": f"nb {i}", "en": f"en {i}"}}
            for i in (1, 2, 3)
        ],
        "open_questions": [{"id": "O1", "text": {"nb": "Hva?", "en": "What?"}}],
    }


def test_shipped_instruments_are_listed():
    assert {"lagprofil", "pulse"} <= set(available_instruments())


@pytest.mark.parametrize("name", ["lagprofil", "pulse"])
def test_shipped_instrument_loads_with_both_languages(name):
    ins = load_instrument(name)
    assert ins.id == name
    assert set(ins.languages) == set(LANGUAGES)
    for item in ins.items:
        assert all(item.text[lang].strip() for lang in LANGUAGES), item.id
    for lang in LANGUAGES:
        assert len(ins.scale.labels[lang]) == ins.scale.options
    assert ins.scale.not_applicable and all(ins.scale.not_applicable.values())
    known = set(load_exercises())
    for dim in ins.dimensions:
        assert dim.exercises and set(dim.exercises) <= known, dim.id
        assert dim.category in CATEGORY_ORDER


def test_lagprofil_shape():
    ins = load_instrument("lagprofil")
    assert ins.scale.values == tuple(range(1, 8))
    assert 14 <= len(ins.dimensions) <= 16
    assert 50 <= len(ins.items) <= 60
    assert ins.item_ids == tuple(f"Q{i:02d}" for i in range(1, len(ins.items) + 1))
    assert len(ins.open_questions) == 3
    assert {d.category for d in ins.dimensions} == set(CATEGORY_ORDER)
    for dim in ins.dimensions:
        assert 3 <= len(dim.item_ids) <= 4, dim.id
    with_reverse = [d for d in ins.dimensions if any(ins.item(i).reverse for i in d.item_ids)]
    assert len(with_reverse) >= len(ins.dimensions) * 2 // 3
    # Every dimension keeps some positively worded items.
    for dim in ins.dimensions:
        assert any(not ins.item(i).reverse for i in dim.item_ids), dim.id


def test_lagprofil_covers_the_six_recommendations_and_the_results():
    ins = load_instrument("lagprofil")
    assert {d.recommendation for d in ins.dimensions} >= {1, 2, 3, 4, 5, 6}
    ids = set(ins.dimension_ids)
    assert {"value_added", "wellbeing", "growth"} <= ids
    assert {"team_leadership", "meetings", "conflict", "psychological_safety"} <= ids
    results = [d.id for d in ins.dimensions if d.category == "results"]
    assert set(results) == {"value_added", "wellbeing", "growth"}
    # Each recommendation's own exercise is suggested by a dimension of that recommendation.
    for ex in load_exercises().values():
        if ex.recommendation is not None:
            dims = [d for d in ins.dimensions if d.recommendation == ex.recommendation]
            assert any(ex.id in d.exercises for d in dims), ex.id


def test_item_texts_are_unique():
    ins = load_instrument("lagprofil")
    for lang in LANGUAGES:
        texts = [i.text[lang] for i in ins.items]
        assert len(set(texts)) == len(texts)


def test_pulse_is_short_on_five_points():
    ins = load_instrument("pulse")
    assert ins.scale.values == (1, 2, 3, 4, 5)
    assert 6 <= len(ins.items) <= 8
    assert len(ins.open_questions) == 1
    assert {d.recommendation for d in ins.dimensions} >= {1, 4, 5}


def test_instrument_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(_minimal(), allow_unicode=True), encoding="utf-8")
    ins = load_instrument(path)
    assert ins.id == "mini" and ins.source_path == str(path)
    assert ins.dimension("safety").item_ids == ("Q1", "Q2", "Q3")
    with pytest.raises(NotFoundError, match=r"Instrument 'nope' not found.*lagprofil"):
        load_instrument("nope", lang="en")
    with pytest.raises(NotFoundError, match=r"has no dimension 'x'; its dimensions are: safety"):
        ins.dimension("x")


def test_every_problem_is_reported_at_once():
    data = _minimal()
    data["items"].append({"id": "Q1", "dimension": "safety", "text": {"nb": "x", "en": "y"}})
    data["items"].append({"id": "Q8", "dimension": "ghost", "text": {"nb": "x", "en": "y"}})
    data["items"].append({"id": "Q9", "dimension": "safety", "text": {"nb": "bare bokmål"}})
    data["scale"] = {"min": 1, "max": 1, "labels": {}}
    data["dimensions"][0]["exercises"] = ["yoga"]
    with pytest.raises(InstrumentError) as info:
        parse_instrument(data, source="mini.yaml", lang="en")
    message = str(info.value)
    expected = [
        r"items\[3\]\.id +Q1 +the id is given twice \(first in items\[0\]\.id\)",
        r"items\[4\]\.dimension +ghost +is not a dimension in dimensions",
        r"items\[5\]\.text +has no translation for en",
        r"scale +the scale 1-1 is not a usable response scale",
        r"dimensions\[0\]\.exercises +yoga +are not exercises the kit knows",
    ]
    for pattern in expected:
        assert re.search(pattern, message), pattern
    assert len(info.value.problems) == len(expected)
    assert message.startswith("mini.yaml: 5 problems found")


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda d: d["scale"].update(min="one"), r"scale\.min +one +must be a whole number"),
        (lambda d: d["scale"]["labels"].update(en=["a"]), r"the scale needs 5 labels in en"),
        (lambda d: d.update(dimensions=[]), r"dimensions +must list at least 1"),
        (lambda d: d.update(items=[]), r"items +must list at least 1"),
        (
            lambda d: d["dimensions"][0].update(recommendation=9),
            r"recommendation +9 +must be at most 6",
        ),
        (lambda d: d["dimensions"][0].update(category="mood"), r"mood +is not a category"),
        (
            lambda d: d["open_questions"].append({"id": "Q1", "text": {"nb": "x", "en": "y"}}),
            r"used by both an item and an open question",
        ),
        (lambda d: d.update(categories="climate"), r"categories +climate +must be a list"),
        (lambda d: d["items"][0].update(reverse="yes"), r"reverse +yes +must be true or false"),
        (lambda d: d.update(languages=["nb", "de"]), r"languages\[1\] +de +must be one of nb, en"),
        (lambda d: d.pop("version"), r"version +is missing"),
        (lambda d: d["items"][0].pop("dimension"), r"items\[0\]\.dimension +is missing"),
        (
            lambda d: d["items"][0].update(reversed=True),
            r"items\[0\]\.reversed +is not a known key \(did you mean reverse\?\)",
        ),
        (lambda d: d["items"][0].update(scale="often"), r"often +is not a scale in scales"),
    ],
)
def test_single_problems(change, pattern):
    data = copy.deepcopy(_minimal())
    change(data)
    with pytest.raises(InstrumentError, match=pattern):
        parse_instrument(data, source="mini.yaml", lang="en")


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nitems: [\n  - oops: : :\n", encoding="utf-8")
    pattern = r"(?s)broken.yaml.*is not valid YAML \(line 3, column 3\).*expected node"
    with pytest.raises(InstrumentError, match=pattern):
        load_instrument(path, lang="en")
    with pytest.raises(
        InstrumentError, match=r"er ikke gyldig YAML \(linje 3, kolonne 3\)"
    ) as info:
        load_instrument(path, lang="nb")
    assert "expected" not in str(info.value)  # PyYAML's English stays out of a bokmål message


def test_shipped_instruments_are_plain_yaml_files():
    for path in INSTRUMENTS_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["id"] == path.stem
