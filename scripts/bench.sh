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
# The same whatif without capabilities dropping, no_new_privs and the seccomp
# filter (with its exec/connect notifications): what the hardening costs.
cmake -S . -B build-bench-unhardened -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWHATIF_BENCH_WITHOUT_HARDENING=ON -DWHATIF_TESTS=OFF >/dev/null
cmake --build build-bench-unhardened -j "$(nproc)" --target whatif >/dev/null
unhardened=$PWD/build-bench-unhardened/whatif
work=$(mktemp -d /tmp/whatif-bench-XXXXXX)
cleanup=("$work")
trap 'rm -rf "${cleanup[@]}"' EXIT
export WHATIF_HOME=$work/store

# The store's filesystem matters: every overlay mount makes and removes a few
# inodes in its work dir, and ext4 without a journal (some VMs) skips inodes deleted
# in the last minutes when it allocates, so back-to-back runs slow each other down.
store_fs=$(findmnt -no FSTYPE,SOURCE -T "$work")
journal=""
if [[ $store_fs == ext4* ]]; then
    dev=$(basename "$(findmnt -no SOURCE -T "$work")")
    [[ $(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null) == "<none>" ]] && journal=" (no journal)"
fi
shm_store=""
if [[ -d /dev/shm && -w /dev/shm && $(stat -f -c %T /dev/shm) == tmpfs ]]; then
    shm_store=$(mktemp -d /dev/shm/whatif-bench-XXXXXX)
    cleanup+=("$shm_store")
fi

echo "== setup cost: median wall time of a trivial command (run store: $store_fs$journal)"
hyperfine -N --warmup 5 --runs "${RUNS:-60}" --export-json "$work/setup.json" \
    "true" \
    "unshare -Urmnpf --mount-proc true" \
    "bwrap --bind / / --unshare-all true" \
    "$whatif run -n -- true" >/dev/null
"$whatif" discard $("$whatif" list | awk '{print $1}') >/dev/null 2>&1 || true
if [[ -n $shm_store ]]; then
    # The same on a tmpfs store, with and without the hardening: no disk in the way.
    WHATIF_HOME=$shm_store hyperfine -N --warmup 5 --runs "${RUNS:-60}" \
        --export-json "$work/setup-tmpfs.json" \
        "bwrap --bind / / --unshare-all true" \
        "$whatif run -n -- true" \
        "$unhardened run -n -- true" >/dev/null
else
    echo '{"results": []}' >"$work/setup-tmpfs.json"
fi
# Run as root, the same once more as nobody, the store on the same disk: root's
# mounts are overlaid whole, everyone else's are split where mounts lie beneath
# (README: How it works), and real users are not root.
echo '{"results": []}' >"$work/setup-unprivileged.json"
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
    nobody_dir=$(mktemp -d /tmp/whatif-bench-nobody-XXXXXX)
    cleanup+=("$nobody_dir")
    chown nobody "$nobody_dir"
    runuser -u nobody -- env HOME="$nobody_dir" WHATIF_HOME="$nobody_dir/store" \
        hyperfine -N --warmup 5 --runs "${RUNS:-60}" --export-json "$nobody_dir/setup.json" \
        "bwrap --bind / / --unshare-all true" \
        "$whatif run -n -- true" >/dev/null &&
        cp "$nobody_dir/setup.json" "$work/setup-unprivileged.json"
fi
python3 - "$work/setup.json" "$work/setup-tmpfs.json" "$unhardened" \
    "$work/setup-unprivileged.json" <<'PY'
import json, sys
def medians(path):
    return {r["command"]: r["median"] * 1000 for r in json.load(open(path))["results"]}
def table(med, note):
    bwrap = next(v for k, v in med.items() if "bwrap " in k)
    for k, v in med.items():
        label = k.replace(sys.argv[3], "(without hardening) whatif")
        print(f"  {v:8.2f} ms  {v / bwrap:5.2f}x bwrap   {label}{note if 'bwrap ' not in k else ''}")
table(medians(sys.argv[1]), "")
tmpfs = medians(sys.argv[2])
if tmpfs:
    table(tmpfs, "   [store on tmpfs]")
    hardened = next(v for k, v in tmpfs.items() if "/build/whatif" in k)
    bare = next(v for k, v in tmpfs.items() if sys.argv[3] in k)
    print(f"  capabilities + no_new_privs + seccomp filter and notifications: {hardened - bare:+.2f} ms")
unprivileged = medians(sys.argv[4])
if unprivileged:
    table(unprivileged, "   [as nobody]")
PY

echo "== scan: a command that creates 100,000 files"
mkdir -p "$work/tree"
cd "$work/tree"
"$whatif" run -v -n -- sh -c 'mkdir d && cd d && seq 1 100000 | xargs touch' 2>"$work/scan.log" >/dev/null || true
/usr/bin/time -f "  whatif run total: %e s, peak RSS %M kB" "$whatif" show last >/dev/null 2>&1 || true
grep -o 'scan: .*' "$work/scan.log" | awk '{ split($0, a, " "); n = a[2]; us = a[7];
    printf "  %s entries in %.1f ms: %.0f entries/s\n", n, us / 1000, n / (us / 1e6) }'

echo "== apply: a run that creates 10,000 files, 100 MB in all, against cp -a of the same tree"
mkdir -p "$work/src-tree"
python3 - "$work/src-tree" <<'PY'
import os, sys
root = sys.argv[1]
block = os.urandom(10 * 1024)
for d in range(100):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(100):
        with open(f"{root}/d{d}/f{f}", "wb") as out:
            out.write(block)
PY
apply_runs=${APPLY_RUNS:-5}
hyperfine -N --warmup 1 --runs "$apply_runs" --export-json "$work/apply.json" \
    --prepare "rm -rf $work/cp-target" "cp -a $work/src-tree $work/cp-target" \
    --prepare "sh -c 'rm -rf $work/apply-target; cd $work && $whatif run -n -- cp -a $work/src-tree $work/apply-target >/dev/null 2>&1; true'" \
    "$whatif apply" >/dev/null
python3 - "$work/apply.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
cp, ap = r[0]["median"] * 1000, r[1]["median"] * 1000
print(f"  cp -a        {cp:8.1f} ms")
print(f"  whatif apply {ap:8.1f} ms   {ap / cp:.2f}x cp -a")
PY

echo "== stub network: curl through the stub against --net none"
# -i: the exit status is the decision (3, ask: curl reached for the network).
hyperfine -N -i --warmup 3 --runs "${NET_RUNS:-30}" --export-json "$work/net.json" \
    "$whatif run -n -- curl -sS http://example.com" \
    "$whatif run -n --net none -- curl -sS http://example.com" >/dev/null 2>&1
python3 - "$work/net.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
stub, none = r[0]["median"] * 1000, r[1]["median"] * 1000
print(f"  --net stub {stub:7.2f} ms   --net none {none:7.2f} ms   difference {stub - none:+.2f} ms")
PY

echo "== agent hook: whatif hook claude-code on 'ls', end to end"
printf '{"tool_name":"Bash","tool_input":{"command":"ls"},"cwd":"%s"}' "$work" >"$work/hook.json"
hyperfine -w 5 -r "${HOOK_RUNS:-40}" --export-json "$work/hook.json.out" \
    "$whatif hook claude-code < $work/hook.json" >/dev/null 2>&1
python3 - "$work/hook.json.out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"  median {r['median'] * 1000:.1f} ms (min {r['min'] * 1000:.1f} ms), shell start-up included")
PY
