"""Start-up costs the kit avoids (kit._startup): jsonschema's IRI grammar is built on first use,
not in every process that imports altair or nbformat; its IRI checks behave as before."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return proc.stdout.strip()


def test_importing_altair_after_the_kit_builds_no_iri_grammar() -> None:
    pytest.importorskip("rfc3987_syntax")
    out = _run(
        "import sys, kit, altair, nbformat, jsonschema; "
        "print('rfc3987_syntax.syntax_helpers' in sys.modules)"
    )
    assert out == "False"


def test_iri_checks_still_check_when_used() -> None:
    pytest.importorskip("rfc3987_syntax")
    out = _run(
        "import sys, kit, jsonschema; fc = jsonschema.FormatChecker(); "
        "print(fc.conforms('https://example.org/blåbær', 'iri'), "
        "fc.conforms('no iri at all', 'iri'), fc.conforms('del/æ?x=1', 'iri-reference'), "
        "'rfc3987_syntax.syntax_helpers' in sys.modules)"
    )
    assert out == "True False True True"


def test_without_the_kit_jsonschema_is_untouched() -> None:
    pytest.importorskip("rfc3987_syntax")
    out = _run(
        "import sys, jsonschema; import kit; "
        "print(type(sys.modules['rfc3987_syntax']).__name__, "
        "'rfc3987_syntax.syntax_helpers' in sys.modules)"
    )
    assert out == "module True"  # imported first: the kit leaves the real package in place
