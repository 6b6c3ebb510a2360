#!/usr/bin/env bash
# `npm test [-- jest arguments]`: the static checks (scripts/lint.sh --typecheck: tsc, eslint, prettier, shfmt,
# in parallel), then jest. Jest runs even when a check failed, so one run shows every failure; the exit code is
# non-zero if either failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit
bash scripts/lint.sh --typecheck
checks=$?
node_modules/.bin/jest "$@"
tests=$?
if ((checks != 0)); then
  echo "npm test: the static checks failed (above the jest output): npm run lint shows them again" >&2
  exit "$checks"
fi
exit "$tests"
