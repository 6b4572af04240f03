#!/usr/bin/env bash
# Installs and starts what the tests need from the machine: real clients (skopeo; docker.io,
# podman, buildah, containerd for the client harness in test/support), Debian's docker-registry
# (distribution 2.8, the reference), htpasswd and openssl for its auth modes (openssl and curl
# for the TLS tests too), Prometheus (a real scraper for the metrics test; its service is not
# started), Swift and memcached for the S3 store's tests (not started here), nginx for the scale-out test (not started here), Chromium for the web UI's browser tests, and a running PostgreSQL. Idempotent. The daemons (dockerd, containerd) are not started here: each test file
# starts its own, by hand, in a temp dir (test/support/docker-engine.ts, containerd.ts).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
# dockerd lives in /usr/sbin, which a non-login PATH may lack.
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
{ command -v containerd && command -v ctr; } >/dev/null 2>&1 || missing+=(containerd)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Prometheus itself scrapes berth in test/interop/metrics.test.ts; its promtool checks the text format.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# curl with HTTP/2 (nghttp2) for the TLS / HTTP/2 interop tests.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# OpenStack Swift all-in-one with its S3 layer (s3api, tempauth with memcached): the real S3-compatible
# server the S3 blob store's tests start in a temp dir (packages/blobs-s3/test/support/swift.ts).
for server in proxy object container account; do
  [ -x "/usr/bin/swift-$server-server" ] || missing+=("swift-$server")
done
[ -x /usr/bin/memcached ] || missing+=(memcached)
# nginx as the load balancer in front of three instances (test/interop/scale-out.test.ts); started by hand in a temp dir.
[ -x /usr/sbin/nginx ] || missing+=(nginx)
# Debian's Chromium for the web UI's browser tests (test/interop/ui.test.ts drives it with playwright-core; no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ((${#missing[@]} > 0)); then
  echo "installing ${missing[*]}"
  # Package scripts must not start the system's docker/containerd services (without systemd,
  # docker.io's postinst runs `invoke-rc.d docker start || exit 1`, which fails the install where
  # dockerd cannot start with its defaults). Deny service starts for the duration of the install
  # unless the machine already has a policy of its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  NEEDRESTART_SUSPEND=1 apt-get install -y -qq "${missing[@]}" >/dev/null
  if [ "$(trap -p EXIT)" != "" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
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
