"""The survey's handlers on a real server on loopback (``python -m kit.apps.survey_server``),
over SQLite and PostgreSQL: what an invitee, a guesser and a broken client get back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from kit.apps.invitations import create_invitations, survey_url
from kit.apps.launch import free_port
from kit.i18n import t
from kit.instrument import load_instrument
from kit.settings import Settings, load_settings
from kit.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENT = load_instrument("lagprofil")


@dataclass
class SurveyServer:
    settings: Settings
    store: Store
    base: str
    log_path: Path

    def url(self, path: str) -> str:
        return self.base + path

    def post(self, path: str, body: Any, raw: bytes | None = None, headers: dict | None = None):
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(
            self.url(path),
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}"), dict(e.headers)

    def get(self, path: str) -> tuple[int, str, dict]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=30) as r:
                return r.status, r.read().decode("utf-8"), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)

    def responses(self, group: str = "team-a") -> int:
        return len(self.store.load_responses(INSTRUMENT, [group], ["after"]))

    def code(self, group: str = "team-a") -> str:
        return create_invitations(self.store, group, "after", 1)[0]


def _seed(store: Store) -> None:
    store.save_cohort("c1", "Cohort 1")
    store.save_wave("before", 1)
    store.save_wave("after", 2)
    for gid, name, lang in (
        ("team-a", "Toppledergruppen i Aetat", "nb"),
        ("team-b", "Board of B", "en"),
    ):
        store.save_group(gid, name, "Org", cohort_id="c1", language=lang)
        store.save_group_wave(gid, "before", invited=6, status="closed")
        store.save_group_wave(gid, "after", invited=12, status="open")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[SurveyServer]:
    home = tmp_path_factory.mktemp("survey_server")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'kit.sqlite'}"
    else:
        base = os.environ["KIT_TEST_POSTGRES_URL"]
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    settings = load_settings(home_dir=home, database_url=url, port=free_port(), language="nb")
    store = open_store(settings)
    _seed(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIT_")}
    env.update(
        {
            "KIT_HOME": str(home),
            "KIT_DATABASE_URL": url,
            "KIT_PORT": str(settings.port),
            "KIT_HOST": "127.0.0.1",
            "KIT_LANGUAGE": "nb",
            "KIT_TRUSTED_PROXIES": "none",  # no proxy in front: every header is the client's
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path = home / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "kit.apps.survey_server"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    srv = SurveyServer(settings, store, f"http://127.0.0.1:{settings.port}", log_path)
    deadline = time.monotonic() + 60
    while True:
        try:
            if srv.get("/kit/survey")[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"survey server did not start: {log_path.read_text()}")
        time.sleep(0.2)
    try:
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        store.engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def full(value: int = 5) -> dict[str, Any]:
    return dict.fromkeys(INSTRUMENT.item_ids, value)


# -- the page -------------------------------------------------------------------------------------
def test_the_page_is_static_strict_and_has_no_inline_script(server):
    status, html, headers = server.get("/kit/survey")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and headers["Referrer-Policy"] == "no-referrer"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all(
        "src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts
    )
    assert "http://" not in html and "https://" not in html  # no CDN, nothing from elsewhere
    assert t("app.survey.page.code_label", "nb") in html  # texts inlined from the i18n files
    assert t("app.survey.page.code_label", "en") in html
    assert INSTRUMENT.item(INSTRUMENT.item_ids[0]).text["nb"] not in html  # only after a code
    for asset in re.findall(r'(?:src|href)="(/kit/survey/static/[^"]+)"', html):
        status, body, headers = server.get(asset)
        assert status == 200 and body and headers["X-Content-Type-Options"] == "nosniff"
    assert server.get("/kit/survey/static/../survey_server.py")[0] == 404
    assert server.get("/kit/survey/static/survey.html")[0] == 404
    status, html, _ = server.get("/kit/survey?lang=en")
    assert '<html lang="en">' in html


def test_links_carry_the_code_after_the_hash():
    link = survey_url("https://kit.example.no/", "AbC_12-x", "en")
    assert link == "https://kit.example.no/kit/survey?lang=en#code=AbC_12-x"


def test_an_old_voila_link_opens_the_same_page(server):
    code = server.code()
    status, html, _ = server.get(f"/voila/render/survey.ipynb?code={code}&lang=en")
    assert status == 200 and "survey.js" in html and code not in html


# -- opening --------------------------------------------------------------------------------------
def test_a_valid_code_opens_its_group_and_nothing_else(server):
    code = server.code("team-b")
    status, body, headers = server.post("/kit/survey/api/open", {"code": code})
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert set(body) == {"ok", "group", "language", "draft", "min_n", "needed", "instrument"}
    assert body["group"] == "Board of B" and body["language"] == "en" and body["needed"] == 28
    assert code not in json.dumps(body)
    assert len(body["instrument"]["dimensions"]) == len(INSTRUMENT.dimensions)
    assert "reverse" not in json.dumps(body["instrument"])
    assert "team-a" not in json.dumps(body) and "Aetat" not in json.dumps(body)


@pytest.mark.parametrize(
    ("body", "status", "error", "key"),
    [
        ({}, 400, "missing", "app.invitation.missing"),
        ({"code": ""}, 400, "missing", "app.invitation.missing"),
        ({"code": "nope-not-a-code"}, 403, "wrong", "app.invitation.wrong"),
        ({"code": "x" * 500}, 403, "wrong", "app.invitation.wrong"),
        ({"code": 12345}, 400, "malformed", "app.survey.error.malformed"),
    ],
)
def test_missing_and_wrong_codes_are_refused_in_both_languages(server, body, status, error, key):
    got, answer, _ = server.post("/kit/survey/api/open", body)
    assert (got, answer["ok"], answer["error"]) == (status, False, error)
    assert answer["messages"] == {"nb": t(key, "nb"), "en": t(key, "en")}
    assert answer["message"] == t(key, "nb")
    got, answer, _ = server.post("/kit/survey/api/open", {**body, "lang": "en"})
    assert answer["message"] == t(key, "en")


def test_a_closed_wave_is_refused(server):
    code = server.code()
    server.store.set_wave_status("team-a", "after", "closed")
    try:
        status, body, _ = server.post("/kit/survey/api/open", {"code": code})
        assert (status, body["error"]) == (409, "closed")
        status, body, _ = server.post("/kit/survey/api/submit", {"code": code, "answers": full()})
        assert (status, body["error"]) == (409, "closed")
    finally:
        server.store.set_wave_status("team-a", "after", "open")
    assert server.post("/kit/survey/api/open", {"code": code})[0] == 200


# -- submitting -----------------------------------------------------------------------------------
def test_an_accepted_submission_is_committed_before_the_answer(server):
    code = server.code()
    before = server.responses()
    answers = full(6)
    answers[INSTRUMENT.item_ids[2]] = "na"
    q = INSTRUMENT.open_question_ids[0]
    status, body, _ = server.post(
        "/kit/survey/api/submit", {"code": code, "answers": answers, "comments": {q: "Bra <b>"}}
    )
    assert status == 200 and body["ok"] and body["message"] == t("app.survey.done.body", "nb")
    table = server.store.load_responses(INSTRUMENT, ["team-a"], ["after"])  # at once, no waiting
    assert len(table) == before + 1
    assert "Bra <b>" in set(table[q].dropna())
    # reload after submit: the page is told "done", never the form again
    status, body, _ = server.post("/kit/survey/api/open", {"code": code})
    assert (status, body["error"]) == (409, "used")
    assert body["titles"]["nb"] == t("app.survey.done.title", "nb")
    status, body, _ = server.post("/kit/survey/api/submit", {"code": code, "answers": full(1)})
    assert (status, body["error"]) == (409, "used") and server.responses() == before + 1


def test_an_empty_submission_from_page_one_is_refused_and_never_counts(server):
    code = server.code()
    before = server.responses()
    status, body, _ = server.post("/kit/survey/api/submit", {"code": code, "answers": {}})
    assert (status, body["error"]) == (422, "too_few")
    fields = {"answered": 0, "items": 56, "needed": 28}
    assert body["messages"] == {
        lang: t("app.survey.error.too_few", lang, **fields) for lang in ("nb", "en")
    }
    few = {i: 4 for i in INSTRUMENT.item_ids[:27]} | {i: "na" for i in INSTRUMENT.item_ids[27:]}
    status, body, _ = server.post("/kit/survey/api/submit", {"code": code, "answers": few})
    assert (status, body["error"]) == (422, "too_few")
    assert server.responses() == before
    assert server.post("/kit/survey/api/open", {"code": code})[0] == 200  # still usable


@pytest.mark.parametrize(
    ("answers", "comments", "error"),
    [
        ({"Q999": 3}, {}, "unknown_item"),
        ({INSTRUMENT.item_ids[0]: 8}, {}, "outside_scale"),
        ({INSTRUMENT.item_ids[0]: 0}, {}, "outside_scale"),
        ({INSTRUMENT.item_ids[0]: "5"}, {}, "outside_scale"),
        ({INSTRUMENT.item_ids[0]: True}, {}, "outside_scale"),
        ({INSTRUMENT.item_ids[0]: 4.5}, {}, "outside_scale"),
        ({}, {"O9": "text"}, "unknown_question"),
        pytest.param({}, {"O1": "x" * 4001}, "comment_too_long", id="comment-4001"),
        ({}, {"O1": ["a list"]}, "comment_not_text"),
    ],
)
def test_impossible_answers_are_refused_with_a_clear_message(server, answers, comments, error):
    code = server.code()
    before = server.responses()
    status, body, _ = server.post(
        "/kit/survey/api/submit",
        {"code": code, "answers": full() | answers, "comments": comments, "lang": "en"},
    )
    assert (status, body["error"]) == (422, error)
    assert body["message"] == body["messages"]["en"] and "{" not in body["message"]
    assert server.responses() == before
    assert server.post("/kit/survey/api/open", {"code": code})[0] == 200


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"{not json", 400, "malformed"),
        (b"[1, 2]", 400, "malformed"),
        (b"\xff\xfe", 400, "malformed"),
        (b"", 400, "malformed"),
        (json.dumps({"code": "x", "answers": [], "comments": {}}).encode(), 400, "malformed"),
        (
            json.dumps({"code": "x", "answers": {}, "respondent": "me"}).encode(),
            400,
            "unknown_field",
        ),
        # a short id: pytest puts the test's id in PYTEST_CURRENT_TEST, and an environment
        # string of 200 KB makes every subprocess started meanwhile fail (E2BIG)
        pytest.param(b'{"code": "' + b"x" * (200 * 1024) + b'"}', 413, "too_large", id="200KB"),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(server, raw, status, error):
    before = server.responses()
    got, body, _ = server.post("/kit/survey/api/submit", None, raw=raw)
    assert (got, body["error"]) == (status, error)
    assert body["messages"]["nb"] and body["messages"]["en"]
    assert server.responses() == before


def test_no_code_is_ever_written_to_the_log(server):
    codes = [server.code() for _ in range(3)]
    server.post("/kit/survey/api/open", {"code": codes[0]})
    server.post("/kit/survey/api/submit", {"code": codes[1], "answers": {}})
    server.get(f"/voila/render/survey.ipynb?code={codes[2]}")
    server.post("/kit/survey/api/submit", {"code": codes[2], "answers": {"Q1": 99}})
    time.sleep(0.3)
    logged = server.log_path.read_text(encoding="utf-8", errors="replace")
    assert "POST /kit/survey/api/submit" in logged  # the log is written at all (refusals)
    assert not any(c in logged for c in codes)


def test_wrong_codes_are_limited_per_client_with_a_wait(server):
    """A guesser gets 20 wrong codes a minute; then every attempt is refused unchecked, with the
    time to wait - even a valid code - while the server goes on answering others."""
    valid = server.code()
    # the limiter counts per client address; loopback tests share one: use up what is left
    statuses = []
    for k in range(40):
        status, body, headers = server.post("/kit/survey/api/open", {"code": f"guess-{k}"})
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {403}
    wait = int(headers["Retry-After"])
    assert 1 <= wait <= 60
    assert body["messages"]["nb"] == t("app.survey.error.rate_limited", "nb", seconds=wait)
    assert body["messages"]["en"] == t("app.survey.error.rate_limited", "en", seconds=wait)
    before = server.responses()
    status, body, _ = server.post("/kit/survey/api/submit", {"code": valid, "answers": full()})
    assert status == 429 and server.responses() == before
    # a guesser cannot pose as another client with a header (it is no trusted proxy)
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
    status, *_ = server.post("/kit/survey/api/open", {"code": "guess-x"}, headers=spoofed)
    assert status == 429
    assert server.get("/kit/survey")[0] == 200  # the page itself is never limited


def test_script_and_style_come_from_memory_compressed_cached_and_only_from_their_folder(server):
    import gzip

    from kit.apps.survey_server import STATIC_DIR

    def fetch(path: str, headers: dict[str, str]) -> tuple[int, bytes, dict]:
        req = urllib.request.Request(server.url(path), headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}

    script = (STATIC_DIR / "survey.js").read_bytes()
    status, body, headers = fetch("/kit/survey/static/survey.js", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == script
    assert "javascript" in headers["content-type"] and headers["x-content-type-options"]
    assert "max-age=86400" in headers["cache-control"]
    status, body, _ = fetch("/kit/survey/static/survey.js", {})
    assert status == 200 and body == script
    status, body, _ = fetch("/kit/survey/static/survey.js", {"If-None-Match": headers["etag"]})
    assert status == 304 and body == b""
    for path in ("/kit/survey/static/survey.html", "/kit/survey/static/..%2Fsurvey.py"):
        assert fetch(path, {})[0] == 404
