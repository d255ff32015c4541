"""CLI of the live exercises: ``kit session create|list|export|close|key|serve``."""

from __future__ import annotations

import argparse
from pathlib import Path

from kit.i18n import t
from kit.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``kit session ...`` to the ``kit`` command."""
    p = subparsers.add_parser("session", help="live workshop sessions (create, list, export)",
                              description="Live workshop sessions: participants join by code or "
                              "QR code; the facilitator runs notebooks/facilitator.ipynb.")
    sub = p.add_subparsers(dest="session_command", metavar="ACTION")
    sub.required = True

    c = sub.add_parser("create", help="create a session and print its join code and console link")
    c.add_argument("--title", required=True, help="e.g. 'Samling 2, kull 5'")
    c.add_argument("--group", dest="groups", action="append", required=True, metavar="GROUP",
                   help="a group id taking part (repeat for a cohort's groups)")
    c.add_argument("--cohort", help="the cohort id, when the session is a cohort's gathering")
    c.add_argument("--exercises", help="comma-separated exercise ids in order (default: pulse, "
                   "purpose, agenda_audit, airtime, stakeholder_map, action_plan)")
    c.add_argument("--instrument", help="instrument of the pulse round (default: pulse)")
    c.add_argument("--session-language", dest="session_language", choices=("nb", "en"),
                   help="language participants see first (default: the kit's language)")
    c.add_argument("--expected", type=int, metavar="N", help=t("live.cli.expected_help", "en"))
    c.set_defaults(func=cmd_create)

    ls_ = sub.add_parser("list", help="list sessions with rounds, participants and answers")
    ls_.set_defaults(func=cmd_list)

    e = sub.add_parser("export", help="write a session's rounds, answers, actions to CSV files")
    e.add_argument("code", help="the session's join code")
    e.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for the CSV files (default: outputs/live/<code>/)")
    e.add_argument("--raw", action="store_true", help=t("live.cli.raw_help", "en"))
    e.set_defaults(func=cmd_export)

    a = sub.add_parser("admit", help="set the expected number of participants or admit those "
                       "waiting (as the console does)")
    a.add_argument("code")
    a.add_argument("--expected", type=int, metavar="N", help=t("live.cli.expected_help", "en"))
    a.add_argument("--all", action="store_true", help="admit everyone waiting")
    a.set_defaults(func=cmd_admit)

    x = sub.add_parser("close", help="end a session: participants can no longer answer")
    x.add_argument("code")
    x.set_defaults(func=cmd_close)

    k = sub.add_parser("key", help="print the kit's facilitator key (opens every session)")
    k.set_defaults(func=cmd_key)

    s = sub.add_parser("serve", help="serve only the participant pages (without Voilà)")
    s.set_defaults(func=cmd_serve)
    try:
        from kit.cli import add_demo_step
    except ImportError:  # a kit.cli without demo steps
        return
    add_demo_step("live", "live session", demo_live)


def demo_live(args: argparse.Namespace, settings: Settings, summary: object = None) -> int:
    """``kit demo``: a cohort's gathering with simulated answers, and how to open it."""
    from kit.live.demo import make_live_demo
    from kit.live.session import console_url, facilitator_key, join_url
    from kit.store import open_store

    code = make_live_demo(open_store(settings), settings)
    if code is not None:
        lang = settings.language
        print(t("live.cli.demo", lang, code=code))
        print(t("live.cli.join_url", lang, url=join_url(settings, code)))
        print(t("live.cli.console_url", lang,
                url=console_url(settings, code, facilitator_key(settings))))
    return 0


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from kit.live.session import create_session
    from kit.store import open_store

    exercises = [e.strip() for e in args.exercises.split(",") if e.strip()] \
        if args.exercises else None
    made = create_session(open_store(settings), settings, title=args.title, group_ids=args.groups,
                          cohort_id=args.cohort, language=args.session_language,
                          exercises=exercises, instrument=args.instrument,
                          expected=args.expected)
    lang = settings.language
    print(t("live.cli.created", lang, code=made.code))
    print(t("live.cli.join_url", lang, url=made.join_url))
    print(t("live.cli.console_url", lang, url=made.console_url))
    print(t("live.cli.key", lang, key=made.key))
    counts = admission_of(settings, made.code)
    print(t("live.cli.admitted", lang, **counts))
    return 0


def admission_of(settings: Settings, code: str) -> dict[str, object]:
    from kit.store import live as repo
    from kit.store import open_store

    store = open_store(settings)
    counts = repo.admission(store, repo.get_session(store, code)["id"])
    if counts["expected"] is None:
        counts["expected"] = t("live.console.expected_unset", settings.language)
    return counts


def cmd_admit(args: argparse.Namespace, settings: Settings) -> int:
    from kit.store import live as repo
    from kit.store import open_store

    store = open_store(settings)
    code = args.code.upper()
    sid = repo.get_session(store, code)["id"]
    if args.expected is not None:
        repo.set_expected(store, sid, args.expected)
    if args.all:
        repo.admit_waiting(store, sid)
    print(t("live.cli.admitted", settings.language, **admission_of(settings, code)))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from kit.store import live as repo
    from kit.store import open_store

    frame = repo.list_sessions(open_store(settings))
    if not len(frame):
        print(t("live.cli.no_sessions", settings.language))
        return 0
    frame["created_at"] = frame["created_at"].astype(str).str[:16]
    print(frame.to_string(index=False))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from kit.live.export import export_session
    from kit.store import open_store

    code = args.code.upper()
    done = export_session(open_store(settings), settings, code, args.out, raw=args.raw)
    lang = settings.language
    min_n = done.min_respondents
    print(t("live.cli.export_anonymised", lang, code=code, min_n=min_n))
    for path in done.paths:
        print(f"  {path}")
    if done.raw is not None:
        print("\n" + t("live.cli.export_raw", lang, path=done.raw, min_n=min_n))
    return 0


def cmd_close(args: argparse.Namespace, settings: Settings) -> int:
    from kit.store import live as repo
    from kit.store import open_store

    repo.set_session_status(open_store(settings), args.code.upper(), "closed")
    print(t("live.cli.closed", settings.language, code=args.code.upper()))
    return 0


def cmd_key(args: argparse.Namespace, settings: Settings) -> int:
    from kit.live.session import facilitator_key

    print(facilitator_key(settings))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from kit.live import session as ls
    from kit.live.server import make_app
    from kit.web import serve_standalone

    try:
        serve_standalone(make_app, settings, "live.cli.serving", ls.LIVE_PREFIX + "/")
    except KeyboardInterrupt:
        pass
    return 0
