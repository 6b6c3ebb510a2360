#!/usr/bin/env bash
# The project's static checks, run by `npm test` (scripts/test.sh, with --typecheck) and `npm run lint`:
#   eslint            TypeScript rules (eslint.config.mjs), no type information: a few seconds
#   prettier --check  layout of TypeScript, JavaScript, JSON and YAML (.prettierrc.json, .prettierignore)
#   shfmt -d          layout of every shell script, found by extension or shebang (shfmt -f)
#   tsc --noEmit      with --typecheck
# The checks run in parallel (two cores); each one's output is printed whole, in this order.
# `scripts/lint.sh --write` (npm run format) rewrites the files instead: prettier --write and shfmt -w.
set -euo pipefail
cd "$(dirname "$0")/.."

SHFMT_FLAGS=(-i 2 -ci -sr) # also in .editorconfig, for editors
bin=node_modules/.bin
mode='check' typecheck=0
for arg in "$@"; do
  case "$arg" in
    --write) mode='write' ;;
    --typecheck) typecheck=1 ;;
    *)
      echo "usage: scripts/lint.sh [--write | --typecheck]" >&2
      exit 2
      ;;
  esac
done
if [[ ! -x "$bin/eslint" || ! -x "$bin/prettier" ]]; then
  echo "lint: eslint/prettier missing in node_modules: run npm ci (or scripts/setup.sh)" >&2
  exit 1
fi
if ! command -v shfmt > /dev/null; then
  echo "lint: shfmt missing: run scripts/setup.sh (Debian's shfmt package)" >&2
  exit 1
fi

# Every shell script outside node_modules and cdktf.out, with or without .sh (the boot stand-ins have none).
shell_files() {
  shfmt -f . | grep -Ev '^(node_modules|cdktf\.out|\.gen)/' | LC_ALL=C sort
}
cache=node_modules/.cache

if [[ $mode == write ]]; then
  "$bin/prettier" --write . --log-level warn --cache --cache-strategy content --cache-location "$cache/prettier/.prettier-cache"
  shell_files | xargs shfmt "${SHFMT_FLAGS[@]}" -w
  git diff --stat 2> /dev/null || true
  exit 0
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
names=()
run() { # run NAME COMMAND...: in the background, output into $out/NAME
  local name=$1
  shift
  names+=("$name")
  ("$@" > "$out/$name.log" 2>&1 && echo 0 > "$out/$name.rc" || echo $? > "$out/$name.rc") &
}
if ((typecheck)); then run tsc "$bin/tsc" --noEmit -p .; fi
run eslint "$bin/eslint" --cache --cache-location "$cache/eslint/" .
run prettier "$bin/prettier" --check . --log-level warn --cache --cache-strategy content --cache-location "$cache/prettier/.prettier-cache"
mapfile -t scripts < <(shell_files)
run shfmt shfmt "${SHFMT_FLAGS[@]}" -d "${scripts[@]}"
wait

failed=()
for name in "${names[@]}"; do
  if [[ -s "$out/$name.log" ]]; then cat "$out/$name.log"; fi
  if [[ $(cat "$out/$name.rc") != 0 ]]; then failed+=("$name"); fi
done
if ((${#failed[@]} > 0)); then
  echo "lint: ${failed[*]} failed; 'npm run format' fixes the layout (prettier, shfmt), eslint's findings are fixed by hand" >&2
  exit 1
fi
echo "lint: ok (${names[*]})"
