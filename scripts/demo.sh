#!/usr/bin/env bash
# Builds whatif, then dry-runs a destructive command on a scratch project and
# shows that the real files are still there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
whatif=$PWD/build/whatif

scratch=$(mktemp -d /tmp/whatif-demo-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export WHATIF_HOME=$scratch/store  # keep the demo's runs out of your own store
mkdir -p "$scratch/project/data/2024" "$scratch/project/src"
for i in $(seq 1 200); do echo "row $i" >"$scratch/project/data/2024/part-$i.csv"; done
printf 'retries = 3\n' >"$scratch/project/config.toml"
echo 'int main() { return 0; }' >"$scratch/project/src/main.c"
cd "$scratch/project"

echo "\$ whatif -- sh -c 'rm -rf data && sed -i s/3/0/ config.toml && echo done > build.log'"
status=0
"$whatif" -- sh -c 'rm -rf data && sed -i s/3/0/ config.toml && echo done > build.log' || status=$?
echo "(whatif exit status: $status — 3 means: ask before doing this for real)"
echo
echo "\$ whatif diff last config.toml"
"$whatif" diff last config.toml
echo
echo "The real project is untouched:"
echo "  data files still there: $(find data -type f | wc -l)"
echo "  config.toml: $(cat config.toml)"
[[ $status -eq 3 ]]
