#!/usr/bin/env bash
# Sourced by the stand-ins: one JSON line per call (command, argv, working directory) for the test to read.
# Plain bash (no jq per call): a boot makes hundreds of these.
ARGV=("$@")
json_str() { # TEXT: a JSON string literal, into $JSON (no subshell: a boot makes hundreds of these)
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/\\t}
  s=${s//$'\r'/\\r}
  JSON="\"${s}\""
}
json_array() { # ITEM...: a JSON array of strings, into $JSON
  local out="" a
  for a in "$@"; do
    json_str "$a"
    out+="${out:+,}${JSON}"
  done
  JSON="[${out}]"
}
record() { # NAME [EXTRA_JSON]
  local cmd cwd
  json_str "$1"
  cmd=$JSON
  json_str "$PWD"
  cwd=$JSON
  json_array "${ARGV[@]}"
  printf '{"cmd":%s,"cwd":%s,"argv":%s,"extra":%s}\n' "$cmd" "$cwd" "$JSON" "${2:-null}" >> /run/wbt/log/commands.jsonl
}
