#!/usr/bin/env bash
# Installs into a DESTDIR and builds the .deb, then checks both: the installed
# binary runs with the installed profiles; the package declares its dependencies
# and holds the binary, profiles, completions and man page.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=$(mktemp -d /tmp/whatif-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then
        passed=$((passed + 1))
    else
        echo "package check FAILED: $what"
        failed=$((failed + 1))
    fi
}

DESTDIR="$work/root" cmake --install "$build" --prefix /usr >/dev/null
root="$work/root"
check "binary installed" test -x "$root/usr/bin/whatif"
check "profiles installed" test -f "$root/usr/share/whatif/profiles/agent.toml"
check "bash completion installed" test -f "$root/usr/share/bash-completion/completions/whatif"
check "zsh completion installed" test -f "$root/usr/share/zsh/vendor-completions/_whatif"
check "fish completion installed" test -f "$root/usr/share/fish/vendor_completions.d/whatif.fish"
check "man page installed" test -f "$root/usr/share/man/man1/whatif.1"
check "man page renders" sh -c "man -l '$root/usr/share/man/man1/whatif.1' | grep -q 'disposable copy'"
check "installed binary runs" "$root/usr/bin/whatif" --version
# Opened when a changed database is read, not mapped at every start (databases.cpp).
check "libsqlite3 is not loaded at start" sh -c "! readelf -d '$root/usr/bin/whatif' | grep NEEDED | grep -q sqlite"
check "installed profiles load" env WHATIF_PROFILES="$root/usr/share/whatif/profiles" \
    sh -c "'$root/usr/bin/whatif' profiles show agent | grep -q '$root/usr/share/whatif/profiles/agent.toml'"
check "installed binary dry-runs" env WHATIF_HOME="$work/store" sh -c "cd '$work' && '$root/usr/bin/whatif' -n -- true"

(cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null)
deb=$(ls "$work"/deb/*.deb)
check "package control declares libseccomp" sh -c "dpkg-deb -f '$deb' Depends | grep -q libseccomp"
check "package control declares libcap" sh -c "dpkg-deb -f '$deb' Depends | grep -q libcap"
check "package control declares libsqlite3" sh -c "dpkg-deb -f '$deb' Depends | grep -q libsqlite3"
check "package control recommends git" sh -c "dpkg-deb -f '$deb' Recommends | grep -q git"
check "package holds the binary" sh -c "dpkg-deb -c '$deb' | grep -q './usr/bin/whatif'"
check "package holds the profiles" sh -c "dpkg-deb -c '$deb' | grep -q './usr/share/whatif/profiles/default.toml'"
check "package holds the man page" sh -c "dpkg-deb -c '$deb' | grep -q 'man1/whatif.1'"
echo "package: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
