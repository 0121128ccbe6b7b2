#!/usr/bin/env bash
# Fails when git tracks a file over 1 MiB: built binaries, databases and
# captures belong in .gitignore'd folders (bin/, .local/), not in history.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((1024 * 1024))
large=$(git ls-files -z --cached | while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue
	size=$(stat -c %s "$f")
	if [ "$size" -gt "$limit" ]; then echo "  $f ($size bytes)"; fi
done)
if [ -n "$large" ]; then
	echo "tracked files over 1 MiB (remove them with git rm --cached and add them to .gitignore):"
	echo "$large"
	exit 1
fi
