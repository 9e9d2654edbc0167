#!/usr/bin/env bash
# libFuzzer targets, built with clang 16 from Debian (cmake -DWHATIF_FUZZ=ON):
#   scripts/fuzz.sh TARGET SECONDS     one target
#   scripts/fuzz.sh all SECONDS        every target, SECONDS each
# Targets: dns tls http pg redis mysql ssh profile hook-claude-code hook-codex
# hook-gemini hook-cursor scanner.
# Seeds live in tests/fuzz/corpus/TARGET. Inputs that once crashed live in
# tests/fuzz/regressions/TARGET and are replayed first; a new crash is saved in
# tests/fuzz/crashes/ (copy it to regressions/ once fixed, and add a unit test).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:-60}
all_targets=(dns tls http pg redis mysql ssh profile hook-claude-code hook-codex hook-gemini hook-cursor scanner)

scripts/setup.sh --deps-only
if ! command -v clang++-16 >/dev/null || ! ls /usr/lib/llvm-16/lib/clang/16/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        echo "fuzz: installing clang-16 libclang-rt-16-dev"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang-16 libclang-rt-16-dev >/dev/null
    else
        echo "fuzz: needs clang-16 and libclang-rt-16-dev: sudo apt-get install -y clang-16 libclang-rt-16-dev" >&2
        exit 1
    fi
fi

build=build-fuzz
CXX=clang++-16 cmake -S . -B "$build" -DWHATIF_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

targets=("$target")
[[ $target == all ]] && targets=("${all_targets[@]}")
work=$(mktemp -d /tmp/whatif-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p tests/fuzz/crashes
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    [[ -x $bin ]] || { echo "fuzz: no target '$t' (${all_targets[*]})" >&2; exit 2; }
    log=$work/$t.log
    # Every input that once crashed must stay fixed.
    if compgen -G "tests/fuzz/regressions/$t/*" >/dev/null; then
        if ! TMPDIR=$work "$bin" tests/fuzz/regressions/"$t"/* >"$log" 2>&1; then
            echo "fuzz $t: a regression input crashes again"
            tail -30 "$log"
            exit 1
        fi
    fi
    corpus=$work/corpus-$t
    mkdir -p "$corpus"
    cp -r "tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null || true
    [[ $t == profile ]] && cp profiles/*.toml "$corpus/"
    if TMPDIR=$work "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix=tests/fuzz/crashes/"$t"- "$corpus" >"$log" 2>&1; then
        echo "fuzz $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1), no crash"
    else
        echo "fuzz $t: CRASH (input saved under tests/fuzz/crashes/)"
        tail -30 "$log"
        exit 1
    fi
done
