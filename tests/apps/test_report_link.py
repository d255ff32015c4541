"""Whether a dashboard offers its group's PDF, and which PDF ``/kit/report`` sends: found in the
report runs' manifests by group id, never by a file name that merely contains the id."""

from __future__ import annotations

from types import SimpleNamespace

from kit.apps.view import group_report_pdf
from kit.settings import Settings
from tests.apps.test_served import write_report_run


def test_a_group_id_inside_another_groups_file_name_finds_nothing(tmp_path):
    settings = Settings(home_dir=tmp_path, database_url="")
    served = SimpleNamespace(settings=settings)
    assert group_report_pdf(settings, "acme", "nb") is None  # no outputs at all
    write_report_run(
        served,
        "run-1",
        {
            "groups/acme-board_after": ("acme-board", "nb", "the board"),
            "groups/x-acme_before": ("x-acme", "en", "x"),
            "acme/c-split-small_after": ("c-split-small", "nb", "small"),
        },
    )
    assert group_report_pdf(settings, "acme", "nb") is None
    assert group_report_pdf(settings, "c-split", "nb") is None
    board = group_report_pdf(settings, "acme-board", "nb")
    assert board is not None and board.name == "acme-board_after.pdf"
    # its own report, in the language asked for when there is one
    write_report_run(
        served,
        "run-2",
        {"groups/acme_after_en": ("acme", "en", "A en"), "groups/acme_after": ("acme", "nb", "A")},
    )
    assert group_report_pdf(settings, "acme", "en").name == "acme_after_en.pdf"
    assert group_report_pdf(settings, "acme", "nb").name == "acme_after.pdf"
