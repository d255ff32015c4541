"""What the facilitator does to a running session besides open/close/reveal: round timers,
re-votes, ad hoc rounds (polls, word cloud, Q&A, boundedness check, decision review),
moderation (approve Q&A entries, hide words) and accepting participants' proposed actions.

Used by the console widgets and by the console's JSON API alike, so both check the same way.
Moderation only ever removes from or adds to what is shown of a published version
(``kit.live.visibility``); it never shows an answer that is not in one.
"""

from __future__ import annotations

import time
from typing import Any

from kit.i18n import t
from kit.live import rounds as rl
from kit.live.visibility import visible_round
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo

MIN_TIMER = 10  # seconds
MAX_TIMER = 3600
AD_HOC = ("poll", "wordcloud", "qa", "boundedness", "decision_review")


def _seconds(seconds: Any) -> int:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int)
        or not MIN_TIMER <= seconds <= MAX_TIMER
    ):
        raise rl.SubmissionError("timer", min=MIN_TIMER, max=MAX_TIMER)
    return seconds


def set_timer(store: Store, round_id: int, seconds: int, at: float | None = None) -> dict[str, Any]:
    """Start the round's timer: it closes ``seconds`` from now (and opens it if it is not)."""
    seconds = _seconds(seconds)
    rnd = repo.get_round(store, round_id)
    at = time.time() if at is None else at
    cfg = {**rnd["config"], "ends_at": at + seconds, "timer_seconds": seconds}
    cfg.pop("timer_closed", None)
    return repo.update_round(
        store, round_id, config=cfg, status="open" if rnd["status"] != "open" else None
    )


def extend_timer(
    store: Store, round_id: int, seconds: int, at: float | None = None
) -> dict[str, Any]:
    """Give the round ``seconds`` more; a round the timer closed opens again."""
    seconds = _seconds(seconds)
    rnd = repo.get_round(store, round_id)
    at = time.time() if at is None else at
    ends = rnd["config"].get("ends_at")
    if ends is None:
        return set_timer(store, round_id, seconds, at)
    cfg = {
        **rnd["config"],
        "ends_at": max(float(ends), at) + seconds,
        "timer_seconds": int(rnd["config"].get("timer_seconds") or 0) + seconds,
    }
    reopen = rnd["status"] == "closed" and cfg.pop("timer_closed", False)
    return repo.update_round(store, round_id, config=cfg, status="open" if reopen else None)


def stop_timer(store: Store, round_id: int) -> dict[str, Any]:
    rnd = repo.get_round(store, round_id)
    cfg = {
        k: v
        for k, v in rnd["config"].items()
        if k not in ("ends_at", "timer_seconds", "timer_closed")
    }
    return repo.update_round(store, round_id, config=cfg)


def expired(rnd: dict[str, Any], at: float | None = None) -> bool:
    ends = rnd["config"].get("ends_at")
    return (
        rnd["status"] == "open"
        and ends is not None
        and (time.time() if at is None else at) >= float(ends)
    )


def close_expired(store: Store, session_id: int, at: float | None = None) -> list[int]:
    """Close the session's open rounds whose timer ran out; their ids."""
    done = []
    for rnd in repo.list_rounds(store, session_id):
        if expired(rnd, at):
            repo.update_round(
                store, rnd["id"], status="closed", config={**rnd["config"], "timer_closed": True}
            )
            done.append(rnd["id"])
    return done


def revote(store: Store, round_id: int) -> int:
    """A new round asking the same again (after a discussion), opened at once; its results
    are shown beside the first round's. Both are published versions of their own answers."""
    rnd = repo.get_round(store, round_id)
    if rnd["exercise"] not in ("pulse", "poll", "stakeholder_map"):
        raise rl.SubmissionError("revote")
    keep = {
        k: v
        for k, v in rnd["config"].items()
        if k not in ("ends_at", "timer_seconds", "timer_closed", "revote_of")
    }
    source = rnd["config"].get("revote_of") or rnd["id"]
    rid = repo.add_round(store, rnd["session_id"], rnd["exercise"], {**keep, "revote_of": source})
    if rnd["status"] == "open":
        repo.update_round(store, round_id, status="closed")
    repo.update_round(store, rid, status="open")
    repo.set_current_round(store, rnd["session_id"], rid)
    return rid


def check_config(exercise: str, config: Any) -> dict[str, Any]:
    """The config of an ad hoc round, checked (SubmissionError says what is wrong)."""
    if exercise not in AD_HOC:
        raise rl.SubmissionError("choice", what="exercise", options=", ".join(AD_HOC))
    if exercise == "poll":
        return rl.check_poll_config(config)
    config = config if isinstance(config, dict) else {}
    question = rl._text(config.get("question", ""), "question", rl.MAX_QUESTION)
    out: dict[str, Any] = {"question": question} if question else {}
    if exercise == "wordcloud":
        words = config.get("words", rl.MAX_WORDS)
        if isinstance(words, bool) or not isinstance(words, int) or not 1 <= words <= 5:
            raise rl.SubmissionError("out_of_range", what="words", value=words, min=1, max=5)
        out["words"] = words
    elif exercise == "boundedness":
        out["names"] = rl.check_list_config(
            config.get("names") or [], "names", rl.MAX_NAMES, rl.MAX_NAME
        )
    elif exercise == "decision_review":
        decisions = rl.check_list_config(
            config.get("decisions") or [], "decisions", rl.MAX_DECISIONS, rl.MAX_QUESTION
        )
        if not decisions:
            raise rl.SubmissionError("empty", what="decisions")
        out["decisions"] = decisions
    return out


def add_round(
    store: Store, session_id: int, exercise: str, config: Any, open_now: bool = True
) -> int:
    """An ad hoc round written on the spot (a poll, a word cloud, ...), opened at once."""
    cfg = check_config(exercise, config)
    rid = repo.add_round(store, session_id, exercise, cfg)
    if open_now:
        repo.update_round(store, rid, status="open")
        repo.set_current_round(store, session_id, rid)
    return rid


def published_ids(store: Store, settings: Settings, rnd: dict[str, Any]) -> dict[int, str]:
    """Entry id -> text of the entries in the round's published version."""
    shown = visible_round(store, settings, rnd)
    if shown.answers is None:
        return {}
    e = shown.answers[shown.answers["question"].str.startswith("entry:")]
    return {int(i): str(x) for i, x in zip(e["id"], e["text"], strict=True)}


def approve_entry(
    store: Store, settings: Settings, round_id: int, entry_id: int, on: bool = True
) -> dict[str, Any]:
    """Show (or take back) one Q&A entry: only an entry of the published version can be."""
    rnd = repo.get_round(store, round_id)
    if rnd["exercise"] != "qa" or entry_id not in published_ids(store, settings, rnd):
        raise rl.SubmissionError("unknown_question", question=str(entry_id)[:40])
    approved = [i for i in rnd["config"].get("approved") or [] if i != entry_id]
    if on:
        approved.append(entry_id)
    return repo.update_round(store, round_id, config={**rnd["config"], "approved": approved})


def hide_word(store: Store, round_id: int, word: str, on: bool = True) -> dict[str, Any]:
    """Hide (or show again) a word of a word cloud, wherever it was written."""
    rnd = repo.get_round(store, round_id)
    key = rl.normal_word(str(word))[: rl.MAX_WORD]
    if rnd["exercise"] != "wordcloud" or not key:
        raise rl.SubmissionError("unknown_question", question=str(word)[:40])
    hidden = [w for w in rnd["config"].get("hidden") or [] if w != key]
    if on:
        hidden.append(key)
    return repo.update_round(store, round_id, config={**rnd["config"], "hidden": hidden})


def accept_proposal(
    store: Store,
    settings: Settings,
    round_id: int,
    entry_id: int,
    group_id: str,
    text: str | None = None,
    owner: str = "",
    due_date: str | None = None,
    dimension: str | None = None,
) -> int:
    """Make a participant's proposed action (of the published version) an action of the plan,
    as proposed or as the facilitator edited it."""
    rnd = repo.get_round(store, round_id)
    session = next(x for x in repo.list_sessions_by_id(store, [rnd["session_id"]]))
    if group_id not in session["group_ids"]:
        raise repo.LiveStateError(
            "group_unknown", t("live.store.group_not_in_session", "en", group=group_id)
        )
    proposals = published_ids(store, settings, rnd) if rnd["exercise"] == "action_plan" else {}
    if entry_id not in proposals:
        raise rl.SubmissionError("unknown_question", question=str(entry_id)[:40])
    action = (text if text and text.strip() else proposals[entry_id]).strip()[:500]
    aid = repo.add_action(
        store, rnd["session_id"], group_id, action, owner[:200], due_date, dimension
    )
    accepted = [*rnd["config"].get("accepted", []), entry_id]
    repo.update_round(store, round_id, config={**rnd["config"], "accepted": accepted})
    return aid
