#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian chromium and
# firefox-esr, coturn, the browser tests' npm packages, PostgreSQL if absent), starts PostgreSQL if it is
# not running, and NATS likewise, then runs fmt, clippy, every Rust test (the chat store suite against SQLite and
# PostgreSQL), the Autobahn|Testsuite close-handshake check, the headless Chromium and Firefox
# tests, and 20 s of every fuzz target. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

step "system packages"
command -v chromium >/dev/null 2>&1 || apt_install chromium
# Firefox ESR for the browser suite's second browser (firefox.test.mjs), driven by puppeteer-core.
command -v firefox-esr >/dev/null 2>&1 || apt_install firefox-esr
command -v node >/dev/null 2>&1 || apt_install nodejs npm
# coturn: the TURN server tests/tests/turn.rs relays through (started per test on loopback).
command -v turnserver >/dev/null 2>&1 || apt_install coturn
# GStreamer webrtcbin + libnice as a real non-browser client (tests/gst/parley_gst.py, run by
# tests/tests/gstreamer.rs with Debian's /usr/bin/python3); x264enc is in plugins-ugly.
/usr/bin/python3 -c 'import gi; gi.require_version("GstWebRTC", "1.0")' >/dev/null 2>&1 \
  && /usr/bin/python3 tests/gst/parley_gst.py check >/dev/null 2>&1 \
  || apt_install python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-ugly

step "OpenAPI validator"
# The server API's generated document is checked by the reference validator (tests/tests/admin.rs).
python3 -c 'import openapi_spec_validator' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages openapi-spec-validator
export PARLEY_REQUIRE_OPENAPI_VALIDATOR=1

step "Autobahn|Testsuite"
# The WebSocket close handshake is checked by Autobahn's fuzzing client (tests/tests/autobahn.rs);
# wstest runs on Python 2.7, which this machine kind has through pyenv.
WSTEST="$HOME/.pyenv/versions/2.7.18/bin/wstest"
if [ ! -x "$WSTEST" ]; then
  if [ ! -x "$HOME/.pyenv/versions/2.7.18/bin/python" ]; then
    command -v pyenv >/dev/null 2>&1 || { echo "pyenv is needed to install Python 2.7 for the Autobahn|Testsuite" >&2; exit 1; }
    pyenv install -s 2.7.18
  fi
  "$HOME/.pyenv/versions/2.7.18/bin/python" -m pip install --quiet --disable-pip-version-check autobahntestsuite
fi
export PARLEY_WSTEST="$WSTEST"

step "PostgreSQL"
PG_URL="${PARLEY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then apt_install postgresql; fi
  version="$(ls /etc/postgresql | sort -V | tail -n1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if pg_isready -q -h 127.0.0.1 -p 5432; then
  # A fresh Debian cluster wants a password over TCP; the suite's URL names the test database.
  psql "$PG_URL" -c 'select 1' >/dev/null 2>&1 || {
    as_root su postgres -c "psql -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
    as_root su postgres -c "createdb test" >/dev/null 2>&1 || true
    PG_URL="postgres://postgres:postgres@127.0.0.1:5432/test"
  }
  export PARLEY_TEST_POSTGRES_URL="$PG_URL"
else
  echo "PostgreSQL did not start: failing, since the store suite must run against it" >&2
  exit 1
fi

step "NATS"
# The multi-node tests (tests/tests/cluster.rs) join nodes over NATS: the machine's server on
# 127.0.0.1:4222, else one started here (Debian's nats-server) and left running like PostgreSQL.
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_install nats-server
  NATS_BIN="$(command -v nats-server || echo /usr/sbin/nats-server)"
  setsid "$NATS_BIN" -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/parley-test-nats" \
    > "${TMPDIR:-/tmp}/parley-test-nats.log" 2>&1 < /dev/null &
  for _ in $(seq 1 30); do nats_up && break; sleep 0.5; done
fi
nats_up || { echo "NATS did not start: failing, since the multi-node tests need it" >&2; exit 1; }
export PARLEY_TEST_NATS_URL="nats://127.0.0.1:4222"

step "browser test packages"
# playwright-core and puppeteer-core drive the Debian browsers above; neither may download one.
export PUPPETEER_SKIP_DOWNLOAD=1
(cd tests/browser && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

step "web client: tsc, declarations, SDK unit tests"
(
  cd tests/browser
  # The SDK and the app are plain JS checked through their JSDoc types.
  node_modules/.bin/tsc -p ../../web-client/tsconfig.json
  # sdk/types/ is committed for npm consumers; fail if it no longer matches the JSDoc.
  types_out="$(mktemp -d)"
  node_modules/.bin/tsc -p ../../web-client/sdk/tsconfig.json --outDir "$types_out"
  diff -ru ../../web-client/sdk/types "$types_out" || {
    echo "web-client/sdk/types is stale: run 'npx tsc -p ../../web-client/sdk/tsconfig.json' in tests/browser" >&2
    exit 1
  }
  rm -rf "$types_out"
  # An embedder's TypeScript against the package's exports and declarations.
  node_modules/.bin/tsc -p types/tsconfig.json
  node --test unit/
)

step "browser tests (headless Chromium and Firefox)"
# `cargo test` built target/debug/parley (signaling's CLI tests run it) with the workspace's
# feature set; a separate `cargo build -p` would resolve features anew and rebuild half the tree.
test -x target/debug/parley
# One file at a time: each runs several Chromium pages encoding video, and two cores are few.
PARLEY_BIN="$PWD/target/debug/parley" node --test --test-concurrency=1 tests/browser/*.test.mjs

step "fuzzing (20 s per target)"
# Every parser of network input in Parley's own code under libFuzzer (fuzz/, cargo-fuzz); the
# long run is scripts/fuzz.sh --runs 10000000.
(cd fuzz && cargo fmt --check)
# Unoptimized: the instrumented build is a second build of the whole tree, and this is a smoke
# run; the long run (optimized) is scripts/fuzz.sh --runs 10000000.
PARLEY_FUZZ_PROFILE=--dev scripts/fuzz.sh 20
