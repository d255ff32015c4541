#!/usr/bin/env bash
# Start Debian's PostgreSQL cluster for the tests, make sure role 'kit' and database 'kit_test'
# exist, and export KIT_TEST_POSTGRES_URL. Source it so the variable reaches your shell:
#
#   . scripts/start-postgres.sh && python3 -m pytest -m postgres
#
# Does nothing but print the URL when KIT_TEST_POSTGRES_URL is already set.
_kit_pg_main() {
    if [[ -n "${KIT_TEST_POSTGRES_URL:-}" ]]; then
        echo "postgres: using KIT_TEST_POSTGRES_URL from the environment"
        return 0
    fi
    if ! command -v pg_lsclusters >/dev/null; then
        echo "postgres: not installed; run 'bash scripts/setup.sh --test' (apt-get install postgresql)." >&2
        return 1
    fi
    local version cluster port status
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$version" ]]; then
        echo "postgres: no server version found under /usr/lib/postgresql" >&2
        return 1
    fi
    if ! pg_lsclusters -h | awk -v v="$version" '$1 == v {found=1} END {exit !found}'; then
        echo "postgres: creating cluster $version/main"
        pg_createcluster "$version" main >/dev/null || return 1
    fi
    read -r _ cluster port status _ < <(pg_lsclusters -h | awk -v v="$version" '$1 == v' | head -n 1)
    if [[ "$status" != online* ]]; then
        echo "postgres: starting cluster $version/$cluster on port $port"
        pg_ctlcluster "$version" "$cluster" start || return 1
    fi
    local i
    for i in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p "$port" && break
        sleep 1
    done
    if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
        echo "postgres: the server on port $port did not become ready" >&2
        return 1
    fi
    local as_postgres=(runuser -u postgres --)
    if [[ "$(id -u)" != "0" ]]; then as_postgres=(sudo -u postgres); fi
    "${as_postgres[@]}" psql -q -p "$port" -v ON_ERROR_STOP=1 -d postgres <<'SQL' >/dev/null || return 1
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kit') THEN
    CREATE ROLE kit LOGIN PASSWORD 'kit';
  END IF;
END$$;
SQL
    if ! "${as_postgres[@]}" psql -tA -p "$port" -d postgres \
            -c "SELECT 1 FROM pg_database WHERE datname = 'kit_test'" | grep -q 1; then
        "${as_postgres[@]}" createdb -p "$port" -O kit kit_test || return 1
    fi
    export KIT_TEST_POSTGRES_URL="postgresql+psycopg://kit:kit@127.0.0.1:${port}/kit_test"
    echo "postgres: KIT_TEST_POSTGRES_URL=$KIT_TEST_POSTGRES_URL"
}
_kit_pg_main
