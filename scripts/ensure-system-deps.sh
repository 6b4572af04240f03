#!/usr/bin/env bash
# Installs and starts what the tests need from the machine: skopeo (a real client), Debian's
# docker-registry (distribution 2.8, the reference) and a running PostgreSQL. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi

# The PostgreSQL tests connect as BERTH_TEST_POSTGRES_URL and create (then drop) a database of their
# own per test or per file, so all they need is a role that may create databases. Fail here, with
# a message, rather than in a hundred tests.
if command -v psql >/dev/null 2>&1; then
  test_url="${BERTH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
  if [ "$(psql "$test_url" -Atqc 'select rolcreatedb or rolsuper from pg_roles where rolname = current_user' 2>/dev/null)" != "t" ]; then
    echo "PostgreSQL at $test_url is unreachable or its role may not create databases; set BERTH_TEST_POSTGRES_URL" >&2
    exit 1
  fi
fi
