"""``python -m kit``: the same as the ``kit`` command."""

from kit.cli import run

run()
