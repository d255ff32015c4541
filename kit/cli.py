"""The ``kit`` command: demo, validate, import, score, groups, programme, instruments.

The library raises, the CLI reports: a ``KitError`` prints its message (no traceback) and exits
with code 2; anything unexpected prints one short paragraph and the path of a log file holding
the traceback, and exits with code 1.

Other parts add subcommands: after the core commands, each of ``kit.reports.commands``,
``kit.live.commands`` and ``kit.apps.commands`` that exists is imported and its
``register(subparsers)`` called; every subparser sets ``func(args, settings) -> int``. A part can
also add a step to ``kit demo`` with :func:`add_demo_step` (kind ``"reports"`` steps are skipped by
``--no-reports``, kind ``"serve"`` steps by ``--no-serve``; serve steps run last).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from kit import __version__
from kit.errors import OS_REASONS, KitError, NotFoundError, format_problems, os_reason
from kit.i18n import Text, load_texts, t
from kit.settings import LANGUAGES, Settings, load_settings

PLUGINS = ("kit.reports.commands", "kit.live.commands", "kit.apps.commands")
log = logging.getLogger("kit.cli")


# -- demo steps other parts add -----------------------------------------------------------------
@dataclass(frozen=True)
class DemoStep:
    kind: str  # "reports", "serve" or anything else (always run)
    name: str
    func: Callable[[argparse.Namespace, Settings, Any], int | None]


DEMO_STEPS: dict[str, DemoStep] = {}
STEP_FLAGS = {"reports": "--no-reports", "serve": "--no-serve"}


def add_demo_step(
    kind: str, name: str, func: Callable[[argparse.Namespace, Settings, Any], int | None]
) -> None:
    """Run ``func(args, settings, summary)`` at the end of ``kit demo`` (idempotent by name)."""
    DEMO_STEPS[name] = DemoStep(kind, name, func)


# -- parser ---------------------------------------------------------------------------------------
# argparse's own messages (its gettext msgids) -> our text keys, so that usage lines and errors
# speak the user's language too.
ARGPARSE_TEXTS = {
    "usage: ": "argparse.usage",
    "positional arguments": "argparse.positionals",
    "options": "argparse.options",
    "show this help message and exit": "argparse.help",
    "show program's version number and exit": "argparse.version",
    "%(prog)s: error: %(message)s\n": "argparse.error",
    "the following arguments are required: %s": "argparse.required",
    "invalid choice: %(value)r (choose from %(choices)s)": "argparse.invalid_choice",
    "invalid %(type)s value: %(value)r": "argparse.invalid_type",
    "unrecognized arguments: %s": "argparse.unrecognized",
    "expected one argument": "argparse.expected_one",
    "expected at most one argument": "argparse.expected_at_most_one",
    "expected at least one argument": "argparse.expected_at_least_one",
    "expected %s argument": "argparse.expected_n",
    "expected %s arguments": "argparse.expected_n",
    "argument %(argument_name)s: %(message)s": "argparse.argument",
    "ambiguous option: %(option)s could match %(matches)s": "argparse.ambiguous",
    "not allowed with argument %s": "argparse.not_allowed_with",
    "one of the arguments %s is required": "argparse.one_of_required",
    "ignored explicit argument %r": "argparse.ignored_explicit",
    "can't open '%(filename)s': %(error)s": "argparse.cannot_open",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "argparse.unknown_parser",
}
CREATES_HOME = ("demo", "programme")  # commands that may make a new home directory
PROGRESS_FROM = 2000  # respondents: a smaller import is over before a bar would help
READING_FROM = 2_000_000  # bytes: a file this big takes a second or more to read and check


@contextmanager
def argparse_language(lang: str) -> Iterator[None]:
    """argparse's own texts (usage, errors, -h) in ``lang`` while the block runs."""

    def gettext(message: str) -> str:
        key = ARGPARSE_TEXTS.get(message)
        return t(f"cli.{key}", lang) if key else message

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = gettext, ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def build_parser(lang: str = "nb") -> argparse.ArgumentParser:
    """The ``kit`` parser with its help texts in ``lang`` (parts add their own subcommands).

    A part's ``register`` may write its help in English (as gettext's msgids): each text is
    then shown in ``lang`` from the translation files (any namespace; ``help.yaml`` holds the
    parts' help texts). :func:`untranslated_help` lists those without a translation.
    """
    with argparse_language(lang):
        parser = _build_parser(lang)
    for holder, attr, text in _help_texts(parser):
        key = _english_texts().get(text)
        if key is not None:
            setattr(holder, attr, t(key, lang))
    return parser


@functools.lru_cache(maxsize=1)
def _english_texts() -> dict[str, str]:
    """English text -> its key, over every translation file (the first key wins)."""
    found: dict[str, str] = {}
    for key, per_lang in load_texts().items():
        found.setdefault(per_lang.get("en", ""), key)
    return found


def _help_texts(parser: argparse.ArgumentParser) -> Iterator[tuple[Any, str, str]]:
    """(object, attribute, text) of every help and description of ``parser`` and below."""
    seen: set[int] = set()
    todo = [parser]
    while todo:
        p = todo.pop()
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p.description:
            yield p, "description", p.description
        for action in p._actions:
            if action.help and action.help is not argparse.SUPPRESS:
                yield action, "help", action.help
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.help:
                        yield choice, "help", choice.help
                todo.extend(action.choices.values())


def untranslated_help(parser: argparse.ArgumentParser, lang: str) -> list[str]:
    """Help texts of ``parser`` (built for ``lang``) that are not from the translation files."""
    shown = {per_lang.get(lang) for per_lang in load_texts().values()}
    return sorted({text for _, _, text in _help_texts(parser) if text not in shown})


def _build_parser(lang: str) -> argparse.ArgumentParser:
    def h(key: str) -> str:
        return t(f"cli.help.{key}", lang)

    parser = argparse.ArgumentParser(prog="kit", description=h("description"))
    parser.add_argument(
        "--version", action="version", version=f"kit {__version__}", help=h("version")
    )
    parser.add_argument("--database-url", metavar="URL", help=h("database_url"))
    parser.add_argument("--language", choices=LANGUAGES, help=h("language"))
    parser.add_argument("--home", type=Path, metavar="DIR", help=h("home"))
    parser.add_argument("--quiet", action="store_true", help=h("quiet"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("demo", help=h("demo"), description=h("demo_description"))
    p.add_argument("--seed", type=int, default=2024, help=h("seed"))
    p.add_argument("--small", action="store_true", help=h("small"))
    p.add_argument("--reset", action="store_true", help=h("reset"))
    p.add_argument("--no-reports", action="store_true", help=h("no_reports"))
    p.add_argument("--no-serve", action="store_true", help=h("no_serve"))
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("validate", help=h("validate"), description=h("validate_description"))
    p.add_argument("file", type=Path, help=h("file"))
    _instrument_args(p, h)
    p.add_argument("--no-database", action="store_true", help=h("no_database"))
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("import", help=h("import"), description=h("import_description"))
    p.add_argument("file", type=Path, help=h("file"))
    _instrument_args(p, h)
    p.add_argument("--drop-invalid", action="store_true", help=h("drop_invalid"))
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("score", help=h("score"), description=h("score_description"))
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help=h("out"))
    p.add_argument("--wave", action="append", metavar="WAVE", help=h("wave"))
    p.add_argument("--group", action="append", metavar="GROUP", help=h("group"))
    p.add_argument("--instrument", help=h("instrument"))
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("publish", help=h("publish"), description=h("publish_description"))
    p.add_argument("--group", action="append", metavar="GROUP", help=h("group"))
    p.add_argument("--wave", action="append", metavar="WAVE", help=h("wave"))
    p.add_argument("--close", action="store_true", help=h("publish_close"))
    p.add_argument("--all-closed", action="store_true", help=h("publish_all_closed"))
    p.add_argument("--instrument", help=h("instrument"))
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("waves", help=h("waves"))
    wsub = p.add_subparsers(dest="waves_command", metavar="ACTION")
    wsub.required = True
    close = wsub.add_parser(
        "close", help=h("waves_close"), description=h("waves_close_description")
    )
    close.add_argument("group", help=h("group_id"))
    close.add_argument("wave", help=h("wave_id"))
    close.add_argument("--instrument", help=h("instrument"))
    close.set_defaults(func=cmd_waves_close)

    p = sub.add_parser("groups", help=h("groups"))
    p.add_argument("--cohort", help=h("cohort"))
    p.add_argument("--wave", help=h("one_wave"))
    p.set_defaults(func=cmd_groups)

    p = sub.add_parser("programme", help=h("programme"))
    psub = p.add_subparsers(dest="programme_command", metavar="ACTION")
    psub.required = True
    load = psub.add_parser(
        "load", help=h("programme_load"), description=h("programme_load_description")
    )
    load.add_argument("file", type=Path, help=h("programme_file"))
    load.add_argument("--check", action="store_true", help=h("check"))
    load.set_defaults(func=cmd_programme_load)

    p = sub.add_parser("instruments", help=h("instruments"))
    p.add_argument("instrument", nargs="?", help=h("instrument_arg"))
    p.add_argument(
        "--instrument", dest="instrument_option", metavar="FILE", help=h("instrument_option")
    )
    p.set_defaults(func=cmd_instruments)

    _lifecycle_parsers(sub, h)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the part exists but something it needs is missing
                raise
            continue
        module.register(sub)
    return parser


def _instrument_args(p: argparse.ArgumentParser, h: Callable[[str], str]) -> None:
    p.add_argument("--instrument", help=h("instrument"))
    p.add_argument("--mapping", type=Path, metavar="FILE", help=h("mapping"))
    # Survey tools' exports (kit.exports): a preset, and what holds for the whole file.
    p.add_argument("--preset", metavar="TOOL", help=h("preset"))
    p.add_argument("--wave", dest="file_wave", metavar="WAVE", help=h("file_wave"))
    p.add_argument("--group", dest="file_group", metavar="GROUP", help=h("file_group"))
    p.add_argument(
        "--respondents-by-row", action="store_true", default=None, help=h("respondents_by_row")
    )


# -- entry point ----------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kit`` command; returns the exit code (0 ok, 2 user error, 1 unexpected)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = early_language(argv)
    settings: Settings | None = None
    try:
        parser = build_parser(lang)
        with argparse_language(lang):
            args = parser.parse_args(argv)
        settings = load_settings(
            database_url=args.database_url, language=args.language, home_dir=args.home
        )
        lang = settings.language
        _check_home(settings, args)
        return int(args.func(args, settings) or 0)
    except KitError as exc:
        print(f"{t('cli.error.prefix', lang)}: {exc.message(lang)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(t("cli.error.interrupted", lang), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. 'head', which stopped reading
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep Python from failing at exit
        return 0
    except OSError as exc:
        if exc.errno not in OS_REASONS or not exc.filename:
            return _unexpected(exc, settings, lang)
        print(f"{t('cli.error.prefix', lang)}: {os_message(exc, lang)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the one place that turns surprises into a message
        return _unexpected(exc, settings, lang)


def _unexpected(exc: BaseException, settings: Settings | None, lang: str) -> int:
    log_path = _log_exception(settings, lang)
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    print(
        t(
            "cli.error.unexpected",
            lang,
            kind=type(exc).__name__,
            message=message,
            log_path=log_path,
        ),
        file=sys.stderr,
    )
    return 1


def os_message(exc: OSError, lang: str) -> str:
    """A file-system failure (a folder one cannot write, a full disk) as a user's message."""
    return t("cli.error.os", lang, path=exc.filename, reason=os_reason(exc))


def early_language(argv: Sequence[str]) -> str:
    """The language asked for, before the arguments are parsed (their errors speak it too)."""
    lang = os.environ.get("KIT_LANGUAGE", "")
    for i, arg in enumerate(argv):
        if arg == "--language" and i + 1 < len(argv):
            lang = argv[i + 1]
        elif arg.startswith("--language="):
            lang = arg.split("=", 1)[1]
    return lang if lang in LANGUAGES else "nb"


def _check_home(settings: Settings, args: argparse.Namespace) -> None:
    """A home must exist: a typo in --home never makes a new, empty database silently.

    ``kit demo`` and ``kit programme load`` (the first steps of a new programme) make it.
    """
    home = settings.home_dir
    if home.is_dir():
        return
    if home.exists():
        raise KitError.text("cli.home.not_dir", home=str(home))
    if getattr(args, "command", None) not in CREATES_HOME:
        raise KitError.text("cli.home.missing", home=str(home))
    try:
        home.mkdir(parents=True)
    except OSError as exc:
        raise KitError.text(
            "cli.home.cannot_create", home=str(home), reason=os_reason(exc)
        ) from None
    print(t("cli.home.created", settings.language, home=str(home)), file=sys.stderr)


def _log_exception(settings: Settings | None, lang: str = "nb") -> Path:
    try:
        home = settings.var_dir if settings else load_settings().var_dir
    except KitError:
        home = Path.cwd() / "var"
    log_path = home / "logs" / "kit.log"
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a", encoding="utf-8") as f:
            f.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} kit {' '.join(sys.argv[1:])}\n")
            f.write(traceback.format_exc())
    except OSError:
        log_path = Path(t("cli.error.no_log", lang))
    return log_path


def _print_table(frame: pd.DataFrame) -> None:
    """A left-aligned fixed-width table (what a person reads in a terminal)."""
    import pandas as pd

    cells = [[("" if pd.isna(v) else str(v)) for v in row] for row in frame.itertuples(index=False)]
    header = [str(c) for c in frame.columns]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


# -- commands -------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from kit.demo import make_demo
    from kit.store import _redact, open_store

    lang = settings.language
    store = open_store(settings)
    if args.reset:
        store.clear()
        print(t("cli.demo.reset", lang))
    summary = make_demo(settings, seed=args.seed, small=args.small, store=store)
    print(
        t(
            "cli.demo.made",
            lang,
            seed=summary.seed,
            cohorts=summary.cohorts,
            groups=summary.programme_groups,
            norm=summary.norm_groups,
        )
    )
    print(t("cli.demo.files", lang, path=summary.demo_dir))
    for wave, n in summary.respondents.items():
        print(t("cli.demo.wave", lang, wave=wave, n=n, file=summary.export_paths[wave].name))
    print(
        t(
            "cli.demo.mapping",
            lang,
            file=summary.mapping_path.name,
            programme=summary.programme_path.name,
        )
    )
    for result in summary.imports:
        key = "cli.demo.skipped" if result.skipped else "cli.demo.imported"
        print(t(key, lang, n=result.rows, file=result.filename))
    if summary.small_group_waves:
        shown = ", ".join(f"{g} ({w}: {n})" for g, w, n in summary.small_group_waves)
        print(t("cli.demo.small", lang, min_n=settings.min_respondents, groups=shown))
    _print_demo_scores(store, settings)
    print(t("cli.demo.database", lang, url=_redact(settings.db_url)))
    # Steps that make data (live sessions with action plans) run first, then reports, then serving.
    order = {"reports": 1, "serve": 2}
    steps = sorted(DEMO_STEPS.values(), key=lambda s: order.get(s.kind, 0))
    for step in steps:
        flag = STEP_FLAGS.get(step.kind)
        if flag and getattr(args, flag.removeprefix("--").replace("-", "_"), False):
            print(t("cli.demo.step_skipped", lang, step=step.name, flag=flag))
            continue
        code = step.func(args, settings, summary)
        if code:
            return int(code)
    print(t("cli.demo.next", lang))
    return 0


def _print_demo_scores(store: Any, settings: Settings) -> None:
    """The demo's headline figures, from the published snapshots (what every view shows)."""
    import pandas as pd

    from kit.instrument import load_instrument
    from kit.results import _change_frame, load_scored_data

    instrument = load_instrument("lagprofil")
    data = load_scored_data(store, settings, instrument)
    dims = data.dimensions
    icc = data.icc["icc1"].dropna() if len(data.icc) else pd.Series(dtype=float)
    print(
        t(
            "cli.demo.scored",
            settings.language,
            groups=len(data.publications),
            dimensions=len(instrument.dimensions),
            icc_low=float(icc.min()) if len(icc) else float("nan"),
            icc_high=float(icc.max()) if len(icc) else float("nan"),
            disagree=int((dims["rwg_j"] < 0.70).sum()) if len(dims) else 0,
        )
    )
    groups = store.list_groups()
    programme = list(groups.loc[groups["cohort_id"].notna(), "id"])
    change = _change_frame(data, programme, "before", "after")
    per_group = change.dropna(subset=["change"]).groupby("group")["change"].mean()
    print(
        t(
            "cli.demo.change",
            settings.language,
            up=int((per_group > 0.05).sum()),
            total=len(per_group),
            down=int((per_group < -0.05).sum()),
        )
    )


def _instrument(args: argparse.Namespace, settings: Settings) -> Any:
    from kit.instrument import load_instrument

    name = getattr(args, "instrument", None) or settings.instrument
    return load_instrument(name, lang=settings.language)


def _mapping(args: argparse.Namespace, settings: Settings) -> Any:
    """The column mapping: --mapping FILE, --preset TOOL or the tool recognised from the file;
    then what --wave, --group and --respondents-by-row say for the whole file."""
    from kit.exports import recognise_tool
    from kit.mapping import ColumnMapping, load_mapping, load_preset

    lang = settings.language
    mapping = load_mapping(args.mapping, lang=lang) if args.mapping else None
    preset = getattr(args, "preset", None)
    if preset and mapping is not None:
        raise KitError.text("cli.preset.and_mapping")
    if preset:
        mapping = load_preset(preset, lang=lang)
    elif mapping is None and args.file.is_file():
        found = recognise_tool(args.file)
        if found:
            mapping = load_preset(found, lang=lang)
            print(t("ingest.preset.recognised", lang, tool=mapping.tool, preset=found))
    overrides = {
        "wave": getattr(args, "file_wave", None),
        "group": getattr(args, "file_group", None),
        "respondent_from_row": getattr(args, "respondents_by_row", None),
    }
    if any(v is not None for v in overrides.values()):
        mapping = (mapping or ColumnMapping()).with_overrides(**overrides)
    return mapping


def _known(store: Any) -> tuple[set[str], set[str]]:
    groups = store.list_groups()
    waves = store.list_waves()
    return set(groups["id"]) if len(groups) else set(), set(waves["id"]) if len(waves) else set()


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise NotFoundError.text("cli.file.missing", path=str(path), cwd=str(Path.cwd()))


def _print_warnings(warnings: list[Any], lang: str) -> None:
    if warnings:
        print(t("cli.warnings", lang))
        for w in warnings:
            print(f"  {w.reason_in(lang)}")


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """The same checks as ``kit import`` (against the database too), nothing written."""
    from kit.ingest import check_responses
    from kit.store import open_store

    lang = settings.language
    _require_file(args.file)
    instrument = _instrument(args, settings)
    args.mapping = _mapping(args, settings)
    store = None
    if not args.no_database:
        store = open_store(settings)
        known_groups, _ = _known(store)
        if not known_groups:
            print(t("cli.validate.no_programme", lang))
            store = None
    _say_reading(args, lang)
    verdict = check_responses(
        args.file,
        instrument,
        mapping=args.mapping,
        min_answered_share=settings.min_answered_share,
        store=store,
    )
    _print_warnings(verdict.warnings, lang)
    if verdict.problems:
        print(t("cli.validate.problems", lang, filename=verdict.filename, n=len(verdict.problems)))
        print(format_problems(verdict.problems, limit=200, lang=lang))
        return 2
    fields = {
        "filename": verdict.filename,
        "rows": verdict.new,
        "groups": verdict.groups,
        "waves": ", ".join(verdict.waves),
        "stored": verdict.already_stored,
    }
    if not verdict.new:
        print(
            t("cli.validate.nothing_new", lang, filename=verdict.filename, n=verdict.already_stored)
        )
    elif verdict.already_stored:
        print(t("cli.validate.ok_update", lang, **fields))
    else:
        print(t("cli.validate.ok", lang, **fields))
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from kit.ingest import describe_result, read_responses
    from kit.store import open_store

    lang = settings.language
    _require_file(args.file)
    instrument = _instrument(args, settings)
    args.mapping = _mapping(args, settings)
    store = open_store(settings)
    known_groups, _ = _known(store)
    if not known_groups:
        raise KitError.text("cli.import.no_groups")
    _say_reading(args, lang)
    result = read_responses(
        args.file,
        instrument,
        mapping=args.mapping,
        drop_invalid=args.drop_invalid,
        min_answered_share=settings.min_answered_share,
        store=store,
    )
    print(describe_result(result, lang))
    if result.dropped:
        print(format_problems(result.dropped, limit=200, lang=lang))
    _print_warnings(result.warnings, lang)
    with _progress(len(result.table), t("ingest.progress.writing", lang), args) as bar:
        done = store.import_responses(
            result.table,
            instrument,
            result.source_hash,
            result.filename,
            file_rows=result.file_rows,
            headers=result.headers,
            progress=bar,
        )
    if done.skipped:
        print(t("cli.import.skipped", lang, n=done.rows, filename=done.filename, id=done.import_id))
    elif result.already_stored and not done.rows:
        print(t("cli.import.nothing_new", lang, filename=result.filename, n=result.already_stored))
    elif result.already_stored:
        print(
            t(
                "cli.import.added",
                lang,
                n=done.rows,
                filename=done.filename,
                id=done.import_id,
                stored=result.already_stored,
            )
        )
    else:
        print(t("cli.import.done", lang, n=done.rows, filename=done.filename, id=done.import_id))
    return 0


def _say_reading(args: argparse.Namespace, lang: str) -> None:
    """A big file takes seconds to read and check: say so in a terminal before it starts."""
    size = args.file.stat().st_size
    if size >= READING_FROM and sys.stderr.isatty() and not getattr(args, "quiet", False):
        print(
            t("cli.import.reading", lang, filename=args.file.name, mb=size / 1e6),
            file=sys.stderr,
        )


@contextmanager
def _progress(total: int, label: str, args: argparse.Namespace) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a long write; silent when not a terminal or with --quiet."""
    from tqdm import tqdm

    quiet = getattr(args, "quiet", False) or not sys.stderr.isatty() or total < PROGRESS_FROM
    try:  # a terminal that does not say its width (0) would get an empty bar
        width = os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        width = 80
    with tqdm(
        total=total,
        desc=label,
        unit=" resp",
        disable=quiet,
        file=sys.stderr,
        leave=False,
        ncols=min(width, 100),
        mininterval=0,  # a step per block of respondents: few, each worth showing
    ) as bar:
        yield bar.update


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    """Export the published dimension scores (what reports show, rounded), never raw scoring."""
    import pandas as pd

    from kit.csvfile import write_csv
    from kit.results import load_scored_data
    from kit.store import open_store

    lang = settings.language
    out: Path = args.out
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise KitError.text("cli.score.bad_out", path=str(out))
    instrument = _instrument(args, settings)
    store = open_store(settings)
    groups = store.list_groups()
    known_groups, known_waves = _known(store)
    for gid in args.group or []:
        if gid not in known_groups:
            raise NotFoundError.text("cli.no_group", group=gid)
    for wid in args.wave or []:
        if wid not in known_waves:
            raise NotFoundError.text(
                "cli.no_wave", wave=wid, known=", ".join(sorted(known_waves)) or Text("cli.none")
            )
    data = load_scored_data(store, settings, instrument)
    dims = data.dimensions.copy()
    pubs = data.publications
    if args.group:
        dims = dims[dims["group"].isin(args.group)]
        pubs = pubs[pubs["group_id"].isin(args.group)] if len(pubs) else pubs
    if args.wave:
        dims = dims[dims["wave"].isin(args.wave)]
        pubs = pubs[pubs["wave_id"].isin(args.wave)] if len(pubs) else pubs
    if (
        dims.empty
        and not store.load_responses(instrument, group_ids=args.group, wave_ids=args.wave).empty
    ):
        raise KitError(t("cli.score.none_published", lang))
    if dims.empty:
        where = (
            ""
            if not (args.group or args.wave)
            else f" ({', '.join([*(args.group or []), *(args.wave or [])])})"
        )
        raise KitError.text("cli.score.no_data", instrument=instrument.id, where=where)
    # A group-wave shown at a stricter threshold than it was published with hides more.
    k = settings.min_respondents
    n_group = dims["respondents"].fillna(0).to_numpy()
    hide = (~dims["reportable"].to_numpy()) | (n_group < k) | (dims["n"].fillna(0) < k).to_numpy()
    hide &= dims["suppressed"].isna().to_numpy()
    dims.loc[hide, "suppressed"] = "too_few"
    blank = dims["suppressed"].notna()
    for col in ("n", "mean", "sd", "se", "ci_low", "ci_high", "rwg_j", "ad_m", "alpha"):
        dims.loc[blank, col] = pd.NA if col == "n" else float("nan")
    dims["respondents"] = n_group
    meta = groups.rename(columns={"id": "group", "name": "group_name"})[
        ["group", "group_name", "organisation", "cohort_id", "in_norm_base"]
    ]
    dims = dims.merge(meta, on="group", how="left")
    dims.insert(0, "instrument", instrument.id)
    dims["published_at"] = [v.isoformat(timespec="seconds") for v in dims["published_at"]]
    front = [
        "instrument",
        "group",
        "group_name",
        "organisation",
        "cohort_id",
        "in_norm_base",
        "wave",
        "version",
        "published_at",
        "respondents",
        "dimension",
    ]
    dims = dims.drop(columns=["reportable", "visible"])
    dims = dims[front + [c for c in dims.columns if c not in front]]
    dims = dims.sort_values(["group", "wave", "dimension"], kind="stable")
    out.parent.mkdir(parents=True, exist_ok=True)  # an OSError becomes a user's message (main)
    if out.suffix.lower() == ".csv":
        write_csv(dims, out)
    else:
        dims.to_parquet(out, index=False)
    suppressed = dims.loc[
        dims["suppressed"].notna() & (dims["suppressed"] != ""), ["group", "wave"]
    ].drop_duplicates()
    print(
        t(
            "cli.score.written",
            lang,
            rows=len(dims),
            groups=len(dims[["group", "wave"]].drop_duplicates()),
            suppressed=len(suppressed),
            path=out,
        )
    )
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from kit.publication import publish
    from kit.store import open_store

    store = open_store(settings)
    instrument = _instrument(args, settings)
    if args.close and not (args.group or args.wave):
        raise KitError(t("cli.publish.close_needs_filter", settings.language))
    outcomes = publish(
        store,
        settings,
        instrument,
        group_ids=args.group,
        wave_ids=args.wave,
        close=args.close,
    )
    _print_publish(outcomes, settings)
    return 0


def cmd_waves_close(args: argparse.Namespace, settings: Settings) -> int:
    from kit.publication import publish
    from kit.store import open_store

    store = open_store(settings)
    outcomes = publish(
        store,
        settings,
        _instrument(args, settings),
        group_ids=[args.group],
        wave_ids=[args.wave],
        close=True,
    )
    if not outcomes:
        print(t("cli.publish.nothing", settings.language))
    _print_publish(outcomes, settings)
    return 0


def _print_publish(outcomes: list[Any], settings: Settings) -> None:
    lang = settings.language
    for o in outcomes:
        when = o.published_at.strftime("%Y-%m-%d %H:%M UTC") if o.published_at else ""
        key = f"cli.publish.{o.status}"
        if o.status == "published" and not o.reportable:
            key = "cli.publish.published_hidden"
        print(
            t(
                key,
                lang,
                group=o.group_id,
                wave=o.wave_id,
                version=o.version or "",
                when=when,
                n=o.respondents,
                changes=o.changes,
                needed=o.needed,
                min_n=settings.min_respondents,
            )
        )
    counts = {
        s: sum(o.status == s for o in outcomes)
        for s in ("published", "unchanged", "waiting", "open")
    }
    print(t("cli.publish.summary", lang, **counts))


def cmd_groups(args: argparse.Namespace, settings: Settings) -> int:
    import pandas as pd

    from kit.store import open_store

    lang = settings.language
    store = open_store(settings)
    groups = store.list_groups()
    if groups.empty:
        print(t("cli.groups.none", lang))
        return 0
    if args.cohort and args.cohort not in set(groups["cohort_id"].dropna()):
        raise NotFoundError.text(
            "cli.no_cohort",
            cohort=args.cohort,
            known=", ".join(sorted(groups["cohort_id"].dropna().unique())) or Text("cli.none"),
        )
    gw = store.list_group_waves()
    if args.wave and args.wave not in set(gw["wave_id"]):
        raise NotFoundError.text(
            "cli.no_wave",
            wave=args.wave,
            known=", ".join(sorted(set(gw["wave_id"]))) or Text("cli.none"),
        )
    rows = groups.rename(columns={"id": "group_id"}).merge(gw, on="group_id", how="left")
    if args.cohort:
        rows = rows[rows["cohort_id"] == args.cohort]
    if args.wave:
        rows = rows[rows["wave_id"] == args.wave]
    rows = rows.copy()
    shown_groups = groups[groups["id"].isin(set(rows["group_id"]))]
    rows["respondents"] = rows["respondents"].fillna(0).astype(int)
    hidden = t("cli.groups.hidden", lang)
    rows["note"] = [
        hidden if pd.notna(w) and n < settings.min_respondents else ""
        for w, n in zip(rows["wave_id"], rows["respondents"], strict=True)
    ]
    rows["cohort_id"] = [
        c if isinstance(c, str) else (t("cli.groups.norm", lang) if norm else "")
        for c, norm in zip(rows["cohort_id"], rows["in_norm_base"], strict=True)
    ]
    rows["invited"] = rows["invited"].astype("Int64")
    rows["status"] = [
        t(f"cli.groups.status.{v}", lang) if isinstance(v, str) else v for v in rows["status"]
    ]
    columns = [
        "group_id",
        "name",
        "cohort_id",
        "wave_id",
        "invited",
        "respondents",
        "status",
        "note",
    ]
    shown = rows[columns].rename(
        columns={c: t(f"cli.groups.column.{c.removesuffix('_id')}", lang) for c in columns}
    )
    _print_table(shown)
    print(
        t(
            "cli.groups.summary",
            lang,
            groups=rows["group_id"].nunique(),
            programme=int(shown_groups["cohort_id"].notna().sum()),
            norm=int(shown_groups["in_norm_base"].astype(bool).sum()),
            respondents=int(rows["respondents"].sum()),
            min_n=settings.min_respondents,
        )
    )
    return 0


def cmd_programme_load(args: argparse.Namespace, settings: Settings) -> int:
    from kit.store import open_store
    from kit.store.programme import load_programme

    programme = load_programme(args.file, lang=settings.language)
    fields = {
        "filename": args.file.name,
        "waves": len(programme.waves),
        "cohorts": len(programme.cohorts),
        "groups": len(programme.groups),
        "norm": len(programme.norm_groups),
    }
    if args.check:
        print(t("cli.programme.checked", settings.language, **fields))
        return 0
    open_store(settings).save_programme(programme)
    print(t("cli.programme.loaded", settings.language, **fields))
    return 0


def cmd_instruments(args: argparse.Namespace, settings: Settings) -> int:
    from kit.instrument import available_instruments, load_instrument

    lang = settings.language
    name = args.instrument or args.instrument_option
    if not name:
        print(t("cli.instruments.title", lang))
        for iid in available_instruments():
            _instrument_line(load_instrument(iid, lang=lang), lang)
        return 0
    inst = load_instrument(name, lang=lang)
    _instrument_line(inst, lang)
    for category in inst.categories:
        print(f"\n{category.name.get(lang, category.id).upper()}")
        for dim in (d for d in inst.dimensions if d.category == category.id):
            print(f"  {dim.id}: {dim.name.get(lang, dim.id)}")
            for item_id in dim.item_ids:
                item = inst.item(item_id)
                mark = f" {t('cli.instruments.reversed', lang)}" if item.reverse else ""
                sc = item.scale or inst.scale
                if (sc.min, sc.max) != (inst.scale.min, inst.scale.max):
                    mark += f" ({sc.min}-{sc.max})"
                print(f"    {item.id}{mark} {item.text.get(lang, '')}")
    if inst.open_questions:
        print(f"\n{t('cli.instruments.open', lang)}")
        for q in inst.open_questions:
            print(f"  {q.id} {q.text.get(lang, '')}")
    return 0


def _instrument_line(inst: Any, lang: str) -> None:
    print(
        t(
            "cli.instruments.line",
            lang,
            id=inst.id,
            version=inst.version,
            name=inst.name.get(lang, inst.id),
            items=len(inst.items),
            dimensions=len(inst.dimensions),
            min=inst.scale.min,
            max=inst.scale.max,
            questions=len(inst.open_questions),
        )
    )


# -- the data's life: imports, erase, retention, backup, restore, audit (kit.lifecycle) ----------
def _lifecycle_parsers(sub: Any, h: Callable[[str], str]) -> None:
    p = sub.add_parser("imports", help=h("imports"), description=h("imports_description"))
    isub = p.add_subparsers(dest="imports_command", metavar="ACTION")
    p.set_defaults(func=cmd_imports)
    undo = isub.add_parser("undo", help=h("imports_undo"), description=h("imports_undo"))
    undo.add_argument("import_id", type=int, metavar="ID", help=h("import_id"))
    undo.add_argument("--yes", action="store_true", help=h("yes"))
    undo.set_defaults(func=cmd_imports_undo)

    p = sub.add_parser("erase", help=h("erase"), description=h("erase_description"))
    p.add_argument("--group", metavar="GROUP", help=h("erase_group"))
    p.add_argument("--wave", metavar="WAVE", help=h("erase_wave"))
    p.add_argument("--respondent", metavar="ID", help=h("erase_respondent"))
    p.add_argument("--yes", action="store_true", help=h("yes"))
    p.set_defaults(func=cmd_erase)

    p = sub.add_parser("retention", help=h("retention"), description=h("retention_description"))
    p.add_argument("--apply", action="store_true", help=h("retention_apply"))
    p.add_argument("--today", type=dt.date.fromisoformat, metavar="DATE", help=h("today"))
    p.add_argument("--yes", action="store_true", help=h("yes"))
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("backup", help=h("backup"), description=h("backup_description"))
    p.add_argument("file", type=Path, help=h("backup_file"))
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help=h("restore"), description=h("restore_description"))
    p.add_argument("file", type=Path, help=h("backup_file"))
    p.add_argument("--yes", action="store_true", help=h("yes"))
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("audit", help=h("audit"), description=h("audit"))
    p.add_argument("--limit", type=int, default=200, help=h("audit_limit"))
    p.set_defaults(func=cmd_audit)


def _confirm(args: argparse.Namespace, lang: str) -> None:
    """Go on with --yes, or when a person at a terminal types yes / ja; refuse otherwise."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise KitError.text("cli.confirm.needs_yes")
    answer = input(t("cli.confirm.ask", lang) + " ")
    if answer.strip().casefold() not in ("yes", "ja", "y", "j"):
        raise KitError.text("cli.confirm.stopped")


def _carry_out(args: argparse.Namespace, settings: Settings, store: Any, plan: Any) -> int:
    from kit.lifecycle import carry_out, describe

    lang = settings.language
    if plan.empty:
        print(t("cli.erase.nothing", lang, target=plan.target))
        return 0
    print(t(f"cli.erase.will.{plan.action}", lang, target=plan.target))
    for line in describe(plan, lang):
        print(f"  {line}")
    _confirm(args, lang)
    carry_out(store, plan)
    print(t("cli.erase.done", lang, n=plan.respondents, target=plan.target))
    return 0


def cmd_imports(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import list_imports
    from kit.store import open_store

    frame = list_imports(open_store(settings))
    if not len(frame):
        print(t("cli.imports.none", settings.language))
        return 0
    _print_table(frame)
    return 0


def cmd_imports_undo(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import plan_undo_import
    from kit.store import open_store

    store = open_store(settings)
    return _carry_out(args, settings, store, plan_undo_import(store, args.import_id))


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import plan_erasure
    from kit.store import open_store

    if args.wave and not args.group and not args.respondent:
        raise KitError.text("cli.erase.wave_alone")
    store = open_store(settings)
    plan = plan_erasure(store, group=args.group, wave=args.wave, respondent=args.respondent)
    return _carry_out(args, settings, store, plan)


def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import describe, plan_retention, retention_months
    from kit.store import open_store

    lang = settings.language
    store = open_store(settings)
    plan, cohorts = plan_retention(store, args.today)
    months = retention_months(store)
    if plan.empty:
        print(t("cli.retention.nothing", lang, months=months))
        return 0
    print(t("cli.retention.due", lang, months=months, cohorts=", ".join(cohorts)))
    for line in describe(plan, lang):
        print(f"  {line}")
    if not args.apply:
        print(t("cli.retention.dry_run", lang))
        return 0
    return _carry_out(args, settings, store, plan)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import backup
    from kit.store import open_store

    path = backup(open_store(settings), args.file)
    print(t("cli.backup.done", settings.language, path=str(path), size=path.stat().st_size))
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import restore
    from kit.store import _redact, open_store

    lang = settings.language
    _require_file(args.file)
    store = open_store(settings)
    print(t("cli.restore.will", lang, path=str(args.file), url=_redact(store.url)))
    _confirm(args, lang)
    restore(store, args.file)
    print(t("cli.restore.done", lang, path=str(args.file)))
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from kit.lifecycle import list_audit
    from kit.store import open_store

    frame = list_audit(open_store(settings), limit=max(1, args.limit))
    if not len(frame):
        print(t("cli.audit.none", settings.language))
        return 0
    _print_table(frame)
    return 0


def run(argv: Sequence[str] | None = None) -> None:
    """Console entry that exits with ``main``'s code."""
    sys.exit(main(argv))


if __name__ == "__main__":  # python -m kit.cli: run the imported module, where parts register
    from kit.cli import run as _run

    _run()


__all__ = ["DEMO_STEPS", "add_demo_step", "build_parser", "main"]
