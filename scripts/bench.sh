#!/usr/bin/env bash
# Setup cost and scan speed, measured with hyperfine against native, unshare and
# bwrap in the same run. Prints medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
for tool in hyperfine bwrap; do
    if ! command -v "$tool" >/dev/null; then
        pkg=$tool
        [[ $tool == bwrap ]] && pkg=bubblewrap
        if [[ $(id -u) -eq 0 ]]; then apt-get install -y -q "$pkg" >/dev/null; else echo "bench: install $pkg" >&2; exit 1; fi
    fi
done
whatif=$PWD/build/whatif
work=$(mktemp -d /tmp/whatif-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
export WHATIF_HOME=$work/store

echo "== setup cost: median wall time of a trivial command"
hyperfine -N --warmup 5 --runs "${RUNS:-60}" --export-json "$work/setup.json" \
    "true" \
    "unshare -Urmnpf --mount-proc true" \
    "bwrap --bind / / --unshare-all true" \
    "$whatif run -n -- true" >/dev/null
python3 - "$work/setup.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
bwrap = next(v for k, v in med.items() if k.startswith("bwrap"))
for k, v in med.items():
    print(f"  {v:8.2f} ms  {v / bwrap:5.2f}x bwrap   {k}")
PY
"$whatif" discard $("$whatif" list | awk '{print $1}') >/dev/null 2>&1 || true

echo "== scan: a command that creates 100,000 files"
mkdir -p "$work/tree"
cd "$work/tree"
"$whatif" run -v -n -- sh -c 'mkdir d && cd d && seq 1 100000 | xargs touch' 2>"$work/scan.log" >/dev/null || true
/usr/bin/time -f "  whatif run total: %e s, peak RSS %M kB" "$whatif" show last >/dev/null 2>&1 || true
grep -o 'scan: .*' "$work/scan.log" | awk '{ split($0, a, " "); n = a[2]; us = a[7];
    printf "  %s entries in %.1f ms: %.0f entries/s\n", n, us / 1000, n / (us / 1e6) }'
