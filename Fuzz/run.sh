#!/usr/bin/env bash
# Builds the libFuzzer target and fuzzes the manifest loader.
#   Fuzz/run.sh [SECONDS]     default 600 (ten minutes)
# Seeds: the examples, the reference manifests, the broken-manifest corpus and every past crasher.
# A crash, hang (-timeout) or leak (AddressSanitizer) stops the run with a crash-*/timeout-*/leak-*
# file in Fuzz/; copy it into Tests/ReconcileManifestTests/FuzzRegressions/ so it stays a test.
set -euo pipefail
seconds="${1:-600}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
swift build --package-path Fuzz -c release --scratch-path .build-fuzz \
    --sanitize=fuzzer --sanitize=address
binary="$(swift build --package-path Fuzz -c release --scratch-path .build-fuzz --show-bin-path)/FuzzManifestLoader"
corpus="$root/Fuzz/corpus"
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$corpus"
i=0
for file in examples/*/*.yaml manifests/*.yaml Tests/ReconcileManifestTests/Corpus/*/*.yaml \
    Tests/ReconcileManifestTests/FuzzRegressions/*; do
    [ -f "$file" ] || continue
    i=$((i + 1))
    cp "$file" "$seeds/seed-$i"
done
cd "$root/Fuzz"
LSAN_OPTIONS="suppressions=$root/Fuzz/lsan.supp:print_suppressions=1" "$binary" "$corpus" "$seeds" -dict="$root/Fuzz/manifest.dict" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1
