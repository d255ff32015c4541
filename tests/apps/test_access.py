"""Access keys and survey invitations, without a browser: real SQLite store on a temporary home."""

from __future__ import annotations

import argparse
import datetime as dt
import io

import pytest
from sqlalchemy import select

from kit.apps import commands
from kit.apps.invitations import (
    InvitationRefused,
    check_invitation,
    create_invitations,
    submit_answers,
    survey_url,
)
from kit.apps.keys import KeyRefused, create_key, dashboard_url, hash_secret, resolve_key
from kit.errors import NotFoundError, ParameterError
from kit.instrument import load_instrument
from kit.settings import load_settings
from kit.store import access as repo
from kit.store import open_store
from kit.store.access_tables import access_keys, invitations


@pytest.fixture
def settings(tmp_path):
    return load_settings(home_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'kit.sqlite'}")


@pytest.fixture
def store(settings):
    store = open_store(settings)
    store.save_cohort("c1", "Cohort 1")
    store.save_wave("before", 1)
    store.save_wave("after", 2)
    for gid in ("team-a", "team-b"):
        store.save_group(gid, gid.title(), "Org", cohort_id="c1")
        store.save_group_wave(gid, "before", invited=6, status="closed")
        store.save_group_wave(gid, "after", invited=6, status="open")
    return store


@pytest.fixture
def instrument():
    return load_instrument("lagprofil")


# -- keys -----------------------------------------------------------------------------------------
def test_key_opens_only_its_group_and_is_stored_as_a_hash(store):
    issued = create_key(store, "team-a")
    assert len(issued.key) >= 32
    grant = resolve_key(store, issued.key)
    assert grant.group_id == "team-a"
    with store.begin() as conn:
        stored = conn.execute(select(access_keys.c.key_hash, access_keys.c.prefix)).all()
    assert stored == [(hash_secret(issued.key), issued.key[:8])]
    assert all(issued.key not in str(v) for row in stored for v in row[:1])
    other = create_key(store, "team-b")
    assert resolve_key(store, other.key).group_id == "team-b"
    assert issued.key != other.key


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_is_refused(store, key):
    with pytest.raises(KeyRefused, match="missing"):
        resolve_key(store, key)


def test_wrong_key_is_refused_even_with_a_real_prefix(store):
    issued = create_key(store, "team-a")
    for wrong in (
        "x" * 32,
        issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B"),
        issued.key[:8],
        issued.key + "x",
        "short",
    ):
        with pytest.raises(KeyRefused, match="wrong") as info:
            resolve_key(store, wrong)
        assert info.value.reason == "wrong"


def test_expired_and_revoked_keys_are_refused(store):
    issued = create_key(store, "team-a", expires_days=1)
    assert resolve_key(store, issued.key).group_id == "team-a"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with pytest.raises(KeyRefused, match="expired"):
        resolve_key(store, issued.key, at=later)
    repo.revoke_key(store, issued.id)
    with pytest.raises(KeyRefused, match="revoked"):
        resolve_key(store, issued.key)


def test_key_for_unknown_group_and_bad_expiry_are_explained(store):
    with pytest.raises(NotFoundError, match="Group 'nope' does not exist"):
        create_key(store, "nope")
    with pytest.raises(ParameterError, match="must be a positive number of days"):
        create_key(store, "team-a", expires_days=0)
    with pytest.raises(NotFoundError, match="no access key with id 99"):
        repo.revoke_key(store, 99)


def test_cli_keys_create_list_revoke(settings, store):
    out = io.StringIO()
    commands.cmd_keys_create(
        argparse.Namespace(group="team-a", expires=30, label="to the leader"), settings, out
    )
    text = out.getvalue()
    url = text.strip().splitlines()[-1]
    assert url.startswith(f"{settings.base_url}/kit/dashboard?key=")
    key = url.split("key=", 1)[1]
    assert resolve_key(store, key).group_id == "team-a"
    out = io.StringIO()
    commands.cmd_keys_list(argparse.Namespace(group=None), settings, out)
    listing = out.getvalue()
    assert "team-a" in listing and "active" in listing and "to the leader" in listing
    assert key not in listing and key[:8] in listing
    key_id = repo.list_keys(store)[0]["id"]
    commands.cmd_keys_revoke(argparse.Namespace(id=key_id), settings, io.StringIO())
    out = io.StringIO()
    commands.cmd_keys_list(argparse.Namespace(group="team-a"), settings, out)
    assert "revoked" in out.getvalue()


def test_dashboard_url_carries_only_the_key():
    assert dashboard_url("http://h:1/", "abc") == "http://h:1/kit/dashboard?key=abc"
    assert dashboard_url("http://h:1", "abc", "en") == "http://h:1/kit/dashboard?key=abc&lang=en"


# -- invitations ----------------------------------------------------------------------------------
def test_invitation_codes_are_single_use_and_unlinkable(store, instrument):
    codes = create_invitations(store, "team-a", "after", 3)
    assert len(set(codes)) == 3
    invitation = check_invitation(store, codes[0])
    assert (invitation.group_id, invitation.wave_id) == ("team-a", "after")
    answers = {i: 5 for i in instrument.item_ids[:30]}  # more than min_answered_share
    q = instrument.open_question_ids[0]
    respondent = submit_answers(store, instrument, codes[0], answers, {q: " Good team "})
    table = store.load_responses(instrument, ["team-a"], ["after"])
    assert list(table["respondent"]) == [respondent]
    row = table.iloc[0]
    assert (
        row[instrument.item_ids[0]] == 5.0
        and row[instrument.item_ids[40]] != row[instrument.item_ids[40]]
    )
    assert row[q] == "Good team"
    # nothing in the store holds the code, and the respondent id is not derived from it
    with store.begin() as conn:
        rows = conn.execute(select(invitations)).mappings().all()
    assert all(codes[0] not in str(v) for r in rows for v in r.values())
    assert hash_secret(codes[0])[:8] not in respondent and codes[0][:6] not in respondent
    assert "used_at" not in invitations.c and "response_id" not in invitations.c
    with pytest.raises(InvitationRefused, match="used"):
        check_invitation(store, codes[0])
    with pytest.raises(InvitationRefused, match="used"):
        submit_answers(store, instrument, codes[0], answers)
    assert len(store.load_responses(instrument, ["team-a"], ["after"])) == 1
    assert repo.invitation_counts(store) == [
        {"group_id": "team-a", "wave_id": "after", "invitations": 3, "used": 1}
    ]


def test_invitations_refused_when_wrong_missing_or_wave_closed(store, instrument):
    with pytest.raises(InvitationRefused, match="missing"):
        check_invitation(store, "")
    with pytest.raises(InvitationRefused, match="wrong"):
        check_invitation(store, "not-a-code")
    code = create_invitations(store, "team-a", "after", 1)[0]
    store.set_wave_status("team-a", "after", "closed")
    with pytest.raises(InvitationRefused, match="closed"):
        submit_answers(store, instrument, code, {instrument.item_ids[0]: 4})
    assert len(store.load_responses(instrument, ["team-a"])) == 0
    store.set_wave_status("team-a", "after", "open")
    assert check_invitation(store, code).group_id == "team-a"  # not used up by the refusal


def test_bad_answers_are_refused_and_the_code_stays_usable(store, instrument):
    code = create_invitations(store, "team-b", "after", 1)[0]
    first = instrument.item_ids[0]
    with pytest.raises(ParameterError, match=rf"answer '9' to {first} is outside the scale 1-7"):
        submit_answers(store, instrument, code, {first: 9})
    with pytest.raises(ParameterError, match="'Q999' is not a statement of this survey"):
        submit_answers(store, instrument, code, {"Q999": 3})
    assert check_invitation(store, code).wave_id == "after"
    submit_answers(store, instrument, code, dict.fromkeys(instrument.item_ids, 7))
    assert store.load_responses(instrument, ["team-b"])[first].tolist() == [7.0]


def test_invitation_creation_is_validated(store):
    with pytest.raises(ParameterError, match="must be a whole number from 1 to 500"):
        create_invitations(store, "team-a", "after", 0)
    with pytest.raises(NotFoundError, match="Group 'team-a' has no wave 'middle'"):
        create_invitations(store, "team-a", "middle", 2)
    with pytest.raises(NotFoundError, match="Group 'ghost' does not exist"):
        create_invitations(store, "ghost", "after", 2)


def test_cli_invitations_create_prints_single_use_links(settings, store):
    out = io.StringIO()
    commands.cmd_invitations_create(
        argparse.Namespace(group="team-b", wave="after", count=4), settings, out
    )
    links = [line for line in out.getvalue().splitlines() if line.startswith("http")]
    assert len(links) == 4
    assert all(link.startswith(survey_url(settings.base_url, "")) for link in links)
    for link in links:
        assert check_invitation(store, link.split("code=", 1)[1]).group_id == "team-b"
    out = io.StringIO()
    commands.cmd_invitations_list(argparse.Namespace(group=None), settings, out)
    assert "team-b" in out.getvalue() and "4" in out.getvalue()
