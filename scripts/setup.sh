#!/usr/bin/env bash
# Set up a fresh Debian machine (root, Python 3.11 + pip) for the kit. Idempotent: Debian packages
# are installed only when one is missing, the Python package only when pyproject.toml changed.
#
#   bash scripts/setup.sh          # what 'make demo' needs: chromium, poppler-utils, fonts, kit
#   bash scripts/setup.sh --test   # also PostgreSQL and nginx (for 'make test')
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
PACKAGES=(chromium poppler-utils fonts-dejavu-core fonts-liberation)
if [[ "${1:-}" == "--test" ]]; then
    PACKAGES+=(postgresql nginx)  # nginx: tests/deploy runs it with scripts/start-nginx.sh
fi

# -- Debian packages -------------------------------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "setup: missing ${missing[*]}, and apt-get is not available; install them by hand." >&2
        exit 1
    fi
    SUDO=""
    if [[ "$(id -u)" != "0" ]]; then
        if command -v sudo >/dev/null; then SUDO="sudo"; else
            echo "setup: installing ${missing[*]} needs root; run as root or install sudo." >&2
            exit 1
        fi
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# -- the kit (editable, with the test tools) -------------------------------------------------------
mkdir -p var
stamp="var/.setup-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]] || ! "$PYTHON" -c "import kit, pandas, sqlalchemy, pytest" 2>/dev/null \
        || ! command -v kit >/dev/null; then
    echo "setup: pip install -e '.[dev]'"
    # Debian's own python refuses pip installs (PEP 668) unless told; a venv or pyenv python does not.
    if "$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
        export PIP_BREAK_SYSTEM_PACKAGES=1
    fi
    pip_args=(--disable-pip-version-check --root-user-action=ignore -q)
    # With setuptools already there, build in place (no download of a build environment).
    if "$PYTHON" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' 2>/dev/null; then
        pip_args+=(--no-build-isolation)
    fi
    "$PYTHON" -m pip install "${pip_args[@]}" -e '.[dev]'
    rm -f var/.setup-*
    touch "$stamp"
fi
# -- the kit's bytecode: with PYTHONDONTWRITEBYTECODE set (as on some CI machines) nothing caches
# it, and every worker, kernel and server compiles the kit again (0.3 s of CPU each). A stale file
# is ignored by Python (it checks the source's time), so this is only ever a saving.
"$PYTHON" -m compileall -q kit >/dev/null || true
# -- axe-core (accessibility checks of the pages in the tests), from npm into var/npm -----------
if command -v npm >/dev/null && [[ ! -f var/npm/node_modules/axe-core/axe.min.js ]]; then
    echo "setup: npm install axe-core (var/npm)"
    npm install --prefix var/npm --no-audit --no-fund --silent axe-core@4 \
        || echo "setup: axe-core not installed; the accessibility tests will be skipped." >&2
fi
echo "setup: ready ($("$PYTHON" --version), kit $("$PYTHON" -c 'import kit; print(kit.__version__)'))"
