"""A demo live session on the demo data: a cohort's gathering with every exercise used.

``kit demo`` runs this as one of its steps, so a newcomer opening the facilitator console sees
answers, charts and actions at once (simulated participants; seeded, so the same every time).
"""

from __future__ import annotations

import random
import secrets

from kit.live import session as ls
from kit.settings import Settings
from kit.store import Store
from kit.store import live as repo
from kit.store.live import AnswerIn

DEMO_TITLE = "Demo: samling 2"
STATEMENTS = (
    "Vi leder etaten sammen, ikke hver for oss.",
    "Vi skal gjøre det lettere for innbyggerne å få hjelp.",
    "Vi prioriterer og tar de vanskelige beslutningene i fellesskap.",
    "Vi utvikler tjenestene på tvers av avdelingene.",
)
AGENDA = (("Budsjettoppfølging", 45, "information", "operations"),
          ("Bemanning sommer", 30, "decision", "operations"),
          ("Digitaliseringsstrategi", 40, "discussion", "strategy"),
          ("Lederutvikling", 15, "discussion", "development"),
          ("Avviksrapporter", 35, "information", "operations"))
ACTORS = ("Departementet", "Brukerorganisasjonene", "Kommunene", "Tillitsvalgte", "Media")
PLACES = ((4.6, 3.2), (2.0, 4.5), (3.6, 4.2), (2.4, 3.6), (3.8, 1.8))  # power, interest


def make_live_demo(store: Store, settings: Settings, seed: int = 1) -> str | None:
    """The code of the demo session for the first cohort's groups with simulated answers
    (created on the first call), or None when there is no programme group to use."""
    sessions = repo.list_sessions(store)
    if len(sessions) and (sessions["title"] == DEMO_TITLE).any():
        return str(sessions.loc[sessions["title"] == DEMO_TITLE, "code"].iloc[0])
    groups = store.list_groups()
    programme = groups[groups["cohort_id"].notna()] if len(groups) else groups
    if not len(programme):
        return None
    cohort = str(programme["cohort_id"].iloc[0])
    group_ids = list(programme.loc[programme["cohort_id"] == cohort, "id"])[:4]
    made = ls.create_session(store, settings, title=DEMO_TITLE, group_ids=group_ids,
                             cohort_id=cohort, expected=6 * len(group_ids))
    rng = random.Random(seed)
    rounds = {r["exercise"]: r for r in repo.list_rounds(store, made.session_id)}
    people = [(f"demo-{secrets.token_hex(8)}", g) for g in group_ids for _ in range(6)]
    for token, group in people:
        repo.add_participant(store, made.code, token, group, settings.language)

    def run(exercise: str, answers_of, config: dict | None = None, close: bool = True) -> int:
        rid = rounds[exercise]["id"]
        repo.update_round(store, rid, status="open", config=config)
        for n, (token, _group) in enumerate(people):
            answers = answers_of(n)
            if answers:
                repo.save_answers(store, made.code, token, rid, answers)
        repo.update_round(store, rid, status="closed" if close else None, revealed=True)
        return rid

    items = rounds["pulse"]["config"]["items"]
    centre = {i: rng.choice((2.5, 3.5, 4.0)) for i in items}
    pulse = run("pulse", lambda n: [
        AnswerIn(i, float(min(5, max(1, round(rng.gauss(centre[i], 0.6 + (i == "P02")))))))
        for i in items], close=False)
    rid = run("purpose", lambda n: [AnswerIn("statement", None, STATEMENTS[n % 4])]
              if n % 3 == 0 else [])
    ids = [int(x) for x in repo.load_answers(store, round_ids=[rid])["id"]]
    repo.update_round(store, rid, config={"phase": "vote", "dots": 3}, status="open")
    for n, (token, _) in enumerate(people):
        dots = {rng.choice(ids[:3]): 2.0}
        dots[ids[n % len(ids)]] = dots.get(ids[n % len(ids)], 0.0) + 1.0
        repo.save_answers(store, made.code, token, rid,
                          [AnswerIn(f"vote:{sid}", n_) for sid, n_ in dots.items()],
                          replace_prefix="vote:")
    repo.update_round(store, rid, status="closed", outcome={"statement": STATEMENTS[0]})
    run("agenda_audit", lambda n: [
        AnswerIn(f"entry:{n}-{k}", float(m), title,
                 {"title": title, "minutes": float(m), "kind": kind, "focus": focus})
        for k, (title, m, kind, focus) in enumerate(AGENDA) if n == k] + (
        [AnswerIn("wanted", None, None, {"operations": 40.0, "strategy": 40.0,
                                         "development": 20.0})] if n % 2 else []))
    run("stakeholder_map", lambda n: [
        AnswerIn(f"{axis}:{a}", float(min(5, max(1, round(rng.gauss(PLACES[a][k], 0.7))))))
        for a in range(len(ACTORS)) for k, axis in enumerate(("power", "interest"))],
        config={"actors": list(ACTORS), "axis": "interest"})
    speakers = [{"name": "Leder", "leader": True}, {"name": "AB"}, {"name": "CD"},
                {"name": "EF"}, {"name": "GH"}]
    air = rounds["airtime"]["id"]
    repo.update_round(store, air, config={"speakers": speakers}, revealed=True)
    at = 1_700_000_000.0
    for name, seconds in (("Leder", 240), ("AB", 60), ("Leder", 180), ("CD", 90), ("EF", 30),
                          ("Leder", 120)):
        repo.start_turn(store, air, name, at)
        at += seconds
    repo.stop_turns(store, air, at)
    for group in group_ids:
        repo.add_action(store, made.session_id, group, "Fast strategisak på hvert ledermøte",
                        "Leder", "2027-03-01", "purpose")
    repo.set_current_round(store, made.session_id, pulse)
    return made.code
