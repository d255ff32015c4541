"""The survey's engine on a real store (SQLite and PostgreSQL): a submission is claimed and stored
in one transaction, refused when nearly empty, and nothing stored links it to its code."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, text

from kit.apps.invitations import (
    InvitationRefused,
    SubmissionRefused,
    answered_needed,
    check_invitation,
    create_invitations,
    submit_answers,
    validate_submission,
)
from kit.apps.keys import hash_secret
from kit.store import Store
from kit.store import access as repo
from kit.store import schema as s
from kit.store.access_tables import invitations


def seed(store: Store) -> Store:
    store.save_cohort("c1", "Cohort 1")
    store.save_wave("before", 1)
    store.save_wave("after", 2)
    for gid in ("team-a", "team-b"):
        store.save_group(gid, gid.title(), "Org", cohort_id="c1")
        store.save_group_wave(gid, "before", invited=6, status="closed")
        store.save_group_wave(gid, "after", invited=12, status="open")
    return store


@pytest.fixture
def store(any_store: Store) -> Store:
    return seed(any_store)


def full(instrument, value: int = 5) -> dict[str, int]:
    return dict.fromkeys(instrument.item_ids, value)


def n_responses(store: Store, instrument, group: str = "team-a") -> int:
    return len(store.load_responses(instrument, [group], ["after"]))


def test_a_submission_is_stored_with_a_random_id_and_the_day_only(store, instrument):
    code = create_invitations(store, "team-a", "after", 1)[0]
    answers = full(instrument, 6)
    answers[instrument.item_ids[3]] = "na"
    q = instrument.open_question_ids[0]
    respondent = submit_answers(store, instrument, code, answers, {q: "  Mer strategi.  "})
    table = store.load_responses(instrument, ["team-a"], ["after"])
    assert list(table["respondent"]) == [respondent] and respondent.startswith("web-")
    row = table.iloc[0]
    assert row[instrument.item_ids[0]] == 6.0 and row[q] == "Mer strategi."
    assert row[instrument.item_ids[3]] != row[instrument.item_ids[3]]  # "not applicable": NaN
    with store.begin() as conn:
        rid, stamp = conn.execute(select(s.responses.c.id, s.responses.c.submitted_at)).one()
    low, high = repo.RANDOM_RESPONSE_IDS
    assert low <= rid < high
    assert (stamp.hour, stamp.minute, stamp.second, stamp.microsecond) == (0, 0, 0, 0)
    assert stamp.date() == dt.datetime.now(dt.UTC).date()
    with pytest.raises(InvitationRefused, match="used"):
        submit_answers(store, instrument, code, answers)
    assert n_responses(store, instrument) == 1


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="empty-from-page-1"),
        pytest.param("27 values", id="one-below-half"),
        pytest.param("all na", id="only-dont-know"),
    ],
)
def test_a_nearly_empty_submission_is_refused_and_never_counts(store, instrument, answers):
    code = create_invitations(store, "team-a", "after", 1)[0]
    needed = answered_needed(instrument, 0.5)
    assert needed == 28  # 56 items, min_answered_share 0.5
    if answers == "27 values":
        answers = {i: 4 for i in instrument.item_ids[: needed - 1]}
    elif answers == "all na":
        answers = dict.fromkeys(instrument.item_ids, "na")
    with pytest.raises(SubmissionRefused) as refused:
        submit_answers(store, instrument, code, answers, min_answered_share=0.5)
    assert refused.value.key == "too_few"
    assert "Svar på minst 28" in refused.value.message("nb")
    assert "Answer at least 28" in refused.value.message("en")
    assert n_responses(store, instrument) == 0
    assert check_invitation(store, code).group_id == "team-a"  # the code is still usable
    exactly = {i: 4 for i in instrument.item_ids[:needed]}
    submit_answers(store, instrument, code, exactly, min_answered_share=0.5)
    assert n_responses(store, instrument) == 1


def test_the_share_follows_the_setting(instrument):
    assert answered_needed(instrument, 1.0) == 56
    assert answered_needed(instrument, 0.25) == 14
    half = {i: 3 for i in instrument.item_ids[:28]}
    validate_submission(instrument, half, min_answered_share=0.5)
    with pytest.raises(SubmissionRefused, match="answered 28 of 56 statements. Answer at least 56"):
        validate_submission(instrument, half, min_answered_share=1.0)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (8, "8"), (5.5, "5.5"), ("5", "5"), (True, "True"), ([5], "[5]"), ({}, "{}")],
)
def test_values_off_the_scale_are_refused_in_both_languages(instrument, value, shown):
    answers = full(instrument)
    answers[instrument.item_ids[1]] = value
    with pytest.raises(SubmissionRefused) as refused:
        validate_submission(instrument, answers)
    item = instrument.item_ids[1]
    assert refused.value.key == "outside_scale"
    assert f"«{shown}» på {item} er utenfor skalaen 1-7" in refused.value.message("nb")
    assert f"'{shown}' to {item} is outside the scale 1-7" in refused.value.message("en")


def test_every_problem_is_listed_at_once(instrument):
    answers = full(instrument)
    answers["Q999"] = 3
    answers[instrument.item_ids[0]] = 9
    comments = {"O9": "x", instrument.open_question_ids[0]: "y" * 4001}
    with pytest.raises(SubmissionRefused) as refused:
        validate_submission(instrument, answers, comments)
    keys = [k for k, _ in refused.value.texts]
    assert keys == ["unknown_item", "outside_scale", "unknown_question", "comment_too_long"]
    assert "Q999" in str(refused.value) and "4000" in refused.value.message("en")


def test_a_closed_wave_is_refused_and_keeps_the_code(store, instrument):
    code = create_invitations(store, "team-a", "after", 1)[0]
    store.set_wave_status("team-a", "after", "closed")
    with pytest.raises(InvitationRefused, match="closed"):
        check_invitation(store, code)
    # also when the wave closes between the page's check and the submission
    reason, respondent = repo.store_invited_response(
        store, hash_secret(code), instrument.id, {}, {}
    )
    assert (reason, respondent) == ("closed", None)
    assert n_responses(store, instrument) == 0
    store.set_wave_status("team-a", "after", "open")
    submit_answers(store, instrument, code, full(instrument))
    assert n_responses(store, instrument) == 1


def test_the_same_code_sent_twice_at_once_stores_one_response(store, instrument):
    code = create_invitations(store, "team-a", "after", 1)[0]
    results: list[str] = []

    def send() -> None:
        try:
            submit_answers(store, instrument, code, full(instrument))
            results.append("ok")
        except InvitationRefused as exc:
            results.append(exc.reason)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(results) == ["ok"] + ["used"] * 5
    assert n_responses(store, instrument) == 1


def test_a_team_answering_at_once_is_all_stored(store, instrument):
    """Different codes of one team at the same moment: each waits for the others (no deadlock,
    nothing lost)."""
    codes = create_invitations(store, "team-a", "after", 8)
    errors: list[BaseException] = []

    def send(code: str) -> None:
        try:
            submit_answers(store, instrument, code, full(instrument))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(c,)) for c in codes]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert errors == [] and n_responses(store, instrument) == 8
    assert repo.invitation_counts(store, "team-a")[0]["used"] == 8


# -- the adversary with database access -----------------------------------------------------------
def marker_answers(instrument, k: int) -> dict[str, int]:
    """Answers that say which invitee (k) sent them: the test's ground truth."""
    answers = full(instrument, 4)
    answers[instrument.item_ids[0]] = 1 + k % 7
    answers[instrument.item_ids[1]] = 1 + k // 7
    return answers


def who(row) -> int:
    return int(row[0] - 1) + 7 * int(row[1] - 1)


def adversary_view(store: Store, group: str) -> tuple[list[tuple], list[dict]]:
    """What someone who can read every table (and PostgreSQL's system columns xmin and ctid)
    sees of a team's invitations, in the table's stored order, and its responses."""
    pg = store.engine.dialect.name == "postgresql"
    sys_cols = ", xmin::text AS xmin, ctid::text AS ctid" if pg else ""
    order = " ORDER BY ctid" if pg else ""
    with store.begin() as conn:
        inv_rows = [
            dict(r)
            for r in conn.execute(
                text(f"SELECT *{sys_cols} FROM invitations WHERE group_id = :g{order}"),
                {"g": group},
            ).mappings()
        ]
        resp_rows = [
            dict(r)
            for r in conn.execute(
                text(f"SELECT *{sys_cols} FROM responses WHERE group_id = :g{order}"),
                {"g": group},
            ).mappings()
        ]
    first = min(r["id"] for r in inv_rows)
    xmins = {r.get("xmin") for r in inv_rows}
    view = [
        (
            r["id"] - first,
            bool(r["used"]),
            r["wave_id"],
            len(xmins),
            r["batch"] == inv_rows[0]["batch"],
        )
        for r in inv_rows
    ]
    return view, resp_rows


def test_nothing_stored_links_a_used_code_to_its_response(store, instrument):
    """Two teams get ten codes each; eight of each team answer, team A in the order of its codes,
    team B in the opposite order. An adversary with the database cannot tell the two apart on
    the invitation side, so no order or time there can be joined to the responses."""
    codes = {g: create_invitations(store, g, "after", 10) for g in ("team-a", "team-b")}
    orders = {"team-a": list(range(8)), "team-b": list(range(7, -1, -1))}
    for step in range(8):  # the two teams answer interleaved, as on a real day
        for g in ("team-a", "team-b"):
            k = orders[g][step]
            submit_answers(store, instrument, codes[g][k], marker_answers(instrument, k))
    view_a, responses_a = adversary_view(store, "team-a")
    view_b, responses_b = adversary_view(store, "team-b")
    # no time of use, no link to a response: only what the code was made with
    assert set(invitations.c.keys()) == {"id", "group_id", "wave_id", "code_hash", "batch", "used"}
    assert view_a == view_b  # the order of use left no trace
    assert [used for _, used, *_ in view_a] == [True] * 8 + [False] * 2
    assert view_a[0][3] == 1  # PostgreSQL: one transaction id for the wave's invitations
    # responses: the day only, random ids
    for rows in (responses_a, responses_b):
        assert len({r["submitted_at"] for r in rows}) == 1
        stamp = rows[0]["submitted_at"]
        stamp = dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
        assert (stamp.hour, stamp.minute, stamp.second, stamp.microsecond) == (0, 0, 0, 0)
        assert all(r["respondent"].startswith("web-") for r in rows)
        low, high = repo.RANDOM_RESPONSE_IDS
        assert all(low <= r["id"] < high for r in rows)
    from kit.store import packed

    r = s.responses.c
    with store.begin() as conn:  # the answers as stored (packed per respondent)
        stored = conn.execute(select(r.id, r.layout_id, r.answers)).all()
        layouts = packed.layouts(conn)
    firsts = packed.unpack(
        [x[1] for x in stored], [x[2] for x in stored], layouts, instrument.item_ids[:2]
    )
    marks = {int(x[0]): (v[0], v[1]) for x, v in zip(stored, firsts, strict=True)}
    by_id = [who(marks[r["id"]]) for r in sorted(responses_a, key=lambda r: r["id"])]
    # by id, team A's responses are not in the order they came (p = 1/8! by chance)
    assert by_id != orders["team-a"] and sorted(by_id) == orders["team-a"]


def test_thousands_of_problems_give_a_short_message(instrument):
    answers = full(instrument) | {f"X{k}": 1 for k in range(3000)}
    with pytest.raises(SubmissionRefused) as refused:
        validate_submission(instrument, answers)
    assert len(refused.value.texts) == 3000
    message = refused.value.message("en")
    assert message.endswith("... and 2995 more problems.") and len(message) < 600


def test_a_respondent_who_skips_items_makes_no_layout_of_their_own(store, instrument):
    """Answers are packed in a stored layout holding every answered item: skipping an item
    leaves no trace of its own (a new layout row would show when that response came)."""
    from kit.store import packed

    codes = create_invitations(store, "team-a", "after", 3)
    full = marker_answers(instrument, 1)
    submit_answers(store, instrument, codes[0], full)
    skipped = {k: v for k, v in full.items() if k != instrument.item_ids[3]}
    submit_answers(store, instrument, codes[1], skipped)
    with store.begin() as conn:
        assert len(packed.layouts(conn)) == 1
    back = store.load_responses(instrument, group_ids=["team-a"])
    assert len(back) == 2
    assert back[instrument.item_ids[3]].isna().sum() == 1
    assert back[instrument.item_ids[0]].notna().all()
