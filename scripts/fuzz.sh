#!/usr/bin/env bash
# libFuzzer targets (clang from Debian): scripts/fuzz.sh TARGET SECONDS, or
# scripts/fuzz.sh all SECONDS. Targets: dns tls http pg redis mysql ssh.
# Seed corpora live in tests/fuzz/corpus/TARGET; crashes land in tests/fuzz/crashes.
#
# The profile loader, the hook parser and the scanner are not here: Debian 12's
# clang 14 cannot compile libstdc++ 12's std::expected, which they use (clang 16
# can); tests/unit covers them with hostile inputs instead.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:-60}
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-dev >/dev/null
    else
        echo "fuzz: install clang and libclang-rt-dev" >&2
        exit 1
    fi
fi
out=build-fuzz
mkdir -p "$out" tests/fuzz/crashes
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude)
build() {
    local name=$1
    shift
    [[ -x $out/$name && $out/$name -nt src/net/sniff.cpp && $out/$name -nt src/net/dns.cpp ]] && return
    clang++ "${flags[@]}" "$@" -o "$out/$name"
}
build fuzz_dns tests/fuzz/fuzz_dns.cpp src/net/dns.cpp
i=0
for s in tls http pg redis mysql ssh; do
    build "fuzz_$s" -DWHATIF_SNIFFER=$i tests/fuzz/fuzz_sniff.cpp src/net/sniff.cpp
    i=$((i + 1))
done
targets=("$target")
[[ $target == all ]] && targets=(dns tls http pg redis mysql ssh)
for t in "${targets[@]}"; do
    mkdir -p "tests/fuzz/corpus/$t"
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null || true
    log=$(mktemp)
    if "$out/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -artifact_prefix=tests/fuzz/crashes/ "$work" >"$log" 2>&1; then
        echo "fuzz $t: $(grep -o 'Done [0-9]* runs' "$log" | tail -1), no crash"
    else
        echo "fuzz $t: CRASH"
        tail -30 "$log"
        exit 1
    fi
    rm -rf "$work" "$log"
done
