"""Live workshop exercises: sessions, participant pages served without a kernel, console widgets.

- ``kit.live.session``: create sessions, join codes, facilitator keys.
- ``kit.live.rounds``: what each exercise asks participants and how a submission is validated.
- ``kit.live.measures``: pure aggregation (pulse distribution and disagreement, airtime equality,
  agenda split, stakeholder positions, dot-votes).
- ``kit.live.visibility``: published versions of results that change only in steps of
  ``min_respondents`` (the only way participants' answers are shown).
- ``kit.live.server``: tornado handlers under ``/kit/live/`` (``live_handlers(settings)``).
- ``kit.live.widgets``: the facilitator's console and one widget per exercise (ipywidgets).
"""
