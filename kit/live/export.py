"""A session's data as CSV files (``kit session export``), readable by the report notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo


def export_session(store: Store, settings: Settings, code: str,
                   out_dir: Path | None = None) -> list[Path]:
    """Write session.csv, rounds.csv, answers.csv, actions.csv and turns.csv; return their paths.

    Participants appear as numbers 1..n in order of joining within the session (never their
    browser token); free texts are written as typed (CSV quoting keeps commas and quotes safe).
    """
    session = repo.get_session(store, code)
    out_dir = out_dir or settings.outputs_dir / "live" / session["code"]
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = repo.list_rounds(store, session["id"])
    answers = repo.load_answers(store, session_id=session["id"])
    number = {p: i for i, p in enumerate(sorted(answers["participant"].unique()), start=1)}
    by_round = {r["id"]: r for r in rounds}
    frames: dict[str, pd.DataFrame] = {
        "session": pd.DataFrame([{
            "code": session["code"], "title": session["title"], "cohort_id": session["cohort_id"],
            "groups": " ".join(session["group_ids"]), "language": session["language"],
            "instrument": session["instrument_id"], "status": session["status"],
            "created_at": session["created_at"], "closed_at": session["closed_at"],
            "participants": repo.count_participants(store, session["id"])}]),
        "rounds": pd.DataFrame([{
            "round": r["id"], "ordinal": r["ordinal"], "exercise": r["exercise"],
            "status": r["status"], "revealed": r["revealed"],
            "config": json.dumps(r["config"], ensure_ascii=False),
            "outcome": json.dumps(r["outcome"], ensure_ascii=False) if r["outcome"] else "",
            "opened_at": r["opened_at"], "closed_at": r["closed_at"]} for r in rounds],
            columns=["round", "ordinal", "exercise", "status", "revealed", "config", "outcome",
                     "opened_at", "closed_at"]),
        "answers": pd.DataFrame({
            "round": answers["round_id"],
            "exercise": [by_round[r]["exercise"] for r in answers["round_id"]],
            "participant": answers["participant"].map(number),
            "group": answers["group_id"], "question": answers["question"],
            "value": answers["value"], "text": answers["text"],
            "data": [json.dumps(d, ensure_ascii=False) if d else "" for d in answers["data"]],
            "updated_at": answers["updated_at"]}),
        "actions": repo.list_session_actions(store, session["id"]).drop(columns=["id"]),
        "turns": repo.list_turns(store, [r["id"] for r in rounds]),
    }
    paths = []
    for name, frame in frames.items():
        path = out_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths
