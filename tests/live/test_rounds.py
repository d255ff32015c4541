"""What participants are asked, and every way a submission is refused (nothing saved)."""

from __future__ import annotations

import pytest

from kit.live.rounds import SubmissionError, parse_submission, public_round

PULSE = {"id": 1, "exercise": "pulse", "status": "open", "revealed": False,
         "config": {"instrument": "pulse", "items": ["P01", "P02"]}}
PURPOSE = {"id": 2, "exercise": "purpose", "status": "open", "revealed": False,
           "config": {"phase": "write", "dots": 3}}
VOTE = {**PURPOSE, "config": {"phase": "vote", "dots": 3}}
AGENDA = {"id": 3, "exercise": "agenda_audit", "status": "open", "revealed": False, "config": {}}
MAP = {"id": 4, "exercise": "stakeholder_map", "status": "open", "revealed": False,
       "config": {"actors": ["Ministry", "Users"], "axis": "dependency"}}


def test_public_rounds_in_both_languages() -> None:
    nb, en = public_round(PULSE, "nb"), public_round(PULSE, "en")
    assert [i["id"] for i in en["items"]] == ["P01", "P02"]
    assert en["items"][0]["text"].startswith("I can say")
    assert nb["items"][0]["text"].startswith("Jeg")
    assert en["scale"]["labels"][0] == "Strongly disagree" and en["scale"]["na"] == "Don't know"
    vote = public_round(VOTE, "en", [{"id": 7, "text": "a"}, {"id": 9, "text": "b"}])
    assert sorted(s["id"] for s in vote["statements"]) == [7, 9] and "3 dots" in vote["prompt"]
    m = public_round(MAP, "nb")
    assert [a["name"] for a in m["actors"]] == ["Ministry", "Users"]
    assert m["axes"][1]["label"] == "Avhengighet"
    assert public_round({**AGENDA, "exercise": "airtime"}, "en")["answerable"] is False


def test_valid_submissions() -> None:
    sub = parse_submission(PULSE, {"P01": 4, "P02": None})
    assert [(a.question, a.value, a.text) for a in sub.answers] == [("P01", 4.0, None),
                                                                   ("P02", None, "na")]
    text = "<script>alert(1)</script> We serve"
    assert parse_submission(PURPOSE, {"statement": f"  {text} "}).answers[0].text == text
    assert parse_submission(PURPOSE, {"statement": "  "}).remove == ["statement"]
    sub = parse_submission(VOTE, {"votes": {"7": 2, "9": 0}}, {7, 9})
    assert [(a.question, a.value) for a in sub.answers] == [("vote:7", 2.0)]
    assert sub.replace_prefix == "vote:"
    entry = {"id": "abc123", "title": "Budget", "minutes": 30, "kind": "decision",
             "focus": "operations"}
    sub = parse_submission(AGENDA, {"entry": entry})
    assert sub.answers[0].question == "entry:abc123" and sub.answers[0].data["minutes"] == 30
    assert parse_submission(AGENDA, {"remove": "abc123"}).remove == ["entry:abc123"]
    sub = parse_submission(AGENDA, {"wanted": {"operations": 50, "strategy": 30,
                                               "development": 20}})
    assert sub.answers[0].data == {"operations": 50.0, "strategy": 30.0, "development": 20.0}
    sub = parse_submission(MAP, {"ratings": {"1": {"power": 2, "interest": 5}}})
    assert {(a.question, a.value) for a in sub.answers} == {("power:1", 2.0), ("interest:1", 5.0)}


@pytest.mark.parametrize(("rnd", "answers", "match"), [
    (PULSE, {}, "no answers"),
    (PULSE, ["P01", 3], "no answers"),
    (PULSE, {"P09": 3}, "no question 'P09'"),
    (PULSE, {"P01": 6}, "'P01': 6 is outside 1-5"),
    (PULSE, {"P01": 0}, "outside 1-5"),
    (PULSE, {"P01": 2.5}, "must be a whole number"),
    (PULSE, {"P01": "4"}, "is not a number"),
    (PULSE, {"P01": True}, "is not a number"),
    (PURPOSE, {"statement": 5}, "must be text"),
    (PURPOSE, {"statement": "x" * 501}, "longer than 500 characters"),
    (PURPOSE, {"votes": {}}, "no question"),
    (VOTE, {"votes": {"7": 2, "9": 2}}, "You have 3 dots but gave 4"),
    (VOTE, {"votes": {"8": 1}}, "no question '8'"),
    (VOTE, {"votes": {"7": -1}}, "outside 0-3"),
    (AGENDA, {"entry": {"id": "a b", "title": "x", "minutes": 5, "kind": "decision",
                        "focus": "strategy"}}, "no valid id"),
    (AGENDA, {"entry": {"id": "a", "title": "", "minutes": 5, "kind": "decision",
                        "focus": "strategy"}}, "cannot be empty"),
    (AGENDA, {"entry": {"id": "a", "title": "x", "minutes": 601, "kind": "decision",
                        "focus": "strategy"}}, "outside 1-600"),
    (AGENDA, {"entry": {"id": "a", "title": "x", "minutes": 5, "kind": "chat",
                        "focus": "strategy"}}, "'kind' must be one of"),
    (AGENDA, {"wanted": {"operations": 50, "strategy": 30, "development": 30}},
     "must add up to 100 % \\(now 110 %\\)"),
    (AGENDA, {"wanted": {"operations": 100}}, "needs shares for"),
    (MAP, {"ratings": {"2": {"power": 3}}}, "no question '2'"),
    (MAP, {"ratings": {"0": {"size": 3}}}, "power and/or interest"),
    (MAP, {"ratings": {"0": {"power": 9}}}, "outside 1-5"),
    ({**PULSE, "exercise": "airtime"}, {"x": 1}, "no questions for participants"),
])
def test_invalid_submissions_are_refused(rnd, answers, match) -> None:
    with pytest.raises(SubmissionError, match=match):
        parse_submission(rnd, answers, {7, 9})


def test_refusal_is_translated() -> None:
    with pytest.raises(SubmissionError) as info:
        parse_submission(PULSE, {"P01": 6})
    assert info.value.message("nb") == "«P01»: 6 er utenfor 1-5."
