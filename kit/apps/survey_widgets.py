"""The survey as a Voilà app (one ipywidgets kernel per respondent): the old way, kept only as
the baseline that ``benchmarks/bench_survey.py`` measures the kernel-free survey against.

``kit serve`` does not serve it: invitees get the plain pages of ``kit.apps.survey_server``.
``SurveyForm`` holds the state (pages, answers, comments) and is tested without a browser;
``SurveyView`` shows it with ipywidgets; ``open_survey`` is what ``notebooks/survey.ipynb`` calls.
It submits through the same engine (``kit.apps.invitations.submit_answers``) with the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from kit.apps.invitations import (
    NOT_APPLICABLE,
    Invitation,
    InvitationRefused,
    SubmissionRefused,
    check_invitation,
    submit_answers,
)
from kit.apps.view import (
    app_layout,
    esc,
    header_box,
    header_html,
    notice_html,
    notice_widget,
    other_language,
    page_notice_html,
    pick_language,
)
from kit.errors import KitError
from kit.i18n import t
from kit.instrument import Instrument, load_instrument
from kit.settings import Settings, load_settings
from kit.store import Store, open_store


@dataclass
class SurveyForm:
    """One invitee's answers in progress: a page per dimension, then open questions, then review."""

    instrument: Instrument
    answers: dict[str, int | str | None] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    page: int = 0

    @property
    def dimension_pages(self) -> int:
        return len(self.instrument.dimensions)

    @property
    def pages(self) -> int:
        """Dimensions, one page of open questions (if any), the review."""
        return self.dimension_pages + (1 if self.instrument.open_questions else 0) + 1

    def kind(self, page: int | None = None) -> str:
        page = self.page if page is None else page
        if page < self.dimension_pages:
            return "dimension"
        if page == self.pages - 1:
            return "review"
        return "open"

    def go(self, page: int) -> None:
        self.page = min(max(page, 0), self.pages - 1)

    def answer(self, item_id: str, value: int | str | None) -> None:
        if item_id not in self.instrument.item_ids:
            raise KitError.text(
                "app.problem.not_an_item", item=item_id, instrument=self.instrument.id
            )
        allowed = set(self.instrument.scale.values)
        if self.instrument.scale.not_applicable is not None:
            allowed.add(NOT_APPLICABLE)  # type: ignore[arg-type]
        if value is not None and value not in allowed:
            raise KitError.text(
                "app.problem.not_an_answer",
                value=value,
                item=item_id,
                min=self.instrument.scale.min,
                max=self.instrument.scale.max,
            )
        self.answers[item_id] = value

    def answered(self, item_ids: tuple[str, ...] | None = None) -> int:
        ids = self.instrument.item_ids if item_ids is None else item_ids
        return sum(1 for i in ids if self.answers.get(i) is not None)

    def unanswered(self) -> int:
        return len(self.instrument.item_ids) - self.answered()

    def store_answers(self) -> dict[str, float | None]:
        """As the store wants them: "not applicable" and unanswered are both no value."""
        return {
            i: (None if v in (None, NOT_APPLICABLE) else float(v))  # type: ignore[arg-type]
            for i, v in ((i, self.answers.get(i)) for i in self.instrument.item_ids)
        }


class SurveyView:
    """The widgets of the survey form for one invitation."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        instrument: Instrument,
        invitation: Invitation,
        lang: str,
    ) -> None:
        self.store, self.settings, self.instrument = store, settings, instrument
        self.invitation = invitation
        self.lang = lang
        self.form = SurveyForm(instrument)
        self.group_name = store.get_group(invitation.group_id)["name"]
        self.submitted = False
        self.header = w.HTML()
        self.language_button = w.Button(layout=w.Layout(width="auto"))
        self.language_button.on_click(lambda _b: self.set_language(other_language(self.lang)))
        self.progress = w.HTML()
        self.body = w.VBox()
        self.previous = w.Button(icon="")
        self.next = w.Button(button_style="primary")
        self.submit = w.Button(button_style="primary")
        self.message = w.HTML()
        self.previous.on_click(lambda _b: self.show(self.form.page - 1))
        self.next.on_click(lambda _b: self.show(self.form.page + 1))
        self.submit.on_click(lambda _b: self.send())
        nav = w.HBox([self.previous, self.next, self.submit])
        nav.add_class("kit-nav")
        card = w.VBox([self.progress, self.body, nav, self.message])
        card.add_class("kit-card")
        top = header_box(self.header, self.language_button)
        self.widget = w.VBox([top, card], layout=app_layout())
        self.widget.add_class("kit-app")
        self._toggles: dict[str, w.ToggleButtons] = {}
        self._texts: dict[str, w.Textarea] = {}
        self.show(0)

    # -- navigation ----------------------------------------------------------------------
    def set_language(self, lang: str) -> None:
        self.lang = lang
        self._toggles.clear()
        self._texts.clear()
        self.show(self.form.page)

    def show(self, page: int) -> None:
        if self.submitted:
            return
        self.form.go(page)
        lang, form = self.lang, self.form
        self.header.value = header_html(
            lang,
            t("app.survey.title", lang, group=self.group_name),
            self.instrument.name.get(lang, ""),
        )
        self.language_button.description = t("app.language.toggle", lang)
        self._render_progress()
        kind = form.kind()
        if kind == "dimension":
            self.body.children = self._dimension_page(self.instrument.dimensions[form.page])
        elif kind == "open":
            self.body.children = self._open_page()
        else:
            self.body.children = self._review_page()
        self.previous.description = t("app.survey.previous", lang)
        self.previous.disabled = form.page == 0
        self.next.description = (
            t("app.survey.review", lang)
            if form.page == form.pages - 2
            else t("app.survey.next", lang)
        )
        self.next.layout.display = "none" if kind == "review" else None
        self.submit.description = t("app.survey.submit", lang)
        self.submit.layout.display = None if kind == "review" else "none"
        self.message.value = ""

    def _dimension_page(self, dimension: Any) -> list[w.Widget]:
        lang = self.lang
        intro = w.HTML(
            f"<h2>{esc(dimension.name[lang])}</h2>"
            f'<p class="kit-lead">{esc(dimension.description[lang])}</p>'
        )
        rows: list[w.Widget] = [intro]
        if self.form.page == 0:
            intro = t("app.survey.intro", lang, min_n=self.settings.min_respondents)
            rows.insert(
                0,
                w.HTML(f'<p class="kit-lead">{esc(intro)}</p>'),
            )
        rows.append(w.HTML(scale_legend_html(self.instrument, lang)))
        for item_id in dimension.item_ids:
            rows.append(self._item_row(item_id))
        return rows

    def _item_row(self, item_id: str) -> w.Widget:
        lang, scale = self.lang, self.instrument.scale
        toggle = self._toggles.get(item_id)
        if toggle is None:
            options: list[tuple[str, Any]] = [(str(v), v) for v in scale.values]
            tooltips = list(scale.labels[lang])
            if scale.not_applicable is not None:
                options.append((scale.not_applicable[lang], NOT_APPLICABLE))
                tooltips.append(scale.not_applicable[lang])
            toggle = w.ToggleButtons(
                options=options,
                value=self.form.answers.get(item_id),
                tooltips=tooltips,
                style={"button_width": "auto"},
            )
            toggle.add_class("kit-scale")
            toggle.observe(lambda ch, i=item_id: self._on_answer(i, ch["new"]), names="value")
            self._toggles[item_id] = toggle
        text = w.HTML(
            f'<div class="kit-item-text">{esc(self.instrument.item(item_id).text[lang])}</div>'
        )
        row = w.VBox([text, toggle])
        row.add_class("kit-item")
        return row

    def _on_answer(self, item_id: str, value: Any) -> None:
        self.form.answer(item_id, value)
        self._render_progress()

    def _render_progress(self) -> None:
        form, lang = self.form, self.lang
        text = t(
            "app.survey.progress",
            lang,
            page=form.page + 1,
            pages=form.pages,
            answered=form.answered(),
            items=len(self.instrument.item_ids),
        )
        share = round(100 * form.page / max(form.pages - 1, 1))
        self.progress.value = (
            f'<div class="kit-muted" data-kit-progress="{form.page + 1}/{form.pages}">{esc(text)}'
            f'</div><div class="kit-progress"><div style="width:{share}%"></div></div>'
        )

    def _open_page(self) -> list[w.Widget]:
        lang = self.lang
        rows: list[w.Widget] = [
            w.HTML(
                f"<h2>{esc(t('app.survey.open.title', lang))}</h2>"
                f'<p class="kit-lead">{esc(t("app.survey.open.help", lang))}</p>'
            )
        ]
        for q in self.instrument.open_questions:
            area = self._texts.get(q.id)
            if area is None:
                area = w.Textarea(
                    value=self.form.comments.get(q.id, ""),
                    layout=w.Layout(width="100%", height="90px"),
                )
                area.observe(
                    lambda ch, qid=q.id: self.form.comments.__setitem__(qid, ch["new"]),
                    names="value",
                )
                self._texts[q.id] = area
            rows.append(
                w.VBox([w.HTML(f'<div class="kit-item-text">{esc(q.text[lang])}</div>'), area])
            )
        return rows

    def _review_page(self) -> list[w.Widget]:
        lang, form = self.lang, self.form
        missing = form.unanswered()
        summary = (
            t("app.survey.review.unanswered", lang, n=missing)
            if missing
            else t("app.survey.review.complete", lang)
        )
        lines = "".join(
            f"<tr><td>{esc(d.name[lang])}</td><td class='num'>{form.answered(d.item_ids)} / "
            f"{len(d.item_ids)}</td></tr>"
            for d in self.instrument.dimensions
        )
        return [
            w.HTML(
                f"<h2>{esc(t('app.survey.review.title', lang))}</h2>"
                f'<p class="kit-lead">{esc(summary)}</p>'
                f'<table class="kit-table">{lines}</table>'
            )
        ]

    # -- submit -----------------------------------------------------------------------------------
    def send(self) -> None:
        """Store the answers once; then only a thank-you is shown."""
        if self.submitted:
            return
        self.submit.disabled = True
        self.submit.description = t("app.survey.submitting", self.lang)
        try:
            submit_answers(
                self.store,
                self.instrument,
                self.invitation.code,
                self.form.store_answers(),
                self.form.comments,
                min_answered_share=self.settings.min_answered_share,
            )
        except InvitationRefused as exc:
            self.submitted = exc.reason == "used"
            self.widget.children = [notice_widget(refusal_html(exc.reason, self.lang))]
            return
        except KitError as exc:
            self.submit.disabled = False
            self.submit.description = t("app.survey.submit", self.lang)
            reason = (
                exc.message(self.lang) if isinstance(exc, SubmissionRefused) else exc.user_message
            )
            self.message.value = notice_html(t("app.survey.failed", self.lang, reason=reason), "")
            return
        self.submitted = True
        self.widget.children = [
            notice_widget(
                page_notice_html(
                    self.lang,
                    t("app.survey.done.title", self.lang),
                    t("app.survey.done.body", self.lang),
                    "done",
                )
            )
        ]


def scale_legend_html(instrument: Instrument, lang: str) -> str:
    """The answer scale once per page: value and label for each option."""
    scale = instrument.scale
    cells = "".join(
        f"<span><b>{v}</b> {esc(label)}</span>"
        for v, label in zip(scale.values, scale.labels[lang], strict=True)
    )
    return f'<div class="kit-legend">{cells}</div>'


def refusal_html(reason: str, lang: str) -> str:
    """A polite refusal (or, for a used code, a thank-you): no form, no data."""
    kind = "done" if reason == "used" else "refused"
    title = (
        t("app.survey.done.title", lang) if reason == "used" else t("app.invitation.title", lang)
    )
    return page_notice_html(lang, title, t(f"app.invitation.{reason}", lang), kind)


@dataclass
class SurveyApp:
    """What the survey notebook prepares before a viewer arrives (a preheated kernel)."""

    settings: Settings
    store: Store
    instrument: Instrument


def prepare_survey(settings: Settings | None = None) -> SurveyApp:
    settings = settings or load_settings()
    return SurveyApp(settings, open_store(settings), load_instrument(settings.instrument))


def build_survey(app: SurveyApp, params: dict[str, str]) -> SurveyView | w.Widget:
    """The survey view for the invitation in ``params['code']``, or a polite refusal."""
    requested = params.get("lang")
    try:
        invitation = check_invitation(app.store, params.get("code"))
    except InvitationRefused as exc:
        return notice_widget(
            refusal_html(exc.reason, pick_language(requested, app.settings.language))
        )
    group_lang = app.store.get_group(invitation.group_id).get("language") or app.settings.language
    lang = pick_language(requested, group_lang)
    return SurveyView(app.store, app.settings, app.instrument, invitation, lang)


def open_survey(app: SurveyApp, params: dict[str, str]) -> w.Widget:
    """What ``notebooks/survey.ipynb`` shows for the viewer's request."""
    built = build_survey(app, params)
    return built.widget if isinstance(built, SurveyView) else built
