#!/usr/bin/env bash
# Runs shellcheck on every shell script git knows (by extension or by a bash shebang).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t scripts < <(git ls-files | while read -r f; do
  [[ -f $f ]] || continue
  if [[ $f == *.sh ]] || head -1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then echo "$f"; fi
done)
shellcheck -x "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
