#!/usr/bin/env bash
# Installs the Debian 12 packages whatif needs (apt-get) and builds it into build/.
# Usage: scripts/setup.sh [--sanitize | --deps-only]
#   --sanitize    build into build-sanitize/ with ASan and UBSan
#   --deps-only   install the packages, build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case $mode in
    "" | --sanitize | --deps-only) ;;
    *) echo "usage: scripts/setup.sh [--sanitize | --deps-only]" >&2; exit 2 ;;
esac

packages=(
    build-essential cmake pkg-config dpkg-dev man-db
    libseccomp-dev libcap-dev libboost-dev libboost-filesystem-dev
    libspdlog-dev libfmt-dev doctest-dev libcli11-dev libtomlplusplus-dev
    nlohmann-json3-dev libxxhash-dev libdtl-dev libsqlite3-dev
    libcap2-bin python3 perl git make
    curl wget postgresql-client redis-tools openssh-client dnsutils default-mysql-client sqlite3
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]]; then
        apt_get=(apt-get)
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        apt_get=(sudo apt-get)
    else
        echo "whatif: these Debian packages are missing and this user cannot install them:" >&2
        echo "  ${missing[*]}" >&2
        echo "ask an administrator to run:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

[[ $mode == --deps-only ]] && exit 0

build_dir=build
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ $mode == --sanitize ]]; then
    build_dir=build-sanitize
    cmake_args+=(-DWHATIF_SANITIZE=ON)
fi
cmake -S . -B "$build_dir" "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built $build_dir/whatif"
