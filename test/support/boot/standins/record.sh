#!/usr/bin/env bash
# Sourced by the stand-ins: one JSON line per call (command, argv, working directory) for the test to read.
# Plain bash (no jq per call): a boot makes hundreds of these.
ARGV=("$@")
json_str() { # TEXT: a JSON string literal
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}
json_array() { # ITEM...: a JSON array of strings
  local out="" a
  for a in "$@"; do out+="${out:+,}$(json_str "$a")"; done
  printf '[%s]' "$out"
}
record() { # NAME [EXTRA_JSON]
  printf '{"cmd":%s,"cwd":%s,"argv":%s,"extra":%s}\n' "$(json_str "$1")" "$(json_str "$PWD")" "$(json_array "${ARGV[@]}")" "${2:-null}" \
    >> /run/wbt/log/commands.jsonl
}
