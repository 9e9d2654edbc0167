#!/usr/bin/env bash
# Builds whatif and runs every test: once as the calling user and, when that is
# root, again as an unprivileged user this script creates (most bugs live there).
set -euo pipefail
cd "$(dirname "$0")/.."

# Usage: scripts/test.sh [--sanitize] [--long]
#   --sanitize  the same suites, built with AddressSanitizer and UBSan
#   --long      also the long tests (a million files, ...): WHATIF_TEST_LONG=1
sanitize=0
export WHATIF_TEST_LONG=${WHATIF_TEST_LONG:-0}
for arg in "$@"; do
    case $arg in
        --sanitize) sanitize=1 ;;
        --long) WHATIF_TEST_LONG=1 ;;
        *) echo "usage: scripts/test.sh [--sanitize] [--long]" >&2; exit 2 ;;
    esac
done
if ((sanitize)); then
    scripts/setup.sh --sanitize
    build=build-sanitize
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
else
    scripts/setup.sh
    build=build
fi
passed=0
failed=0

# Runs one doctest binary; adds its counts to the totals.
run_suite() {
    local label=$1
    shift
    local log
    log=$(mktemp)
    echo "== $label"
    if "$@" >"$log" 2>&1; then :; fi
    # Print failures in full, the summary always.
    grep -v '^\[doctest\] \(doctest version\|run with\)' "$log" || true
    local line
    line=$(grep -E '^\[doctest\] test cases:' "$log" | tail -1 || true)
    if [[ -z $line ]]; then
        echo "$label: the suite did not report (crashed?)"
        failed=$((failed + 1))
    else
        passed=$((passed + $(sed -E 's/.*\| *([0-9]+) passed.*/\1/' <<<"$line")))
        failed=$((failed + $(sed -E 's/.*\| *([0-9]+) failed.*/\1/' <<<"$line")))
    fi
    rm -f "$log"
}

run_suite "unit tests as $(id -un)" "$build/tests/whatif_unit_tests"
if [[ $build == build ]]; then
    echo "== install and package"
    if scripts/package-check.sh "$build"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
run_suite "integration tests as $(id -un)" "$build/tests/whatif_integration_tests"

if [[ $(id -u) -eq 0 ]]; then
    user=whatif-test
    id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
    # The build tree may sit under a directory the user cannot enter (/root).
    stage=$(mktemp -d /tmp/whatif-unpriv-XXXXXX)
    trap 'rm -rf "$stage"' EXIT
    cp "$build/whatif" "$build/tests/whatif_unit_tests" "$build/tests/whatif_integration_tests" "$stage/"
    mkdir "$stage/probes" "$stage/fixtures"
    find "$build/tests/security" -maxdepth 1 -type f -executable -exec cp {} "$stage/probes/" \;
    # Made by root for the unprivileged pass: a setuid-root and a file-capability
    # program, to show that they gain nothing inside.
    install -o root -g root -m 4755 "$stage/probes/caps_report" "$stage/fixtures/setuid_report"
    install -o root -g root -m 0755 "$stage/probes/caps_report" "$stage/fixtures/filecap_report"
    setcap cap_sys_admin,cap_dac_override,cap_sys_module+ep "$stage/fixtures/filecap_report"
    chmod -R a+rX "$stage"
    # Foreign owners (tests/integration/test_foreign_owners.cpp), made by root: every
    # layout lies beneath root-owned dirs ($stage/fixtures/foreign); the user is a
    # supplementary member of whatif-grp.
    getent group whatif-grp >/dev/null || groupadd whatif-grp
    id -nG "$user" | grep -qw whatif-grp || usermod -aG whatif-grp "$user"
    foreign="$stage/fixtures/foreign"
    for layout in rootparent suppgroup otheruser setgid; do
        proj="$foreign/$layout/proj"
        install -d -o root -g root -m 0755 "$foreign/$layout"
        install -d -o "$user" -g "$user" -m 0755 "$proj" "$proj/data"
        for file in data/a data/b f; do
            echo "$file" >"$proj/$file"
            chown "$user:$user" "$proj/$file"
        done
    done
    chown "$user:whatif-grp" "$foreign/suppgroup/proj/f" "$foreign/suppgroup/proj/data/a"
    chmod 0664 "$foreign/suppgroup/proj/f"
    chown nobody:whatif-grp "$foreign/otheruser/proj/f"
    chmod 0664 "$foreign/otheruser/proj/f"
    chown root:whatif-grp "$foreign/setgid/proj"
    chown -R "$user:whatif-grp" "$foreign/setgid/proj/data" "$foreign/setgid/proj/f"
    chmod 2775 "$foreign/setgid/proj" "$foreign/setgid/proj/data"
    chmod 0664 "$foreign/setgid/proj/f" "$foreign/setgid/proj/data/a" "$foreign/setgid/proj/data/b"
    as_user=(runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$(getent passwd "$user" | cut -d: -f6)"
             UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" WHATIF_TEST_LONG="$WHATIF_TEST_LONG"
             WHATIF_BIN="$stage/whatif" WHATIF_PROBES_DIR="$stage/probes" WHATIF_PRIV_FIXTURES="$stage/fixtures"
             WHATIF_FOREIGN_FIXTURES="$stage/fixtures/foreign")
    run_suite "unit tests as $user" "${as_user[@]}" "$stage/whatif_unit_tests"
    run_suite "integration tests as $user" "${as_user[@]}" "$stage/whatif_integration_tests"
fi

echo "tests: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
