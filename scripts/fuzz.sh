#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, cargo-fuzz layout, libFuzzer) and runs each for a bounded time.
#
#   scripts/fuzz.sh            # every target, FUZZ_SECS (default 10) seconds each
#   scripts/fuzz.sh ws_query   # one target
#
# Built with the stable toolchain and no sanitizer (`-s none`): libFuzzer's coverage guidance
# works there; AddressSanitizer would need nightly, and the code fuzzed has no `unsafe`. The
# corpus grows in fuzz/corpus/ between runs; a crash is saved in fuzz/artifacts/ and fails this.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION=0.13.2
secs="${FUZZ_SECS:-10}"

if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd fuzz
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -s none -O
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for ${secs}s" >&2
  cargo fuzz run -s none -O "$target" -- -max_total_time="$secs" 2>&1 | tail -n 1
done
