#!/usr/bin/env bash
# The storage conformance suite needs the PostgreSQL at $OSPREY_TEST_POSTGRES_URL. Machines of
# this kind run one on 127.0.0.1:5432; start it if it has stopped.
set -euo pipefail
url=${OSPREY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if pg_isready -d "$url" -q 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null; then
  for v in $(ls /etc/postgresql 2>/dev/null); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
fi
for _ in $(seq 1 30); do pg_isready -d "$url" -q && exit 0; sleep 1; done
echo "PostgreSQL at $url is not answering; the conformance suite needs it" >&2
exit 1
