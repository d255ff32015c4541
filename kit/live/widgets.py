"""The facilitator's console and one reusable widget per exercise (ipywidgets).

The console shows the join code, URL and QR code, steps through the session's rounds, opens and
closes them, reveals or hides results, and follows answers live: it holds the live server's
console stream (``kit.live.feed``) and reads the store only when the server pushes a change;
without a live server it reads the store every second instead (``poll_once`` does one step,
for tests). Either way it redraws only when something changed.
Every exercise widget has a ``results`` trait (the round's JSON-ready results) and reads and
writes through ``kit.store.live``; the logic lives in ``kit.live.measures``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import time
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as w
import pandas as pd
import traitlets

from kit.errors import KitError
from kit.exercises import get_exercise, load_exercises
from kit.i18n import t
from kit.instrument import available_instruments, load_instrument
from kit.live import charts as lc
from kit.live import facilitate
from kit.live import measures as m
from kit.live import session as ls
from kit.live.feed import ConsoleFeed, events_url
from kit.live.rounds import pulse_items
from kit.live.summary import PUBLISHED as summary_published
from kit.live.summary import round_results
from kit.live.visibility import visible_round
from kit.settings import LANGUAGES, Settings
from kit.store import Store, open_store
from kit.store import live as repo

POLL_SECONDS = 1.0  # the timer line's tick; the store is read this often only without a stream
SAFETY_SECONDS = 30.0  # beside a held stream, the store is still read this often
# shown as published versions (the action plan's proposals are drawn by its own widget)
PUBLISHED = tuple(x for x in summary_published if x != "action_plan")


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _svg(chart: Any) -> str:
    try:
        return chart.to_html()
    except Exception as exc:  # noqa: BLE001 - a chart must never stop the console
        return f"<p><em>{_esc(exc)}</em></p>"


class ExerciseWidget(w.VBox):
    """One round of one exercise. Subclasses draw ``results`` and add their own controls."""

    results = traitlets.Dict()
    revealed = traitlets.Bool(False)
    always_draw = False  # draw even while results are hidden (controls live in the drawing)

    def __init__(self, console: FacilitatorConsole, rnd: dict[str, Any]) -> None:
        super().__init__()
        self.console = console
        self.round = rnd
        self.lang = console.lang
        self.view = w.HTML()
        self.message = w.HTML()
        self.controls: list[w.Widget] = self.build_controls()
        self.revealed = bool(rnd["revealed"])
        self.view.layout.display = None if self.revealed else "none"
        self.children = [*self.controls, self.message, self.view]

    # -- helpers ----------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.console.store

    def T(self, key: str, **fields: Any) -> str:
        return t(f"live.console.{key}", self.lang, **fields)

    def say(self, text: str, error: bool = False) -> None:
        colour = "#b3261e" if error else "#2e7d32"
        self.message.value = f'<span style="color:{colour}">{_esc(text)}</span>'

    def save_config(self, config: dict[str, Any]) -> None:
        self.round = repo.update_round(self.store, self.round["id"], config=config)

    # -- to override --------------------------------------------------------------------------
    def build_controls(self) -> list[w.Widget]:
        return []

    def refresh(self, answers: pd.DataFrame, turns: pd.DataFrame | None = None) -> None:
        """Recompute results and redraw. Participants' answers are shown only once revealed and
        only as the round's published version (what the phones see, never the live answers)."""
        settings = self.console.settings
        self._last = (answers, turns)
        if self.round["exercise"] in PUBLISHED:
            self.frozen = None
            if not self.revealed:
                self.results = {"shown": False}
                return
            shown = visible_round(self.store, settings, self.round)
            self.frozen = shown.answers if shown.answers is not None else repo.frozen_frame([])
            self.results = {**round_results(self.round, self.frozen, settings, self.lang),
                            "published": shown.info()}
        else:
            self.results = round_results(self.round, answers, settings, self.lang, turns,
                                         time.time())
        if self.revealed or self.always_draw:
            self.draw(answers, turns)

    def version_line(self) -> str:
        """Which published version is shown, or why nothing is."""
        r = self.results
        pub = r.get("published") or {}
        if not pub.get("version") or r.get("hidden"):
            return f"<p>{_esc(self.T('not_published', min_n=r.get('min_n')))}</p>"
        text = self.T("version", version=pub["version"], n=r["respondents"],
                      published_at=pub["published_at"], min_n=r["min_n"])
        return f"<p><small>{_esc(text)}</small></p>"

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        self.view.value = ""

    @traitlets.observe("revealed")
    def _on_reveal(self, change: dict[str, Any]) -> None:
        self.view.layout.display = None if change["new"] else "none"
        last = getattr(self, "_last", None)
        if change["new"] and last is not None:
            self.refresh(*last)


class PulseWidget(ExerciseWidget):
    """Live distribution per item; the items with most disagreement marked and listed."""

    def build_controls(self) -> list[w.Widget]:
        inst, items = pulse_items(self.round["config"])
        lang_i = self.lang if self.lang in inst.languages else inst.languages[0]
        self.items = w.SelectMultiple(
            options=[(f"{i}  {inst.item(i).text[lang_i][:70]}", i) for i in inst.item_ids],
            value=tuple(items), rows=min(8, len(inst.item_ids)),
            description=self.T("items"), layout=w.Layout(width="95%"))
        self.items.observe(self._items_changed, "value")
        self.show_items()
        return [self.items]

    def show_items(self) -> None:
        """The item list can change only before the round opens; after that it is hidden."""
        draft = self.round["status"] == "draft"
        self.items.disabled = not draft
        self.items.layout.display = None if draft else "none"

    def _items_changed(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            return
        self.save_config({**self.round["config"], "items": list(change["new"])})

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        r = self.results
        if r.get("hidden") or not r.get("items"):
            self.view.value = self.version_line()
            return
        inst, _ = pulse_items(self.round["config"])
        rows = [i for i in r["items"] if not i["hidden"]]
        hidden = [i for i in r["items"] if i["hidden"]]
        chart = ""
        if rows:
            summary = pd.DataFrame(rows)
            chart = _svg(lc.pulse_chart(summary, inst, self.lang))
        flagged = [i for i in rows if i["disagreement"]]
        lines = "".join(f"<li>{_esc(i['text'])} (sd {i['sd']:.2f})</li>" for i in flagged)
        extra = f"<p><b>{_esc(self.T('disagreement'))}</b></p><ul>{lines}</ul>" if flagged else ""
        if hidden:
            names = "".join(f"<li>{_esc(i['text'])}</li>" for i in hidden)
            extra += f"<p>{_esc(self.T('part_hidden', min_n=r['min_n']))}</p><ul>{names}</ul>"
        self.view.value = self.version_line() + chart + extra


class PurposeWidget(ExerciseWidget):
    """Statements shown anonymously; dot-voting; the agreed statement saved."""

    def build_controls(self) -> list[w.Widget]:
        phase = self.round["config"].get("phase", "write")
        self.phase = w.ToggleButtons(options=[(self.T("back_to_writing"), "write"),
                                              (self.T("start_voting"), "vote")], value=phase)
        self.phase.observe(self._phase_changed, "value")
        agreed = (self.round.get("outcome") or {}).get("statement") or ""
        self.agreed = w.Textarea(value=agreed, description=self.T("agreed"),
                                 layout=w.Layout(width="95%", height="5em"))
        self.save = w.Button(description=self.T("save"), button_style="primary")
        self.save.on_click(lambda _: self.save_agreed())
        return [self.phase, w.HBox([self.agreed, self.save])]

    def _phase_changed(self, change: dict[str, Any]) -> None:
        self.save_config({**self.round["config"], "phase": change["new"]})

    def save_agreed(self) -> None:
        text = self.agreed.value.strip()
        if not text:
            self.say(t("live.error.empty", self.lang, what=self.T("agreed")), error=True)
            return
        self.round = repo.update_round(self.store, self.round["id"], outcome={"statement": text})
        self.say(self.T("saved"))

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        r = self.results
        head = self.version_line()
        if r.get("hidden") or r.get("statements_hidden"):
            self.view.value = head
            return
        st = pd.DataFrame(r.get("statements") or [], columns=["id", "text", "votes", "voters"])
        if self.round["config"].get("phase") == "vote" and len(st) and not r.get("votes_hidden"):
            self.view.value = head + _svg(lc.votes_chart(st, self.lang))
            return
        note = (f"<p>{_esc(self.T('part_hidden', min_n=r['min_n']))} ({_esc(self.T('votes'))})"
                "</p>" if self.round["config"].get("phase") == "vote" else "")
        cards = "".join(
            f'<div style="border:1px solid #ccc;border-radius:8px;padding:.5em;margin:.3em 0">'
            f"{_esc(x)}</div>" for x in st.sample(frac=1, random_state=self.round["id"])["text"])
        self.view.value = head + note + cards


class AgendaWidget(ExerciseWidget):
    """Actual vs wanted split of meeting time; minutes per kind of item."""

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        r = self.results
        head = self.version_line()
        if r.get("hidden"):
            self.view.value = head
            return
        split = pd.DataFrame(r["split"])
        parts = [head, _svg(lc.agenda_chart(split, self.lang))]
        if r.get("entries_hidden") or r.get("wanted_hidden"):
            parts.append(f"<p>{_esc(self.T('part_hidden', min_n=r['min_n']))}</p>")
        if not r.get("entries_hidden"):
            kinds = pd.DataFrame(r["kinds"])
            table = kinds.pivot(index="kind", columns="focus", values="minutes")
            table.index = [t(f"live.agenda.kind.{k}", self.lang) for k in table.index]
            table.columns = [t(f"live.agenda.focus.{f}", self.lang) for f in table.columns]
            parts.append(table.astype(float).round(0).astype(int).to_html(border=0))
        self.view.value = "".join(parts)


class AirtimeWidget(ExerciseWidget):
    """The facilitator taps who speaks; shares, turns, equality and the leader's share."""

    def build_controls(self) -> list[w.Widget]:
        speakers = self.round["config"].get("speakers") or []
        self.people = w.Textarea(
            value="\n".join(("*" if s.get("leader") else "") + s["name"] for s in speakers),
            description="", placeholder=self.T("speakers"), layout=w.Layout(width="60%"))
        self.apply = w.Button(description=self.T("apply"))
        self.apply.on_click(lambda _: self.set_speakers(self.people.value))
        self.buttons = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.stop = w.Button(description=self.T("stop"), button_style="warning")
        self.stop.on_click(lambda _: self.stop_speaking())
        self.undo = w.Button(description=self.T("undo"))
        self.undo.on_click(lambda _: self._undo())
        self._draw_buttons()
        return [w.Label(self.T("speakers")), w.HBox([self.people, self.apply]), self.buttons,
                w.HBox([self.stop, self.undo])]

    def set_speakers(self, text: str) -> None:
        people = []
        for line in text.splitlines():
            name = line.strip()
            if name:
                leader = name.startswith("*")
                people.append({"name": name.lstrip("*").strip()[:40], "leader": leader})
        self.save_config({**self.round["config"], "speakers": people})
        self._draw_buttons()

    def _draw_buttons(self) -> None:
        btns = []
        for s in self.round["config"].get("speakers") or []:
            b = w.Button(description=s["name"], button_style="info",
                         layout=w.Layout(width="auto", min_width="6em", height="3em"))
            b.on_click(lambda _, name=s["name"]: self.tap(name))
            btns.append(b)
        self.buttons.children = btns

    def tap(self, speaker: str, at: float | None = None) -> None:
        """``speaker`` starts talking now (the previous speaker stops)."""
        repo.start_turn(self.store, self.round["id"], speaker, time.time() if at is None else at)
        self.console.poll_once(force=True)

    def stop_speaking(self, at: float | None = None) -> None:
        repo.stop_turns(self.store, self.round["id"], time.time() if at is None else at)
        self.console.poll_once(force=True)

    def _undo(self) -> None:
        repo.undo_turn(self.store, self.round["id"])
        self.console.poll_once(force=True)

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        r = self.results
        if not r.get("speakers"):
            self.view.value = ""
            return

        def fmt(v: Any, pct: bool = False) -> str:
            if v is None:
                return "–"
            return f"{v:.0%}" if pct else f"{v:.2f}"

        table = pd.DataFrame(r["speakers"])
        facts = self.T("equality", entropy=fmt(r.get("entropy")), gini=fmt(r.get("gini")),
                       leader=fmt(r.get("leader_share"), pct=True))
        shown = pd.DataFrame({self.T("speakers").split("(")[0].strip(): table["speaker"],
                              self.T("seconds"): table["seconds"].round(0).astype(int),
                              self.T("turns"): table["turns"],
                              self.T("share"): (table["share"] * 100).round(0).astype(int)})
        self.view.value = (_svg(lc.airtime_chart(table, self.lang)) + f"<p>{_esc(facts)}</p>"
                           + shown.to_html(index=False, border=0))


class StakeholderWidget(ExerciseWidget):
    """Actors placed by power and interest (or dependency): the mean of everyone's placing."""

    def build_controls(self) -> list[w.Widget]:
        cfg = self.round["config"]
        self.actors = w.Textarea(value="\n".join(cfg.get("actors") or []),
                                 placeholder=self.T("actors"), layout=w.Layout(width="60%"))
        self.axis = w.Dropdown(options=[(t("live.stakeholder.interest", self.lang), "interest"),
                                        (t("live.stakeholder.dependency", self.lang),
                                         "dependency")],
                               value=cfg.get("axis", "interest"), description=self.T("axis"))
        self.apply = w.Button(description=self.T("apply"))
        self.apply.on_click(lambda _: self.set_actors(self.actors.value, self.axis.value))
        return [w.Label(self.T("actors")), w.HBox([self.actors, w.VBox([self.axis, self.apply])])]

    def set_actors(self, text: str, axis: str = "interest") -> None:
        actors = list(dict.fromkeys(x.strip()[:60] for x in text.splitlines() if x.strip()))
        old = self.round["config"].get("actors") or []
        if self.round["status"] != "draft" and actors[: len(old)] != old:
            self.say(t("live.error.round_closed", self.lang), error=True)  # keep answers' meaning
            return
        self.save_config({**self.round["config"], "actors": actors, "axis": axis})
        self.say(self.T("saved"))

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        cfg = self.round["config"]
        r = self.results
        head = self.version_line()
        pos = pd.DataFrame(r.get("actors") or [], columns=["actor", "power", "interest"])
        pos = pos.astype({"power": float, "interest": float})
        if r.get("hidden") or not len(pos.dropna()):
            self.view.value = head
            return
        self.view.value = head + _svg(lc.stakeholder_chart(pos, self.lang,
                                                            cfg.get("axis", "interest")))


class ActionPlanWidget(ExerciseWidget):
    """Actions with owner, due date and linked dimension; earlier actions reviewed by status."""

    always_draw = True

    def build_controls(self) -> list[w.Widget]:
        session = self.console.session
        inst = load_instrument(self.console.settings.instrument)
        lang_i = self.lang if self.lang in inst.languages else inst.languages[0]
        self.group = w.Dropdown(options=session["group_ids"], description=self.T("group"))
        self.action = w.Text(description=self.T("action"), layout=w.Layout(width="95%"))
        self.owner = w.Text(description=self.T("owner"))
        self.due = w.DatePicker(description=self.T("due"))
        self.dimension = w.Dropdown(options=[("–", None)] + [(d.name[lang_i], d.id)
                                                            for d in inst.dimensions],
                                    description=self.T("dimension"))
        self.add = w.Button(description=self.T("add_action"), button_style="primary")
        self.add.on_click(lambda _: self.add_action())
        self.review = w.VBox()
        return [self.group, self.action, w.HBox([self.owner, self.due]), self.dimension,
                self.add, self.review]

    def add_action(self) -> None:
        text = self.action.value.strip()
        if not text:
            self.say(t("live.error.empty", self.lang, what=self.T("action")), error=True)
            return
        due = self.due.value.isoformat() if self.due.value else None
        repo.add_action(self.store, self.console.session["id"], self.group.value, text[:500],
                        self.owner.value.strip()[:200], due, self.dimension.value)
        self.action.value = ""
        self.owner.value = ""
        self.say(self.T("saved"))
        self.console.poll_once(force=True)

    def set_status(self, action_id: int, status: str) -> None:
        repo.update_action(self.store, action_id, status=status)

    def actions(self) -> pd.DataFrame:
        s = self.console.session
        return repo.list_session_actions(self.store, s["id"], s["group_ids"], include_earlier=True)

    def proposals(self) -> list[w.Widget]:
        """Participants' proposed actions (the published version), each to accept or edit."""
        rnd = self.round
        shown = visible_round(self.store, self.console.settings, rnd)
        if shown.answers is None:
            return []
        accepted = set(rnd["config"].get("accepted") or [])
        rows: list[w.Widget] = []
        for rec in m.proposals(shown.answers).to_dict("records"):
            if rec["id"] in accepted:
                continue
            text = w.Text(value=rec["text"], layout=w.Layout(width="60%"))
            ok = w.Button(description=self.T("accept"), button_style="success")
            ok.on_click(lambda _, pid=rec["id"], box=text: self.accept(pid, box.value))
            rows.append(w.HBox([text, ok]))
        if rows:
            rows.insert(0, w.HTML(f"<b>{_esc(self.T('proposals'))}</b>"))
        return rows

    def accept(self, proposal_id: int, text: str) -> int:
        aid = facilitate.accept_proposal(self.store, self.console.settings, self.round["id"],
                                         proposal_id, self.group.value, text,
                                         self.owner.value.strip(),
                                         self.due.value.isoformat() if self.due.value else None,
                                         self.dimension.value)
        self.round = repo.get_round(self.store, self.round["id"])
        self.say(self.T("saved"))
        self.console.poll_once(force=True)
        return aid

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        frame = self.actions()
        self.results = {**self.results, "actions": len(frame)}
        proposed = self.proposals()
        if not len(frame):
            self.review.children = [*proposed, w.HTML(f"<p>{_esc(self.T('no_actions'))}</p>")]
            return
        rows = []
        options = [(t(f"live.console.action_status.{st}", self.lang), st)
                   for st in repo.ACTION_STATUSES]
        for rec in frame.to_dict("records"):
            status = w.Dropdown(options=options, value=rec["status"],
                                layout=w.Layout(width="10em"))
            status.observe(lambda ch, aid=rec["id"]: self.set_status(aid, ch["new"]), "value")
            label = " · ".join(_esc(x) for x in (rec["group_id"], rec["action"], rec["owner"],
                                                 rec["due_date"] or "", rec["dimension"] or "")
                               if x)
            earlier = "" if rec["session_id"] == self.console.session["code"] else " ↺"
            rows.append(w.HBox([status, w.HTML(label + earlier)]))
        self.review.children = [*proposed, *rows]
        self.view.value = ""


class InteractionWidget(ExerciseWidget):
    """Polls, word cloud, Q&A, boundedness check and decision review: the published results
    as tables (the projector page draws them large), with the moderation each needs: allow Q&A
    entries, hide words. Moderation works on the published version, before or after reveal."""

    always_draw = True

    def refresh(self, answers: pd.DataFrame, turns: pd.DataFrame | None = None) -> None:
        settings = self.console.settings
        self._last = (answers, turns)
        shown = visible_round(self.store, settings, self.round)
        frozen = shown.answers if shown.answers is not None else repo.frozen_frame([])
        self.published = {**round_results(self.round, frozen, settings, self.lang),
                          "published": shown.info()}
        self.results = self.published if self.revealed else {"shown": False}
        self.draw(answers, turns)

    def build_controls(self) -> list[w.Widget]:
        self.moderation = w.VBox()
        return [self.moderation]

    def draw(self, answers: pd.DataFrame, turns: pd.DataFrame | None) -> None:
        r = self.published
        ex = self.round["exercise"]
        self.moderate(r)
        if r.get("hidden") or not (r.get("published") or {}).get("version"):
            self.view.value = self.version_line_of(r)
            return
        table = results_table(self.round, r, self.lang)
        self.view.value = self.version_line_of(r) + (table.to_html(index=False, border=0)
                                                     if table is not None else "")
        if ex == "poll" and r.get("kind") == "scale":
            self.view.value += f"<p>{_esc(t('live.page.mean_sd', self.lang, mean=_num(r['mean'], self.lang), sd=_num(r['sd'], self.lang), n=r['n']))}</p>"  # noqa: E501

    def version_line_of(self, r: dict[str, Any]) -> str:
        keep, self.results = self.results, r
        try:
            return self.version_line()
        finally:
            self.results = keep

    def moderate(self, r: dict[str, Any]) -> None:
        ex = self.round["exercise"]
        rows: list[w.Widget] = []
        if ex == "qa":
            approved = set(self.round["config"].get("approved") or [])
            for e in r.get("entries") or []:
                box = w.Checkbox(value=e["id"] in approved, description=str(e["text"])[:120],
                                 indent=False, layout=w.Layout(width="95%"))
                box.observe(lambda ch, eid=e["id"]: self.approve(eid, ch["new"]), "value")
                rows.append(box)
            if rows:
                rows.insert(0, w.HTML(f"<b>{_esc(self.T('allow_entries'))}</b>"))
        elif ex == "wordcloud":
            for word in r.get("words") or []:
                b = w.Button(description=f"✕ {word['word']} ({word['count']})",
                             layout=w.Layout(width="auto"))
                b.on_click(lambda _, k=word["key"]: self.hide(k, True))
                rows.append(b)
            for word in r.get("hidden_words") or []:
                b = w.Button(description=f"↺ {word}", button_style="warning",
                             layout=w.Layout(width="auto"))
                b.on_click(lambda _, k=word: self.hide(k, False))
                rows.append(b)
            if rows:
                rows = [w.HTML(f"<b>{_esc(self.T('hide_words'))}</b>"),
                        w.HBox(rows, layout=w.Layout(flex_flow="row wrap"))]
        self.moderation.children = rows

    def approve(self, entry_id: int, on: bool) -> None:
        self.round = facilitate.approve_entry(self.store, self.console.settings,
                                              self.round["id"], entry_id, on)
        self.console.poll_once(force=True)

    def hide(self, word: str, on: bool) -> None:
        self.round = facilitate.hide_word(self.store, self.round["id"], word, on)
        self.console.poll_once(force=True)


def _num(value: Any, lang: str, digits: int = 1) -> str:
    if value is None:
        return "–"
    text = f"{float(value):.{digits}f}"
    return text.replace(".", ",") if lang == "nb" else text


def results_table(rnd: dict[str, Any], r: dict[str, Any], lang: str) -> pd.DataFrame | None:
    """The console's table of an interaction's published results (columns in the language)."""
    ex = rnd["exercise"]
    T = lambda k: t(f"live.console.col.{k}", lang)  # noqa: E731
    if ex == "poll" and r.get("kind") == "scale":
        counts = r.get("counts") or {}
        return pd.DataFrame({T("value"): list(counts), T("count"): list(counts.values())})
    if ex == "poll":
        frame = pd.DataFrame(r.get("options") or [])
        return frame.rename(columns={c: T(c) for c in frame.columns})
    if ex == "wordcloud":
        frame = pd.DataFrame(r.get("words") or [], columns=["word", "count"])
        return frame.rename(columns={c: T(c) for c in frame.columns})
    if ex == "qa":
        frame = pd.DataFrame(r.get("entries") or [], columns=["text", "votes", "approved"])
        return frame.rename(columns={c: T(c) for c in frame.columns})
    if ex == "boundedness":
        frame = pd.DataFrame(r.get("names") or [], columns=["name", "count", "share", "band"])
        frame["band"] = [t(f"live.page.band.{b}", lang) for b in frame["band"]]
        frame["share"] = [_num(100 * x, lang, 0) + " %" for x in frame["share"]]
        return frame.rename(columns={c: T(c) for c in frame.columns})
    if ex == "decision_review":
        frame = pd.DataFrame(r.get("decisions") or [])
        if not len(frame):
            return None
        shares = ["breadth", *r.get("sources", [])]
        for col in shares:
            frame[col] = [("–" if x is None or x != x else _num(100 * x, lang, 0) + " %")
                          for x in frame[col]]
        names = {x: t(f"live.decision.{x}", lang) for x in r.get("sources", [])}
        frame = frame.drop(columns=["hidden"])
        return frame.rename(columns={c: names.get(c, T(c)) for c in frame.columns})
    return None


WIDGETS: dict[str, type[ExerciseWidget]] = {
    "pulse": PulseWidget, "purpose": PurposeWidget, "agenda_audit": AgendaWidget,
    "airtime": AirtimeWidget, "stakeholder_map": StakeholderWidget,
    "action_plan": ActionPlanWidget, "poll": InteractionWidget, "wordcloud": InteractionWidget,
    "qa": InteractionWidget, "boundedness": InteractionWidget,
    "decision_review": InteractionWidget,
}


class FacilitatorConsole(w.VBox):
    """A session on the projector: join code and QR, rounds, live answers, reveal, save."""

    current = traitlets.Int(allow_none=True)  # the round shown (its id)
    participants = traitlets.Int(0)  # admitted participants
    joined = traitlets.Int(0)
    waiting = traitlets.Int(0)
    answered = traitlets.Int(0)

    def __init__(self, settings: Settings, code: str, store: Store | None = None,
                 key: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store or open_store(settings)
        self.session = repo.get_session(self.store, code)
        self.lang = self.session["language"]
        self.key = key  # for the live server's console stream (else the kit's facilitator key)
        self._signature: Any = None
        self._filling = False
        self._task: asyncio.Task[None] | None = None
        self.feed: ConsoleFeed | None = None
        self.polls = 0  # store reads for changes (poll_once), pushed or fallen back to
        self.rounds = repo.list_rounds(self.store, self.session["id"])
        url = ls.join_url(settings, code)
        title = f"{_esc(self.session['title'])} · {_esc(get_title(self.lang))}"
        self.header = w.HTML(
            f'<div style="display:flex;gap:1.5em;align-items:center">'
            f'<div style="width:180px">{ls.qr_svg(url, scale=4)}</div><div>'
            f"<h2 style='margin:0'>{title}</h2>"
            f"<p>{_esc(t('live.console.join_at', self.lang, url=url))}</p>"
            f'<p><a href="{_esc(ls.projector_url(settings, self.session))}" target="_blank" '
            f'rel="noopener" class="kit-projector-link">{_esc(self.T("projector"))}</a></p>'
            f'<p style="font-size:2.4em;letter-spacing:.15em;margin:0"><b>'
            f"{_esc(ls.display_code(code))}</b></p>"
            f"</div></div>")
        self.counts = w.HTML()
        self.picker = w.Dropdown(description=self.T("round"), layout=w.Layout(width="28em"))
        self.prev = w.Button(description=self.T("previous"), icon="arrow-left")
        self.next = w.Button(description=self.T("next"), icon="arrow-right")
        self.open_btn = w.Button(description=self.T("open_round"), button_style="success")
        self.close_btn = w.Button(description=self.T("close_round"), button_style="danger")
        self.reveal = w.ToggleButton(description=self.T("reveal"), icon="eye")
        self.export = w.Button(description=self.T("export"), icon="download")
        self.export.on_click(lambda _: self.export_csv())
        self.exported = w.HTML()
        self.prev.on_click(lambda _: self.step(-1))
        self.next.on_click(lambda _: self.step(1))
        self.open_btn.on_click(lambda _: self.open_round())
        self.close_btn.on_click(lambda _: self.close_round())
        self.reveal.observe(self._reveal_changed, "value")
        self.picker.observe(self._picked, "value")
        # joined vs expected: joins beyond the expected number wait for the facilitator
        self.admission = w.HTML()
        self.expected = w.BoundedIntText(value=self.session.get("expected") or 0, min=0,
                                         max=repo.MAX_EXPECTED, description=self.T("expected"),
                                         layout=w.Layout(width="12em"))
        self.set_expected_btn = w.Button(description=self.T("set_expected"))
        self.set_expected_btn.on_click(lambda _: self.set_expected(self.expected.value))
        self.admit_one = w.Button(description=self.T("admit_one"))
        self.admit_one.on_click(lambda _: self.admit(1))
        self.admit_all = w.Button(description=self.T("admit_all"), button_style="warning")
        self.admit_all.on_click(lambda _: self.admit(None))
        self.body = w.VBox()
        # the round's timer and re-vote; an interaction written on the spot
        self.timer_seconds = w.BoundedIntText(value=120, min=facilitate.MIN_TIMER,
                                              max=facilitate.MAX_TIMER,
                                              description=self.T("timer_seconds"),
                                              layout=w.Layout(width="14em"))
        self.timer_btn = w.Button(description=self.T("start_timer"), icon="clock-o")
        self.timer_btn.on_click(lambda _: self.start_timer(self.timer_seconds.value))
        self.extend_btn = w.Button(description=self.T("extend_timer"))
        self.extend_btn.on_click(lambda _: self.extend_timer(30))
        self.revote_btn = w.Button(description=self.T("revote"), icon="repeat")
        self.revote_btn.on_click(lambda _: self.revote())
        self.timer_line = w.HTML()
        self.following = w.HTML()  # pushed or checking every second (``start``)
        self.end_btn = w.Button(description=self.T("end_session"), icon="stop")
        self.end_confirm = w.Button(description=self.T("end_confirm"), button_style="danger",
                                    layout=w.Layout(display="none"))
        self.end_btn.on_click(lambda _: self._ask_end())
        self.end_confirm.on_click(lambda _: self.end_session())
        self.ended = w.HTML()
        self.adhoc = AdHocForm(self)
        self.children = [self.header,
                         w.HBox([self.prev, self.picker, self.next]),
                         w.HBox([self.open_btn, self.close_btn, self.reveal, self.export]),
                         w.HBox([self.timer_seconds, self.timer_btn, self.extend_btn,
                                 self.revote_btn]),
                         self.timer_line,
                         self.exported,
                         w.HBox([self.expected, self.set_expected_btn, self.admit_one,
                                 self.admit_all]),
                         self.admission, self.counts, self.following, self.body, self.adhoc,
                         w.HBox([self.end_btn, self.end_confirm]), self.ended]
        self.widget: ExerciseWidget | None = None
        self._fill_picker()
        start = self.session["current_round_id"]
        ids = [r["id"] for r in self.rounds]
        self.picker.value = start if start in ids else (ids[0] if ids else None)
        self.poll_once(force=True)
        if self.session["status"] != "open":
            self._show_ended()

    def T(self, key: str, **fields: Any) -> str:
        return t(f"live.console.{key}", self.lang, **fields)

    def _fill_picker(self) -> None:
        """Relabel the rounds (status changed) without switching the round shown."""
        keep = self.picker.value
        self._filling = True
        try:
            self.picker.options = [
                (f"{r['ordinal']}. {get_exercise(r['exercise']).name[self.lang]} "
                 f"({self.T('status.' + r['status'])})", r["id"]) for r in self.rounds]
            if keep is not None:
                self.picker.value = keep
        finally:
            self._filling = False

    @property
    def round(self) -> dict[str, Any] | None:
        return next((r for r in self.rounds if r["id"] == self.current), None)

    def _reload_rounds(self) -> None:
        self.rounds = repo.list_rounds(self.store, self.session["id"])
        self._fill_picker()

    def _picked(self, change: dict[str, Any]) -> None:
        if change["new"] is None or self._filling:
            return
        self.current = change["new"]
        if change["new"] != self.session.get("current_round_id"):
            repo.set_current_round(self.store, self.session["id"], change["new"])
            self.session["current_round_id"] = change["new"]
        rnd = self.round
        assert rnd is not None
        self.widget = WIDGETS[rnd["exercise"]](self, rnd)
        self.body.children = [self.widget]
        with self.hold_trait_notifications():
            self.reveal.value = rnd["revealed"]
        self._buttons()
        self.poll_once(force=True)

    def _buttons(self) -> None:
        rnd = self.round
        status = rnd["status"] if rnd else "draft"
        over = self.session["status"] != "open"  # an ended session opens no round again
        self.open_btn.disabled = over or status == "open"
        self.close_btn.disabled = over or status != "open"
        self.reveal.description = self.T("hide") if self.reveal.value else self.T("reveal")

    def step(self, delta: int) -> None:
        ids = [r["id"] for r in self.rounds]
        if self.current in ids:
            i = max(0, min(len(ids) - 1, ids.index(self.current) + delta))
            self.picker.value = ids[i]

    def open_round(self) -> None:
        if self.current is None:
            return
        counts = repo.admission(self.store, self.session["id"])
        if self.expected.value >= 1 and counts["control"] \
                and self.expected.value != counts["expected"]:
            repo.set_expected(self.store, self.session["id"], int(self.expected.value))
        repo.update_round(self.store, self.current, status="open")
        self._after_change()

    def close_round(self) -> None:
        if self.current is None:
            return
        repo.update_round(self.store, self.current, status="closed")
        self._after_change()

    def _reveal_changed(self, change: dict[str, Any]) -> None:
        if self.current is None:
            return
        repo.update_round(self.store, self.current, revealed=change["new"])
        self._after_change()

    def _after_change(self) -> None:
        self._reload_rounds()
        if self.widget is not None and self.round is not None:
            self.widget.round = self.round
            self.widget.revealed = self.round["revealed"]
            if isinstance(self.widget, PulseWidget):
                self.widget.show_items()
        self._buttons()
        self.poll_once(force=True)

    # -- timer, re-vote, ad hoc rounds ---------------------------------------------------------
    def start_timer(self, seconds: int) -> None:
        if self.current is not None:
            facilitate.set_timer(self.store, self.current, int(seconds))
            self._after_change()

    def extend_timer(self, seconds: int) -> None:
        if self.current is not None:
            facilitate.extend_timer(self.store, self.current, int(seconds))
            self._after_change()

    def revote(self) -> int | None:
        if self.current is None:
            return None
        try:
            rid = facilitate.revote(self.store, self.current)
        except KitError as exc:
            self.timer_line.value = f'<p style="color:#b3261e">{_esc(_message(exc, self.lang))}</p>'
            return None
        self.go_to(rid)
        return rid

    def go_to(self, round_id: int) -> None:
        """Show a round (new ones included): the projector page follows."""
        self._reload_rounds()
        self.picker.value = round_id
        self._after_change()

    def show_timer(self) -> None:
        rnd = self.round
        ends = (rnd or {}).get("config", {}).get("ends_at")
        if rnd is None or ends is None or rnd["status"] != "open":
            self.timer_line.value = ""
            return
        left = max(0, int(round(float(ends) - time.time())))
        self.timer_line.value = (f"<p><b>{_esc(t('live.page.time_left', self.lang, time=f'{left // 60}:{left % 60:02d}'))}"  # noqa: E501
                                 "</b></p>")

    def export_csv(self) -> list[Any]:
        """Write the session's CSV files (as ``kit session export`` does) and say where."""
        from kit.live.export import export_session

        done = export_session(self.store, self.settings, self.session["code"])
        self.exported.value = f"<p>{_esc(self.T('exported', path=done.paths[0].parent))}</p>"
        return done.paths

    # -- admission -----------------------------------------------------------------------------
    def set_expected(self, expected: int) -> None:
        """The number of people in the room; waiting joins are admitted up to it."""
        if expected >= 1:
            repo.set_expected(self.store, self.session["id"], int(expected))
        self.poll_once(force=True)

    def admit(self, count: int | None) -> None:
        """Admit ``count`` waiting participants (None: all), first come first."""
        repo.admit_waiting(self.store, self.session["id"], count)
        self.poll_once(force=True)

    def show_admission(self) -> dict[str, Any]:
        counts = repo.admission(self.store, self.session["id"])
        self.joined, self.waiting = counts["joined"], counts["waiting"]
        expected = counts["expected"]
        text = self.T("admission", admitted=counts["admitted"], waiting=counts["waiting"],
                      expected=self.T("expected_unset") if expected is None else expected)
        warn = ""
        if counts["waiting"]:
            warn = (f'<p style="color:#b3261e"><b>'
                    f"{_esc(self.T('waiting_warning', waiting=counts['waiting']))}</b></p>")
        self.admission.value = f"<p><b>{_esc(text)}</b></p>{warn}"
        self.admit_one.disabled = self.admit_all.disabled = not counts["waiting"]
        if expected is not None and self.expected.value != expected:
            self.expected.value = expected
        return counts

    # -- live ----------------------------------------------------------------------------------
    def poll_once(self, force: bool = False) -> bool:
        """Read the store; redraw when answers, participants or turns changed. True if redrawn."""
        self.polls += 1
        if facilitate.close_expired(self.store, self.session["id"]):
            self._reload_rounds()
            self._buttons()
        self.show_timer()
        sig = repo.answers_signature(self.store, self.session["id"])
        if not force and sig == self._signature:
            return False
        self._signature = sig
        self.participants = sig[1]
        self.show_admission()
        if self.widget is None or self.current is None:
            self.counts.value = f"<p>{_esc(self.T('participants', n=self.participants))}</p>"
            return True
        answers = repo.load_answers(self.store, round_ids=[self.current])
        turns = (repo.list_turns(self.store, [self.current])
                 if self.widget.round["exercise"] == "airtime" else None)
        self.answered = m.respondents(answers)
        self.counts.value = (f"<p>{_esc(self.T('participants', n=self.participants))} · "
                             f"{_esc(self.T('answered', n=self.answered))}</p>")
        self.widget.refresh(answers, turns)
        return True

    def _pushed(self) -> None:
        """The live server says the session changed: read the store once (or, when it says the
        session ended, stop following)."""
        try:
            if self.feed is not None and self.feed.ended:
                self.session = repo.get_session(self.store, self.session["code"])
                self.stop()
                self._show_ended()
                return
            self.poll_once()
        except Exception as exc:  # noqa: BLE001 - keep following; show the problem
            self.counts.value = f"<p>{_esc(self.T('error', message=exc))}</p>"

    def _timer_ran_out(self) -> bool:
        rnd = self.round
        return bool(rnd and rnd["status"] == "open" and facilitate.expired(rnd))

    async def _follow(self, interval: float) -> None:
        """Every ``interval``: the timer line (no store read); the store only for airtime (a
        running turn grows without new rows), a timer that ran out, no stream held (the
        fallback), or once every ``SAFETY_SECONDS`` beside the stream."""
        last = time.monotonic()
        while True:
            try:
                airtime = self.widget is not None and self.widget.round["exercise"] == "airtime"
                pushed = self.feed is not None and self.feed.connected
                self.show_following(pushed)
                if airtime:
                    self.poll_once(force=True)
                elif not pushed or self._timer_ran_out() \
                        or time.monotonic() - last >= SAFETY_SECONDS:
                    self.poll_once()
                else:
                    self.show_timer()
                    continue
                last = time.monotonic()
            except Exception as exc:  # noqa: BLE001 - keep following; show the problem
                self.counts.value = f"<p>{_esc(self.T('error', message=exc))}</p>"
            finally:
                await asyncio.sleep(interval)

    def _ask_end(self) -> None:
        self.end_confirm.layout.display = None  # a second, explicit click ends it

    def end_session(self) -> None:
        """End the session for everyone: phones and the projector show the end screen and their
        streams close (the answers stay in the store for the export and the reports)."""
        repo.set_session_status(self.store, self.session["code"], "closed")
        self.session = repo.get_session(self.store, self.session["code"])
        self.stop()
        self._show_ended()

    def _show_ended(self) -> None:
        self.end_btn.disabled = True
        self.end_confirm.layout.display = "none"
        for button in (self.open_btn, self.close_btn, self.timer_btn, self.extend_btn,
                       self.revote_btn):
            button.disabled = True
        self.following.value = ""
        self.ended.value = f"<p><b>{_esc(self.T('ended'))}</b></p>"

    def show_following(self, pushed: bool) -> None:
        """Say how the console follows the room (pushed, or checking every second)."""
        text = self.T("following_pushed" if pushed else "following_polled")
        html_text = f'<p class="kit-following" style="color:#555">{_esc(text)}</p>'
        if self.following.value != html_text:
            self.following.value = html_text

    def start(self, interval: float = POLL_SECONDS, push: bool = True) -> None:
        """Follow answers live (in a running kernel's event loop): on the live server's pushed
        changes (``push``), reading the store every ``interval`` only without a stream."""
        self.stop()
        if self.session["status"] != "open":
            return  # an ended session changes no more
        loop = asyncio.get_event_loop()
        if push:
            key = self.key or ls.facilitator_key(self.settings)
            self.feed = ConsoleFeed(events_url(self.settings, self.session["code"]), key,
                                    self._pushed)
            self.feed.start()
        self._task = loop.create_task(self._follow(interval))

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.feed is not None:
            self.feed.stop()
            self.feed = None


def _message(exc: KitError, lang: str) -> str:
    return exc.message(lang) if hasattr(exc, "message") else str(exc)


class AdHocForm(w.VBox):
    """Write a poll, word cloud, Q&A, boundedness check or decision review on the spot: it is
    added as a new round and opened at once (``kit.live.facilitate.add_round``)."""

    KINDS = ("poll:scale", "poll:ranking", "poll:points", "poll:matrix", "wordcloud", "qa",
             "boundedness", "decision_review")

    def __init__(self, console: FacilitatorConsole) -> None:
        super().__init__()
        self.console = console
        T = console.T
        self.kind = w.Dropdown(options=[(T(f"adhoc.{k.replace(':', '_')}"), k)
                                        for k in self.KINDS], description=T("adhoc.kind"))
        self.question = w.Text(description=T("adhoc.question"), layout=w.Layout(width="95%"))
        self.lines = w.Textarea(placeholder=T("adhoc.lines"), layout=w.Layout(width="95%"))
        self.add = w.Button(description=T("adhoc.add"), button_style="primary")
        self.add.on_click(lambda _: self.create())
        self.message = w.HTML()
        self.children = [w.HTML(f"<h3>{_esc(T('adhoc.title'))}</h3>"), self.kind, self.question,
                         self.lines, self.add, self.message]

    def create(self) -> int | None:
        kind = self.kind.value
        exercise, _, poll = kind.partition(":")
        lines = [x.strip() for x in self.lines.value.splitlines() if x.strip()]
        config: dict[str, Any] = {"question": self.question.value}
        if poll == "scale":
            config.update({"kind": "scale", "min": 1, "max": 5, "labels": lines[:2]})
        elif poll:
            config.update({"kind": poll, "options": lines})
        elif exercise == "boundedness":
            config["names"] = lines
        elif exercise == "decision_review":
            config["decisions"] = lines
        try:
            rid = facilitate.add_round(self.console.store, self.console.session["id"], exercise,
                                       config)
        except KitError as exc:
            self.message.value = f'<p style="color:#b3261e">{_esc(_message(exc, self.console.lang))}</p>'  # noqa: E501
            return None
        self.message.value = ""
        self.question.value = self.lines.value = ""
        self.console.go_to(rid)
        return rid


def get_title(lang: str) -> str:
    return t("live.console.title", lang)


class ConsoleGate(w.VBox):
    """Asks for a session code and key (or creates a session) before showing the console."""

    def __init__(self, settings: Settings, code: str = "", key: str = "",
                 store: Store | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.store = store or open_store(settings)
        lang = settings.language
        self.lang = lang
        self.console: FacilitatorConsole | None = None
        self.code = w.Text(value=code, description=t("live.console.session", lang))
        self.key = w.Password(value=key, description=t("live.console.key", lang))
        self.go = w.Button(description=t("live.console.open_session", lang),
                           button_style="primary")
        self.go.on_click(lambda _: self.open_session())
        groups = self.store.list_groups()
        self.title = w.Text(description=t("live.console.session_title", lang))
        self.groups = w.SelectMultiple(options=list(groups["id"]) if len(groups) else [],
                                       description=t("live.console.groups", lang))
        live = [(e.name[lang], e.id) for e in load_exercises().values() if e.live]
        self.exercises = w.SelectMultiple(options=live, value=tuple(ls.DEFAULT_EXERCISES),
                                          description=t("live.console.exercises", lang), rows=6)
        self.language = w.Dropdown(options=list(LANGUAGES), value=lang,
                                   description=t("live.console.language", lang))
        names = available_instruments()
        self.instrument = w.Dropdown(
            options=names, value=ls.DEFAULT_INSTRUMENT if ls.DEFAULT_INSTRUMENT in names
            else (names[0] if names else None), description=t("live.console.instrument", lang))
        self.expected = w.BoundedIntText(value=0, min=0, max=repo.MAX_EXPECTED,
                                         description=t("live.console.expected", lang))
        self.create = w.Button(description=t("live.console.create", lang))
        self.create.on_click(lambda _: self.create_session())
        self.message = w.HTML()
        self.children = [
            w.HTML(f"<h2>{_esc(t('live.console.title', lang))}</h2>"
                   f"<p>{_esc(t('live.console.key_prompt', lang))}</p>"),
            self.key, self.code, self.go,
            w.HTML(f"<h3>{_esc(t('live.console.new_session', lang))}</h3>"),
            self.title, self.groups, self.exercises, self.instrument, self.language,
            self.expected, self.create,
            self.message]

    def _fail(self, message: str) -> None:
        self.message.value = f'<p style="color:#b3261e">{_esc(message)}</p>'

    def open_session(self) -> FacilitatorConsole | None:
        code = ls.normalise_code(self.code.value)
        try:
            session = repo.get_session(self.store, code)
        except KitError:
            self._fail(t("live.error.session_unknown", self.lang, code=code))
            return None
        if not ls.check_key(self.settings, session, self.key.value):
            self._fail(t("live.error.key_required", self.lang))
            return None
        self.console = FacilitatorConsole(self.settings, code, self.store, key=self.key.value)
        self.children = [self.console]
        with contextlib.suppress(RuntimeError):
            self.console.start()
        return self.console

    def create_session(self) -> FacilitatorConsole | None:
        if not self.key.value or not _same(self.key.value, ls.facilitator_key(self.settings)):
            self._fail(t("live.error.key_required", self.lang))
            return None
        try:
            made = ls.create_session(self.store, self.settings, title=self.title.value,
                                     group_ids=list(self.groups.value),
                                     language=self.language.value,
                                     exercises=list(self.exercises.value),
                                     instrument=self.instrument.value,
                                     expected=self.expected.value or None)
        except KitError as exc:
            self._fail(str(exc))
            return None
        self.code.value = made.code
        return self.open_session()


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def in_voila() -> bool:
    return os.environ.get("SERVER_SOFTWARE", "").startswith("voila")


def open_console(settings: Settings | None = None, code: str | None = None,
                 key: str | None = None) -> w.Widget:
    """The console for the notebook: under Voilà the session and key come from the URL
    (``?session=CODE&key=KEY``) or are asked for; in JupyterLab (already behind Jupyter's own
    login) a given ``code`` opens directly."""
    from kit.settings import load_settings

    settings = settings or load_settings()
    query = parse_qs(os.environ.get("QUERY_STRING", ""))
    code = code or (query.get("session") or [""])[0]
    key = key or (query.get("key") or [""])[0]
    gate = ConsoleGate(settings, code, key)
    if code and (key or not in_voila()):
        if not in_voila() and not key:
            gate.key.value = ls.facilitator_key(settings)
        gate.open_session()
    return gate
