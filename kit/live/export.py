"""A session's data as CSV files (``kit session export``).

By default the export holds what the room could see, by the same rules: each round's newest
published version (``kit.live.visibility``; exporting is a view, so it publishes a version where
the step rule allows one), every aggregate with at least ``min_respondents`` participants, no
individual answers. ``raw=True`` adds ``answers-raw.csv``: every participant's answers, also those
below the thresholds, for the facilitator's own work. It says so in its first line, beside a
README-RAW.txt on how to protect it, and the folder is made readable only by its owner. Every CSV
goes through ``kit.csvfile.write_csv`` (atomic; formula-leading text neutralised).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kit.csvfile import write_csv
from kit.i18n import t
from kit.live.rounds import DECISION_SOURCES
from kit.live.summary import PUBLISHED, round_results
from kit.live.visibility import min_respondents, visible_round
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo

RAW_NAME = "answers-raw.csv"
RAW_README = "README-RAW.txt"
# the newer interactions' tables (issue 12), each row a part of a published version
INTERACTIONS = {
    "polls": ["round", "kind", "question", "option", "n", "mean", "sd", "mean_rank", "borda",
              "points", "givers", "x", "x_sd", "x_n", "y", "y_sd", "y_n"],
    "words": ["round", "question", "word", "count"],
    "qa": ["round", "question", "entry", "votes", "approved"],
    "boundedness": ["round", "name", "count", "share", "band"],
    "decisions": ["round", "decision", "n", "breadth", *DECISION_SOURCES],
    "proposals": ["round", "proposal", "accepted"],
}
PULSE_COLUMNS = ["round", "item", "text", "n", "na", "mean", "sd", "rwg", "disagreement", "hidden"]


@dataclass(frozen=True)
class Exported:
    """The files written; ``raw`` is the raw answers file (None unless asked for)."""

    paths: list[Path]
    raw: Path | None = None
    min_respondents: int = 0


COUNTS = ("n", "na", "votes", "voters", "wanted_n", "power_n", "interest_n", "respondents",
          "givers", "x_n", "y_n", "count", "turns")


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame; counts as whole numbers (empty where hidden, never 0.0 or NaN)."""
    frame = pd.DataFrame(rows, columns=columns)
    for col in frame.columns:
        if col in COUNTS or col.startswith("count_"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").round().astype("Int64")
    return frame


def export_session(store: Store, settings: Settings, code: str, out_dir: Path | None = None,
                   *, raw: bool = False) -> Exported:
    """Write session, rounds, pulse, purpose, agenda, stakeholders, airtime, turns and actions
    CSV files (thresholds applied); with ``raw`` also the raw answers. Returns what was written."""
    session = repo.get_session(store, code)
    out_dir = out_dir or settings.outputs_dir / "live" / session["code"]
    out_dir.mkdir(parents=True, exist_ok=True)
    lang = session["language"]
    min_n = min_respondents(settings, session)
    rounds = repo.list_rounds(store, session["id"])
    counts = repo.admission(store, session["id"])
    turns = repo.list_turns(store, [r["id"] for r in rounds])
    tables: dict[str, list[dict[str, Any]]] = {k: [] for k in (
        "rounds", "pulse", "purpose", "agenda", "stakeholders", "airtime", *INTERACTIONS)}
    for rnd in rounds:
        published: dict[str, Any] = {"version": 0, "published_at": None, "respondents": None}
        if rnd["exercise"] == "airtime":
            res = round_results(rnd, repo.frozen_frame([]), settings, lang,
                                turns[turns["round_id"] == rnd["id"]])
            for rec in res.get("speakers", []):
                tables["airtime"].append({"round": rnd["id"], **rec})
        elif rnd["exercise"] in PUBLISHED:
            shown = visible_round(store, settings, rnd)
            frozen = shown.answers if shown.answers is not None else repo.frozen_frame([])
            res = round_results(rnd, frozen, settings, lang)
            published = shown.info()
            published["respondents"] = res["respondents"]
            _add_results(tables, rnd, res)
        tables["rounds"].append({
            "round": rnd["id"], "ordinal": rnd["ordinal"], "exercise": rnd["exercise"],
            "status": rnd["status"], "revealed": rnd["revealed"],
            "config": json.dumps(rnd["config"], ensure_ascii=False),
            "outcome": json.dumps(rnd["outcome"], ensure_ascii=False) if rnd["outcome"] else "",
            "opened_at": rnd["opened_at"], "closed_at": rnd["closed_at"],
            "version": published["version"], "published_at": published["published_at"],
            "respondents": published["respondents"], "min_respondents": min_n})
    scale = sorted({k for rec in tables["pulse"] for k in rec if k.startswith("count_")},
                   key=lambda k: int(k.split("_")[1]))
    frames: dict[str, pd.DataFrame] = {
        "session": pd.DataFrame([{
            "code": session["code"], "title": session["title"], "cohort_id": session["cohort_id"],
            "groups": " ".join(session["group_ids"]), "language": session["language"],
            "instrument": session["instrument_id"], "status": session["status"],
            "created_at": session["created_at"], "closed_at": session["closed_at"],
            "expected": counts["expected"], "admitted": counts["admitted"],
            "joined": counts["joined"], "min_respondents": min_n}]),
        "rounds": _frame(tables["rounds"], ["round", "ordinal", "exercise", "status", "revealed",
                                            "config", "outcome", "opened_at", "closed_at",
                                            "version", "published_at", "respondents",
                                            "min_respondents"]),
        "pulse": _frame(tables["pulse"], [*PULSE_COLUMNS, *scale]),
        "purpose": _frame(tables["purpose"], ["round", "statement", "votes", "voters",
                                              "hidden"]),
        "agenda": _frame(tables["agenda"], ["round", "focus", "actual_minutes", "actual",
                                            "wanted", "wanted_n", "hidden"]),
        "stakeholders": _frame(tables["stakeholders"], [
            "round", "actor", "power", "power_sd", "power_n", "interest", "interest_sd",
            "interest_n", "quadrant"]),
        "airtime": _frame(tables["airtime"], ["round", "speaker", "seconds", "turns", "share",
                                              "leader"]),
        **{name: _frame(tables[name], cols) for name, cols in INTERACTIONS.items()},
        "turns": turns,
        "actions": repo.list_session_actions(store, session["id"]).drop(columns=["id"]),
    }
    paths = [write_csv(frame, out_dir / f"{name}.csv") for name, frame in frames.items()]
    raw_path = None
    if raw:
        raw_path = _write_raw(store, session, rounds, out_dir, lang, min_n)
        paths.append(raw_path)
        paths.append(out_dir / RAW_README)
    return Exported(paths, raw_path, min_n)


def _add_results(tables: dict[str, list[dict[str, Any]]], rnd: dict[str, Any],
                 res: dict[str, Any]) -> None:
    rid = rnd["id"]
    ex = rnd["exercise"]
    if res.get("hidden"):
        return
    if ex == "pulse":
        for rec in res.get("items", []):
            row = {k: rec.get(k) for k in PULSE_COLUMNS if k != "round"}
            row.update({f"count_{v}": rec.get(str(v)) for v in res.get("scale", [])})
            tables["pulse"].append({"round": rid, **row})
    elif ex == "purpose":
        for rec in res.get("statements", []):
            tables["purpose"].append({"round": rid, "statement": rec["text"],
                                      "votes": rec["votes"], "voters": rec["voters"],
                                      "hidden": bool(res.get("votes_hidden"))})
    elif ex == "agenda_audit":
        for rec in res.get("split", []):
            tables["agenda"].append({"round": rid, **rec, "hidden": bool(
                res.get("entries_hidden") or res.get("wanted_hidden"))})
    elif ex in ("poll", "wordcloud", "qa", "boundedness", "decision_review", "action_plan"):
        _add_interaction(tables, rnd, res)
    elif ex == "stakeholder_map":
        for rec in res.get("actors", []):
            tables["stakeholders"].append({"round": rid, **{
                k: rec.get(k) for k in ("actor", "power", "power_sd", "power_n", "interest",
                                        "interest_sd", "interest_n", "quadrant")}})


def _write_raw(store: Store, session: dict[str, Any], rounds: list[dict[str, Any]],
               out_dir: Path, lang: str, min_n: int) -> Path:
    """Every answer (admitted or not), participants numbered 1..n, the notice as line 1."""
    answers = repo.load_answers(store, session_id=session["id"], admitted_only=False)
    admitted = set(repo.load_answers(store, session_id=session["id"])["participant"])
    number = {p: i for i, p in enumerate(sorted(answers["participant"].unique()), start=1)}
    by_round = {r["id"]: r for r in rounds}
    frame = pd.DataFrame({
        "round": answers["round_id"],
        "exercise": [by_round[r]["exercise"] for r in answers["round_id"]],
        "participant": answers["participant"].map(number),
        "admitted": answers["participant"].isin(admitted),
        "group": answers["group_id"], "question": answers["question"],
        "value": answers["value"], "text": answers["text"],
        "data": [json.dumps(d, ensure_ascii=False) if d else "" for d in answers["data"]],
        "updated_at": answers["updated_at"]})
    os.chmod(out_dir, 0o700)
    path = out_dir / RAW_NAME
    notice = " ".join(t("live.cli.export_raw", lg, path=RAW_NAME, min_n=min_n)
                      for lg in dict.fromkeys([lang, "nb", "en"]))
    inner = write_csv(frame, out_dir / f".{RAW_NAME}.body")
    tmp = out_dir / f".{RAW_NAME}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write("# " + notice.replace("\n", " ") + "\n")
            fh.write(inner.read_text(encoding="utf-8"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        inner.unlink(missing_ok=True)
    readme = out_dir / RAW_README
    fd = os.open(readme, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n\n".join(t("live.cli.export_raw", lg, path=RAW_NAME, min_n=min_n)
                             for lg in ("nb", "en")) + "\n")
    return path


def _add_interaction(tables: dict[str, list[dict[str, Any]]], rnd: dict[str, Any],
                     res: dict[str, Any]) -> None:
    rid, ex, cfg = rnd["id"], rnd["exercise"], rnd["config"]
    question = cfg.get("question", "")
    if ex == "poll" and res.get("kind") == "scale":
        tables["polls"].append({"round": rid, "kind": "scale", "question": question,
                                "option": "", "n": res["n"], "mean": res["mean"],
                                "sd": res["sd"]})
    elif ex == "poll":
        for rec in res.get("options", []):
            tables["polls"].append({"round": rid, "kind": res["kind"], "question": question,
                                    **rec})
    elif ex == "wordcloud":
        for rec in res.get("words", []):
            tables["words"].append({"round": rid, "question": question, "word": rec["word"],
                                    "count": rec["count"]})
    elif ex == "qa":
        for rec in res.get("entries", []):
            tables["qa"].append({"round": rid, "question": question, "entry": rec["text"],
                                 "votes": rec["votes"], "approved": rec["approved"]})
    elif ex == "boundedness":
        for rec in res.get("names", []):
            tables["boundedness"].append({"round": rid, **rec})
    elif ex == "decision_review":
        for rec in res.get("decisions", []):
            if not rec.get("hidden"):
                tables["decisions"].append({"round": rid, **rec})
    elif ex == "action_plan":
        accepted = set(cfg.get("accepted") or [])
        for rec in res.get("proposals", []):
            tables["proposals"].append({"round": rid, "proposal": rec["text"],
                                        "accepted": rec["id"] in accepted})
