"""Report parameters: typed, validated objects, checked before any kernel starts.

Each report notebook's ``parameters`` cell lists the same fields as the dataclass here, as
``name: type = default  # help`` lines (so ``papermill --help-notebook`` documents them). Papermill
only warns about an unknown name; :func:`validate_params` refuses unknown names and bad values,
listing every problem at once (:class:`kit.errors.ParameterError`).

Run files (``parameters/*.yaml``) describe a whole round: which groups, waves, cohorts and whether
to make a programme report. :func:`load_run_file` reads and validates one into :class:`RunSpec`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, StrictBool, StrictInt, StringConstraints, Tag

from kit import config
from kit.errors import KitError, ParameterError, Problem, ProblemsError
from kit.i18n import t
from kit.settings import LANGUAGES, Settings

NORM_BASES = ("norm", "all", "programme")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass(frozen=True)
class ReportParams:
    """Fields every report shares; subclasses add what their notebook needs."""

    kind: ClassVar[str] = ""
    notebook: ClassVar[str] = ""

    waves: str = field(
        default="",
        metadata=_help(
            "comma-separated wave ids, earliest first; the report is for the last one and shows "
            "the "
            "change from the first; empty means every wave with data"
        ),
    )
    instrument: str = field(
        default="lagprofil",
        metadata=_help("instrument id shipped with the kit, or a path to an instrument YAML file"),
    )
    language: str = field(
        default="",
        metadata=_help("report language, nb or en; empty means the language of the group"),
    )
    database_url: str = field(
        default="",
        metadata=_help(
            "SQLAlchemy URL of the data; empty means KIT_DATABASE_URL or the default SQLite file"
        ),
    )
    norm_base: str = field(
        default="norm",
        metadata=_help(
            "groups to compare with: norm (groups marked in_norm_base), all (every other group) or "
            "programme (the programme's groups)"
        ),
    )
    norm_wave: str = field(
        default="",
        metadata=_help(
            "wave whose norm groups every wave is compared with (a fixed norm, e.g. before); "
            "empty means each wave is compared with the norm groups of the same wave"
        ),
    )
    min_respondents: int = field(
        default=0,
        metadata=_help(
            "respondents needed before any score is shown; 0 means the settings value (at least 3)"
        ),
    )
    min_comment_respondents: int = field(
        default=0,
        metadata=_help(
            "respondents needed before open comments are shown; 0 means the settings value"
        ),
    )
    seed: int = field(default=0, metadata=_help("seed for shuffling comments"))

    @property
    def wave_list(self) -> list[str]:
        return [w.strip() for w in self.waves.split(",") if w.strip()]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def settings_for(self, settings: Settings) -> Settings:
        """``settings`` with this report's data source and thresholds applied."""
        changes: dict[str, Any] = {}
        if self.database_url:
            changes["database_url"] = self.database_url
        if self.min_respondents:
            changes["min_respondents"] = self.min_respondents
            changes["min_subgroup_respondents"] = max(
                settings.min_subgroup_respondents, self.min_respondents
            )
            if not self.min_comment_respondents:
                changes["min_comment_respondents"] = max(
                    settings.min_comment_respondents, self.min_respondents
                )
        if self.min_comment_respondents:
            changes["min_comment_respondents"] = self.min_comment_respondents
        return settings.replace(**changes) if changes else settings

    def _check(self, problems: list[Problem], source: str, lang: str = "en") -> None:
        """Value checks shared by every report; subclasses extend."""
        for w in self.wave_list:
            if not _ID.match(w):
                problems.append(
                    Problem(source, t("config.params.wave_id", lang), column="waves", value=w)
                )
        if self.norm_wave and not _ID.match(self.norm_wave):
            problems.append(
                Problem(
                    source, t("config.params.wave_id", lang), column="norm_wave",
                    value=self.norm_wave,
                )
            )  # fmt: skip
        if len(set(self.wave_list)) != len(self.wave_list):
            problems.append(
                Problem(
                    source, t("config.params.wave_twice", lang), column="waves", value=self.waves
                )
            )
        if self.language and self.language not in LANGUAGES:
            problems.append(
                Problem(
                    source,
                    t("config.params.language", lang, languages=", ".join(LANGUAGES)),
                    column="language",
                    value=self.language,
                )
            )
        if self.norm_base not in NORM_BASES:
            problems.append(
                Problem(
                    source,
                    t("config.params.norm_base", lang, choices=", ".join(NORM_BASES)),
                    column="norm_base",
                    value=self.norm_base,
                )
            )
        if self.min_respondents and self.min_respondents < 3:
            problems.append(
                Problem(
                    source,
                    t("config.params.min_respondents", lang),
                    column="min_respondents",
                    value=str(self.min_respondents),
                )
            )
        if self.min_comment_respondents and self.min_comment_respondents < max(
            3, self.min_respondents
        ):
            problems.append(
                Problem(
                    source,
                    t("config.params.min_comment_respondents", lang),
                    column="min_comment_respondents",
                    value=str(self.min_comment_respondents),
                )
            )
        if self.database_url and _has_password(self.database_url):
            problems.append(
                Problem(
                    source,
                    t("report.run.password", lang),
                    column="database_url",
                    value=_redact_url(self.database_url),
                )
            )
        if self.database_url and "://" not in self.database_url:
            problems.append(
                Problem(
                    source,
                    t("config.params.database_url", lang),
                    column="database_url",
                    value=self.database_url,
                )
            )


@dataclass(frozen=True)
class GroupReportParams(ReportParams):
    """Parameters of ``notebooks/group_report.ipynb``: one group's report for one wave."""

    kind: ClassVar[str] = "group"
    notebook: ClassVar[str] = "group_report.ipynb"

    group_id: str = field(default="", metadata=_help("id of the group (leadership team)"))
    cohort_id: str = field(
        default="", metadata=_help("cohort to compare with; empty means the cohort of the group")
    )

    def _check(self, problems: list[Problem], source: str, lang: str = "en") -> None:
        if not self.group_id:
            problems.append(
                Problem(
                    source,
                    t("config.params.group_required", lang),
                    column="group_id",
                    value="",
                )
            )
        elif not _ID.match(self.group_id):
            problems.append(
                Problem(
                    source,
                    t("config.params.group_id", lang),
                    column="group_id",
                    value=self.group_id,
                )
            )
        super()._check(problems, source, lang)


@dataclass(frozen=True)
class CohortReportParams(ReportParams):
    """Parameters of ``notebooks/cohort_report.ipynb``: a cohort's groups side by side."""

    kind: ClassVar[str] = "cohort"
    notebook: ClassVar[str] = "cohort_report.ipynb"

    cohort_id: str = field(default="", metadata=_help("id of the cohort"))

    def _check(self, problems: list[Problem], source: str, lang: str = "en") -> None:
        if not self.cohort_id:
            problems.append(
                Problem(
                    source, t("config.params.cohort_required", lang), column="cohort_id", value=""
                )
            )
        super()._check(problems, source, lang)


@dataclass(frozen=True)
class ProgrammeReportParams(ReportParams):
    """Parameters of ``notebooks/programme_report.ipynb``: every group's change in a programme."""

    kind: ClassVar[str] = "programme"
    notebook: ClassVar[str] = "programme_report.ipynb"

    cohorts: str = field(
        default="", metadata=_help("comma-separated cohort ids; empty means every cohort")
    )

    @property
    def cohort_list(self) -> list[str]:
        return [c.strip() for c in self.cohorts.split(",") if c.strip()]


PARAMS_BY_KIND: dict[str, type[ReportParams]] = {
    p.kind: p for p in (GroupReportParams, CohortReportParams, ProgrammeReportParams)
}


def validate_params(
    cls: type[ReportParams],
    values: dict[str, Any],
    source: str = "parameters",
    lang: str | None = None,
) -> ReportParams:
    """A validated ``cls`` from ``values``; every unknown name and bad value in one error."""
    lang = config.language(lang)
    problems: list[Problem] = []
    known = {f.name: f for f in fields(cls)}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        f = known.get(name)
        if f is None:
            close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
            close = close or ([k for k in known if k.startswith(name[:3])][:1] if name else [])
            suggestion = t("config.did_you_mean", lang, name=close[0]) if close else ""
            problems.append(
                Problem(
                    source,
                    t(
                        "config.params.unknown",
                        lang,
                        kind=cls.kind,
                        known=", ".join(known),
                        suggestion=suggestion,
                    ),
                    column=name,
                    value=_show(value),
                )
            )
            continue
        kind = f.type if isinstance(f.type, type) else {"str": str, "int": int}.get(str(f.type))
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                try:
                    value = int(str(value).strip())
                except ValueError:
                    problems.append(
                        Problem(
                            source, t("config.type.whole", lang), column=name, value=_show(value)
                        )
                    )
                    continue
        elif kind is str:
            if isinstance(value, list | tuple) and name in ("waves", "cohorts"):
                value = ",".join(str(v) for v in value)
            elif value is None:
                value = ""
            elif not isinstance(value, str | int | float) or isinstance(value, bool):
                problems.append(
                    Problem(source, t("config.type.text", lang), column=name, value=_show(value))
                )
                continue
            value = str(value).strip()
        clean[name] = value
    params = cls(**{k: v for k, v in clean.items()})
    params._check(problems, source, lang)
    if problems:
        raise ParameterError(
            source,
            problems,
            hint=t("config.params.hint", lang, kind=cls.kind, notebook=cls.notebook),
        )
    return params


def _has_password(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return "@" in url


def _redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _show(value: Any) -> str:
    return str(value) if not isinstance(value, str) else value


def parameters_cell_source(cls: type[ReportParams]) -> str:
    """The ``parameters`` cell a notebook for ``cls`` should have (kept in sync by a test)."""
    lines = []
    own = [f for f in fields(cls) if f.name not in {b.name for b in fields(ReportParams)}]
    for f in own + [f for f in fields(cls) if f not in own]:
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        lines.append(f"{f.name}: {kind} = {f.default!r}  # {f.metadata.get('help', '')}")
    return "\n".join(lines) + "\n"


# -- run files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportJob:
    """One report of a run: its parameters and where its outputs go (relative to the run dir)."""

    params: ReportParams
    stem: str  # e.g. "groups/g01_after"
    label: str  # shown in the progress bar, summary and index

    @property
    def kind(self) -> str:
        return self.params.kind


@dataclass(frozen=True)
class RunSpec:
    """A validated run file: a name, settings overrides and the reports it makes."""

    name: str
    title: str
    source_path: Path
    jobs: tuple[ReportJob, ...]
    settings: dict[str, Any]
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (key, id) -> line in file

    def output_dir(self, settings: Settings) -> Path:
        return settings.outputs_dir / self.name


RUN_KEYS = {
    "name": "folder under outputs/ for this run (default: the file's name)",
    "title": "heading of the index page",
    "instrument": "instrument id or path",
    "waves": "waves of the round, earliest first",
    "report_waves": "waves to make group reports for (default: the last of waves)",
    "language": "report language for every group; empty = each group's own",
    "norm_base": "norm (default), all or programme",
    "norm_wave": "wave whose norm groups are the norm of every wave (default: each wave's own)",
    "database_url": "data source; empty = settings",
    "min_respondents": "anonymity threshold (0 = settings)",
    "min_comment_respondents": "comment threshold (0 = settings)",
    "groups": "group ids to report on",
    "cohorts": "cohort ids for cohort reports (and the programme report)",
    "programme": "true to make a programme report (change before -> after)",
    "seed": "seed for shuffling comments",
}


Ids = Annotated[
    Annotated[list[Annotated[str, StringConstraints(pattern=_ID.pattern)]], Tag("<list>")]
    | Annotated[str, Tag("<text>")],
    Discriminator(config.list_or_text),
]


class RunFileModel(config.StrictModel):
    """The keys of a run file (``RUN_KEYS`` says what each is for)."""

    name: Annotated[str, StringConstraints(pattern=_ID.pattern)] | None = None
    title: str | None = None
    instrument: str | None = None
    waves: Ids | None = None
    report_waves: Ids | None = None
    language: Literal["", "nb", "en"] | None = None
    norm_base: Literal["norm", "all", "programme"] | None = None
    norm_wave: Annotated[str, StringConstraints(pattern=_ID.pattern)] | None = None
    database_url: str | None = None
    min_respondents: Annotated[StrictInt, Field(ge=0)] | None = None
    min_comment_respondents: Annotated[StrictInt, Field(ge=0)] | None = None
    groups: Ids | None = None
    cohorts: Ids | None = None
    programme: StrictBool | None = None
    seed: StrictInt | None = None


def load_run_file(path: str | Path, lang: str | None = None) -> RunSpec:
    """Read ``parameters/<round>.yaml`` and validate every report it describes."""
    lang = config.language(lang)
    path = Path(path)
    source = path.name
    if not path.is_file():
        raise ParameterError(
            source,
            [Problem(source, t("config.run.not_found", lang), value=str(path))],
            hint=t("config.run.hint", lang),
        )
    doc = config.read_config(path, error=ParameterError, lang=lang, hint_key="config.run.hint")
    check = config.Checker(doc, lang)
    if not isinstance(doc.data, dict):
        check.add((), "config.run.not_mapping")
        check.refuse_if_any(ParameterError, "config.run.hint")
    _, schema_problems = config.check_model(RunFileModel, doc, lang)
    check.extend(schema_problems)
    problems: list[Problem] = check.problems
    data = dict(doc.data)
    for key in list(data):  # what the schema refused is reported once, not again below
        if check.flagged((key,)):
            data.pop(key)
    instrument = data.get("instrument")
    if isinstance(instrument, str) and Path(instrument).suffix:
        beside = path.parent / instrument  # a relative instrument path is relative to the run file
        if not Path(instrument).is_absolute() and beside.is_file():
            data["instrument"] = str(beside.resolve())
    name = str(data.get("name") or path.stem)
    if not _ID.match(name):
        problems.append(
            Problem(source, t("report.run.folder_name", lang), column="name", value=name)
        )
    waves = _id_list(data.get("waves"), "waves", source, problems, lang)
    report_waves = _id_list(data.get("report_waves"), "report_waves", source, problems, lang) or (
        waves[-1:] if waves else []
    )
    for i, w in enumerate(report_waves):
        if waves and w not in waves:
            check.add(("report_waves", i), "config.run.report_wave", w, waves=", ".join(waves))
    groups = _id_list(data.get("groups"), "groups", source, problems, lang)
    cohorts = _id_list(data.get("cohorts"), "cohorts", source, problems, lang)
    programme = data.get("programme", False)
    if not isinstance(programme, bool):
        problems.append(
            Problem(
                source, t("report.run.true_false", lang), column="programme", value=str(programme)
            )
        )
    given = any(check.flagged((k,)) for k in ("groups", "cohorts", "programme"))
    if not groups and not cohorts and not programme and not given:
        check.add(("groups",), "config.run.nothing")
    shared = {
        k: data[k]
        for k in (
            "instrument",
            "language",
            "norm_base",
            "norm_wave",
            "database_url",
            "min_respondents",
            "min_comment_respondents",
            "seed",
        )
        if k in data and data[k] is not None
    }
    # The run file's database URL reaches the kernels through the environment, never as a
    # parameter (papermill writes parameters into every executed notebook).
    url = shared.pop("database_url", None)
    if url is not None and (not isinstance(url, str) or "://" not in url):
        problems.append(
            Problem(
                source,
                t("report.run.database_url", lang),
                column="database_url",
                value=_redact_url(str(url)),
            )
        )
    _job(ProgrammeReportParams, dict(shared), "", "", source, problems, lang)  # shared values, once
    jobs: list[ReportJob] = []
    for gid in groups:
        for w in report_waves:
            upto = waves[: waves.index(w) + 1] if w in waves else [w]
            values = {**shared, "group_id": gid, "waves": ",".join(upto)}
            jobs.append(
                _job(
                    GroupReportParams,
                    values,
                    f"groups/{gid}_{w}",
                    f"{gid} ({w})",
                    source,
                    problems,
                    lang,
                )
            )
    for cid in cohorts:
        values = {**shared, "cohort_id": cid, "waves": ",".join(waves)}
        jobs.append(
            _job(
                CohortReportParams,
                values,
                f"cohorts/{cid}",
                f"cohort {cid}",
                source,
                problems,
                lang,
            )
        )
    if programme:
        values = {**shared, "cohorts": ",".join(cohorts), "waves": ",".join(waves)}
        jobs.append(
            _job(ProgrammeReportParams, values, "programme", "programme", source, problems, lang)
        )
    if problems:
        raise ParameterError(
            source,
            problems,
            hint=t("config.run.hint", lang),
        )
    settings = {"database_url": url} if url else {}
    return RunSpec(
        name=name,
        title=str(data.get("title") or name),
        source_path=path.resolve(),
        jobs=tuple(j for j in jobs if j is not None),
        settings=settings,
        lines=_id_lines(doc),
    )


def _id_lines(doc: config.ConfigDoc) -> dict[tuple[str, str], int]:
    """(key, id) -> its line, for the ids a run file lists (so later checks can name the line)."""
    out: dict[tuple[str, str], int] = {}
    for key in ("groups", "cohorts", "waves", "report_waves", "instrument", "norm_wave"):
        value = doc.data.get(key)
        values = value if isinstance(value, list) else [value] if value is not None else []
        for i, v in enumerate(values):
            line = doc.line((key, i) if isinstance(value, list) else (key,))
            if line is not None:
                out.setdefault((key, str(v)), line)
    return out


def check_run(spec: RunSpec, settings: Settings, lang: str | None = None) -> None:
    """Refuse a run whose groups, waves, cohorts or instrument do not exist, before any kernel.

    Every report of ``spec`` is checked against the database the run reads (its
    ``database_url`` or the settings'); all problems are listed in one ``ParameterError``.
    """
    from kit.instrument import load_instrument
    from kit.store import open_store

    lang = config.language(lang or settings.language)
    source = spec.source_path.name
    settings = settings.replace(**spec.settings) if spec.settings else settings
    store = open_store(settings)
    groups = store.list_groups()
    known_groups = set(groups["id"]) if len(groups) else set()
    known_cohorts = set(groups["cohort_id"].dropna()) if len(groups) else set()
    waves = store.list_waves()
    known_waves = set(waves["id"]) if len(waves) else set()
    problems: list[Problem] = []

    def refuse(key: str, column: str, value: str, known: set[str]) -> None:
        close = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
        suggestion = t("config.did_you_mean", lang, name=close[0]) if close else ""
        shown = ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
        problem = Problem(
            source,
            t(key, lang, suggestion=suggestion, known=shown or "-"),
            row=spec.lines.get((column, value)),
            column=column,
            value=value,
        )
        if problem not in problems:
            problems.append(problem)

    instruments: set[str] = set()
    for job in spec.jobs:
        p = job.params
        instruments.add(p.instrument)
        for gid in [getattr(p, "group_id", "")]:
            if gid and gid not in known_groups:
                refuse("config.run.unknown_group", "groups", gid, known_groups)
        for cid in [getattr(p, "cohort_id", "")] if p.kind == "cohort" else []:
            if cid and cid not in known_cohorts:
                refuse("config.run.unknown_cohort", "cohorts", cid, known_cohorts)
        for cid in getattr(p, "cohort_list", []):
            if cid not in known_cohorts:
                refuse("config.run.unknown_cohort", "cohorts", cid, known_cohorts)
        for w in p.wave_list:
            if w not in known_waves:
                refuse("config.run.unknown_wave", "waves", w, known_waves)
        if p.norm_wave and p.norm_wave not in known_waves:
            refuse("config.run.unknown_wave", "norm_wave", p.norm_wave, known_waves)
    for name in sorted(instruments):
        try:
            inst = load_instrument(name, lang=lang)
        except ProblemsError as exc:  # the instrument file's own problems, named by its file
            problems.extend(
                Problem(
                    source,
                    p.reason,
                    row=p.row,
                    column=f"{exc.source}: {p.column}" if p.column else exc.source,
                    value=p.value,
                )
                for p in exc.problems
            )
            continue
        except KitError as exc:
            problems.append(Problem(source, exc.user_message, column="instrument", value=name))
            continue
        if not inst.has_one_scale:
            problems.append(
                Problem(
                    source, t("config.run.several_scales", lang), column="instrument", value=name
                )
            )
    if problems:
        raise ParameterError(source, problems, hint=t("config.run.hint_store", lang))


def _job(
    cls: type[ReportParams],
    values: dict[str, Any],
    stem: str,
    label: str,
    source: str,
    problems: list[Problem],
    lang: str | None = None,
) -> ReportJob | None:
    try:
        return ReportJob(validate_params(cls, values, source, lang), stem, label)
    except ParameterError as exc:
        problems.extend(p for p in exc.problems if p not in problems)
        return None


def _id_list(
    value: Any, key: str, source: str, problems: list[Problem], lang: str = "en"
) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        problems.append(
            Problem(source, t("report.run.id_list", lang), column=key, value=str(value))
        )
        return []
    out = []
    for v in value:
        if not _ID.match(str(v)):
            problems.append(Problem(source, t("report.run.id", lang), column=key, value=str(v)))
        else:
            out.append(str(v))
    return out
