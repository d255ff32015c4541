"""CLI of the apps: ``kit keys``, ``kit invitations`` and ``kit serve`` (registered by kit.cli)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from kit.i18n import t
from kit.settings import Settings

# The store, keys and invitations are imported by the commands that use them: 'kit --help' and
# every other command start without loading pandas and SQLAlchemy for this part.


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``keys``, ``invitations`` and ``serve`` to the ``kit`` command."""
    p = subparsers.add_parser("keys", help="access keys to the groups' dashboards")
    sub = p.add_subparsers(dest="keys_command", required=True)
    c = sub.add_parser("create", help="make a key (and link) for a group's dashboard")
    c.add_argument("group", help="group id")
    c.add_argument("--expires", type=float, metavar="DAYS", help="days until the key expires")
    c.add_argument("--label", default="", help="a note for 'kit keys list' (who got it)")
    c.set_defaults(func=cmd_keys_create)
    ls = sub.add_parser("list", help="list keys (never the keys themselves)")
    ls.add_argument("--group", help="only this group")
    ls.set_defaults(func=cmd_keys_list)
    r = sub.add_parser("revoke", help="withdraw a key at once")
    r.add_argument("id", type=int, help="key id from 'kit keys list'")
    r.set_defaults(func=cmd_keys_revoke)

    p = subparsers.add_parser("invitations", help="single-use survey invitations")
    sub = p.add_subparsers(dest="invitations_command", required=True)
    c = sub.add_parser("create", help="make single-use survey links for a group and wave")
    c.add_argument("group", help="group id")
    c.add_argument("wave", help="wave id, e.g. before")
    c.add_argument("--count", type=int, required=True, help="number of invitees")
    c.set_defaults(func=cmd_invitations_create)
    ls = sub.add_parser("list", help="invitations made and used, per group and wave")
    ls.add_argument("--group", help="only this group")
    ls.set_defaults(func=cmd_invitations_list)

    s = subparsers.add_parser(
        "serve", help="serve the dashboards, the online survey and the facilitator console"
    )
    s.add_argument("--host", help="address to listen on (default: settings.host)")
    s.add_argument("--port", type=int, help="port (default: settings.port)")
    s.add_argument("--pool", type=int, default=2, help="preheated dashboard kernels (0: none)")
    # the survey needs no kernel any more; the option is accepted (and ignored) for old scripts
    s.add_argument("--survey-pool", type=int, default=0, help=argparse.SUPPRESS)
    s.add_argument(
        "--facilitator-pool",
        type=int,
        default=0,
        help="preheated console kernels (only if the console waits for its request)",
    )
    s.add_argument(
        "--instrument",
        metavar="FILE",
        help="instrument id or YAML path of the dashboards and the survey (default: "
        "settings.instrument)",
    )
    s.add_argument(
        "--max-kernels",
        type=int,
        metavar="N",
        help="kernels viewers may hold at once; more wait in a queue (default: settings "
        "max_kernels, 0 = fitted to this machine's memory and cores)",
    )
    s.add_argument(
        "--cull-idle",
        type=int,
        metavar="SECONDS",
        help="stop a viewer's kernel idle this long (default: settings kernel_idle_seconds, 300)",
    )
    s.add_argument(
        "--iopub-timeout",
        type=int,
        metavar="SECONDS",
        help="how long a page waits for a cell's outputs (default: settings iopub_timeout, 120)",
    )
    s.add_argument(
        "--max-queue",
        type=int,
        metavar="N",
        help="viewers who may wait for a kernel (default: settings max_queue, 500)",
    )
    s.add_argument(
        "--demo-links",
        action="store_true",
        help="make a short-lived key and invitation for a demo group and print them",
    )
    s.set_defaults(func=cmd_serve)
    _add_demo_step()


def _add_demo_step() -> None:
    """``kit demo`` ends by serving the apps with a demo group's links (skipped by --no-serve)."""
    try:
        from kit.cli import add_demo_step
    except ImportError:  # an older kit.cli without demo steps
        return
    add_demo_step("serve", "apps", demo_serve)


def demo_serve(args: argparse.Namespace, settings: Settings, summary: object = None) -> int:
    """Serve the apps on the demo data, printing a demo group's dashboard and survey links."""
    from kit.apps.server import serve

    serve(settings, demo_links=True)
    return 0


def cmd_keys_create(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    from kit.apps import keys
    from kit.store import open_store

    store = open_store(settings)
    issued = keys.create_key(store, args.group, args.expires, args.label)
    lang = settings.language
    expires = (
        t("app.cli.key.never", lang)
        if issued.expires_at is None
        else t("app.cli.key.until", lang, date=issued.expires_at.strftime("%Y-%m-%d %H:%M UTC"))
    )
    print(
        t("app.cli.key.created", lang, id=issued.id, group=issued.group_id, expires=expires),
        file=out,
    )
    print(keys.dashboard_url(settings.base_url, issued.key), file=out)
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    from kit.apps import keys
    from kit.store import access as repo
    from kit.store import open_store

    rows = repo.list_keys(open_store(settings), args.group)
    if not rows:
        print(t("app.cli.key.none", settings.language), file=out)
        return 0
    header = ("id", "group", "key", "status", "created", "expires", "label")
    lines = [header]
    for r in rows:
        lines.append(
            (
                str(r["id"]),
                r["group_id"],
                r["prefix"] + "…",
                keys.key_status(r),
                _date(r["created_at"]),
                _date(r["expires_at"]),
                r["label"] or "",
            )
        )
    _print_table(lines, out)
    return 0


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    from kit.store import access as repo
    from kit.store import open_store

    row = repo.revoke_key(open_store(settings), args.id)
    print(
        t("app.cli.key.revoked", settings.language, id=row["id"], group=row["group_id"]), file=out
    )
    return 0


def cmd_invitations_create(
    args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout
) -> int:
    from kit.apps import invitations as inv
    from kit.store import open_store

    codes = inv.create_invitations(open_store(settings), args.group, args.wave, args.count)
    print(
        t(
            "app.cli.invitations.created",
            settings.language,
            n=len(codes),
            group=args.group,
            wave=args.wave,
        ),
        file=out,
    )
    for code in codes:
        print(inv.survey_url(settings.base_url, code), file=out)
    return 0


def cmd_invitations_list(
    args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout
) -> int:
    from kit.store import access as repo
    from kit.store import open_store

    rows = repo.invitation_counts(open_store(settings), args.group)
    if not rows:
        print(t("app.cli.invitations.none", settings.language), file=out)
        return 0
    lines = [("group", "wave", "invitations", "used")]
    lines += [
        (r["group_id"], r["wave_id"], str(r["invitations"]), str(int(r["used"] or 0))) for r in rows
    ]
    _print_table(lines, out)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from kit.apps.server import ServeOptions, serve

    settings = settings.replace(
        **{k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    )
    # --instrument, or KIT_INSTRUMENT: checked before anything starts
    instrument = _served_instrument(args.instrument or settings.instrument, settings)
    settings = settings.replace(instrument=instrument)
    options = ServeOptions.from_settings(
        settings,
        dashboard_pool=args.pool,
        facilitator_pool=args.facilitator_pool,
        max_kernels=args.max_kernels,
        cull_idle_seconds=args.cull_idle,
        iopub_timeout=args.iopub_timeout,
        max_queue=args.max_queue,
    )
    serve(settings, options, demo_links=args.demo_links)
    return 0


def _served_instrument(name: str, settings: Settings) -> str:
    """The instrument the kernels load (an absolute path for a file), checked before serving."""
    from pathlib import Path

    from kit.errors import KitError
    from kit.instrument import load_instrument

    inst = load_instrument(name, lang=settings.language)  # refuses a broken file at once
    if not inst.has_one_scale:
        raise KitError(t("config.serve.several_scales", settings.language, name=name))
    path = Path(name)
    return str(path.resolve()) if path.suffix else name


def _date(value: object) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d")  # type: ignore[attr-defined]


def _print_table(lines: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    for n, row in enumerate(lines):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
