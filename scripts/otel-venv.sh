#!/usr/bin/env bash
# Installs the OpenTelemetry Python SDK that server/tests/otel_sdk.rs exports through, into a
# venv at $HOME/.cache/osprey/otel-venv. Idempotent: does nothing when the pinned versions are
# already there.
set -euo pipefail

OTEL_VERSION=1.45.2 # opentelemetry-api, -sdk, -proto and -exporter-otlp-proto-http
venv="$HOME/.cache/osprey/otel-venv"
packages=(
  "opentelemetry-api==$OTEL_VERSION"
  "opentelemetry-sdk==$OTEL_VERSION"
  "opentelemetry-proto==$OTEL_VERSION"
  "opentelemetry-exporter-otlp-proto-http==$OTEL_VERSION"
)
stamp="$venv/.osprey-packages"

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${packages[*]}" ]; then
  exit 0
fi

printf '\033[1m== %s\033[0m\n' "installing the OpenTelemetry Python SDK $OTEL_VERSION into $venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
printf '%s' "${packages[*]}" >"$stamp"
