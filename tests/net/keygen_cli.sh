#!/bin/sh
# distro-cli keygen end to end: prints a 40-character public key, writes a
# 0600 keys file that loads, refuses to overwrite without --force, and
# requires --out. Usage: keygen_cli.sh path/to/distro-cli
set -u
cli="$1"
dir=$(mktemp -d "${TMPDIR:-/tmp}/distro-keygen-XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

key=$("$cli" keygen --out "$dir/a.keys" 2>"$dir/err") || fail "keygen exited $?: $(cat "$dir/err")"
[ ${#key} -eq 40 ] || fail "public key '$key' is not 40 characters"
grep -qxF "public $key" "$dir/a.keys" || fail "the printed key is not the file's public key"
mode=$(stat -c %a "$dir/a.keys")
[ "$mode" = 600 ] || fail "mode $mode, expected 600"

"$cli" keygen --out "$dir/a.keys" >/dev/null 2>"$dir/err"
[ $? -eq 1 ] || fail "overwriting without --force did not exit 1"
grep -q "exists" "$dir/err" || fail "no 'exists' in: $(cat "$dir/err")"
grep -qxF "public $key" "$dir/a.keys" || fail "a refused keygen changed the file"

key2=$("$cli" keygen --out "$dir/a.keys" --force 2>/dev/null) || fail "--force exited $?"
[ "$key2" != "$key" ] && grep -qxF "public $key2" "$dir/a.keys" || fail "--force did not replace"

"$cli" keygen >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing --out did not exit 2"
"$cli" keygen --help | grep -q -- "--out FILE" || fail "--help lacks --out"
echo "keygen_cli: all checks passed"
