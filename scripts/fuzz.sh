#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ (STUN walk, VP8 descriptor, keyframe detection, the
# WebSocket decoder, SDP handling, upload sniffing) from its committed seed corpus.
#   scripts/fuzz.sh                 30 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh 600             10 minutes per target
#   scripts/fuzz.sh --runs 10000000 the long run: ten million executions per target
#   scripts/fuzz.sh 60 sdp stun     only these targets
# A crash fails the script and leaves its input in fuzz/artifacts/<target>/. New inputs libFuzzer
# finds go to a scratch corpus, not into the committed seeds. Needs cargo-fuzz (installed here
# if missing); RUSTC_BOOTSTRAP=1 lets the stable toolchain take the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export RUSTC_BOOTSTRAP=1

if [ "${1:-}" = "--runs" ]; then
  limit=(-runs="${2:?--runs needs a count}")
  shift 2
else
  limit=(-max_total_time="${1:-30}")
  shift $(( $# > 0 ? 1 : 0 ))
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(stun vp8 keyframe ws_decode sdp sdp_parse upload_sniff)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
# PARLEY_FUZZ_PROFILE=--dev builds unoptimized (half the build time, for short runs).
profile="${PARLEY_FUZZ_PROFILE:--O}"
(cd fuzz && cargo fuzz build "$profile")
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! (cd fuzz && cargo fuzz run "$profile" "$target" "$scratch/$target" "corpus/$target" -- \
      "${limit[@]}" -print_final_stats=1 >"$log" 2>&1); then
    tail -n 40 "$log"
    echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -n1)"
  echo "fuzz $target: ${runs:-see $log}, 0 crashes"
done
