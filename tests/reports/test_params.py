"""Report parameters and run files: validated before any kernel starts."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from kit.errors import ParameterError
from kit.reports.make_notebooks import NOTEBOOKS, build_notebook
from kit.reports.params import (
    CohortReportParams,
    GroupReportParams,
    load_run_file,
    parameters_cell_source,
    validate_params,
)
from kit.settings import PROJECT_DIR, load_settings


def test_valid_group_params_are_typed() -> None:
    p = validate_params(
        GroupReportParams,
        {
            "group_id": "k1-a",
            "waves": ["before", "after"],
            "min_respondents": "5",
            "language": "en",
        },
    )
    assert p.group_id == "k1-a"
    assert p.wave_list == ["before", "after"]
    assert p.min_respondents == 5


def test_unknown_name_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(
        ParameterError,
        match=r"group .*is not a parameter of the group report \(did you mean group_id\?\)",
    ):
        validate_params(GroupReportParams, {"group": "k1-a"}, lang="en")


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ParameterError, match=r"4 problems") as info:
        validate_params(
            GroupReportParams,
            {"group_id": "", "language": "de", "min_respondents": 2, "norm_base": "world"},
            lang="en",
        )
    text = str(info.value)
    assert "is required: the id of the group" in text
    assert "must be one of nb, en or empty" in text
    assert "below 3 an answer can be traced to a person" in text
    assert "must be one of norm, all, programme" in text


def test_bad_number_and_bad_url() -> None:
    with pytest.raises(ParameterError, match=r"must be a whole number"):
        validate_params(CohortReportParams, {"cohort_id": "kull-1", "seed": "abc"}, lang="en")
    with pytest.raises(ParameterError, match=r"is not a database URL"):
        validate_params(
            CohortReportParams, {"cohort_id": "kull-1", "database_url": "kit.db"}, lang="en"
        )


def test_comment_threshold_below_score_threshold_is_refused() -> None:
    with pytest.raises(ParameterError, match=r"must be 0 or at least min_respondents"):
        validate_params(
            GroupReportParams,
            {"group_id": "g", "min_respondents": 6, "min_comment_respondents": 5},
            lang="en",
        )


def test_params_apply_to_settings(tmp_path: Path) -> None:
    settings = load_settings(home_dir=tmp_path)
    p = validate_params(
        GroupReportParams, {"group_id": "g", "min_respondents": 6, "database_url": "sqlite:///x.db"}
    )
    s = p.settings_for(settings)
    assert s.min_respondents == 6 and s.min_comment_respondents >= 7
    assert s.database_url == "sqlite:///x.db"


@pytest.mark.parametrize("cls", list(NOTEBOOKS))
def test_notebook_parameters_cell_matches_dataclass(cls: type) -> None:
    nb = nbformat.read(str(PROJECT_DIR / "notebooks" / cls.notebook), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert cell.source.strip() == parameters_cell_source(cls).strip()
    assert [c.source for c in nb.cells] == [c.source for c in build_notebook(cls).cells]


def test_demo_run_file_is_valid() -> None:
    spec = load_run_file(PROJECT_DIR / "parameters" / "demo_programme.yaml")
    kinds = [j.kind for j in spec.jobs]
    assert kinds.count("group") == 16 and kinds.count("cohort") == 4
    assert kinds.count("programme") == 1
    group_job = spec.jobs[0]
    assert group_job.params.wave_list == ["before", "after"]
    assert group_job.stem == "groups/k1-kystverket_after"


def test_run_file_problems_are_collected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad run\nwaves: [before]\nreport_waves: [after]\ngroups: ['a b']\n"
        "colour: blue\nlanguage: de\n",
        encoding="utf-8",
    )
    with pytest.raises(ParameterError, match=r"bad.yaml: \d+ problems") as info:
        load_run_file(path, lang="en")
    text = str(info.value)
    for expected in (
        r"5 +colour +is not a known key",
        r"1 +name +bad run +may hold only the letters",
        r"3 +report_waves\[0\] +after +is not one of the waves in waves \(before\)",
        r"4 +groups\[0\] +a b +may hold only",
        r'6 +language +de +must be one of "", nb, en',
    ):
        assert re.search(expected, text), expected


def test_missing_run_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"(?s)does not exist.*demo_programme.yaml"):
        load_run_file(tmp_path / "nope.yaml", lang="en")


def test_empty_run_file_has_nothing_to_make(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("waves: [before]\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"nothing to make"):
        load_run_file(path, lang="en")
