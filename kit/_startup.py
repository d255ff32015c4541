"""One-off start-up costs the kit avoids in every process that imports it.

``jsonschema`` (imported by altair, nbformat, papermill and jupyter_events) imports
``rfc3987_syntax`` when installed, which builds an Earley grammar at import: 1.6-2 s of CPU in
every worker, kernel and server, before anything is done. Nothing the kit runs validates the
``iri`` formats it serves, so :func:`defer_iri_grammar` puts a stand-in in its place that builds
the grammar on the first IRI check instead: jsonschema's checks behave exactly as before.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

IRI_PACKAGE = "rfc3987_syntax"


def defer_iri_grammar() -> None:
    """Make ``rfc3987_syntax`` import at once and build its grammar when first used."""
    if IRI_PACKAGE in sys.modules:
        return  # imported already (the grammar is built): nothing to save
    try:
        spec = importlib.util.find_spec(IRI_PACKAGE)
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    stand_in = types.ModuleType(IRI_PACKAGE, "Builds rfc3987_syntax's grammar on first use.")
    stand_in.__path__ = list(spec.submodule_search_locations)  # its submodules load as usual
    stand_in.__spec__ = spec

    def is_valid_syntax(term: str, value: str) -> Any:
        helpers = importlib.import_module(f"{IRI_PACKAGE}.syntax_helpers")
        return helpers.is_valid_syntax(term, value)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[IRI_PACKAGE] = stand_in
