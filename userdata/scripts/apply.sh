#!/usr/bin/env bash
# weebeetalk-apply (WBT_APPLY): applies a configuration bundle (userdata/bundle.ts) to this host, in place.
#   weebeetalk-apply --bucket BUCKET --key KEY --sha256 SUM   what State Manager's association runs on a change
#   weebeetalk-apply --current    the bundle the plan names now (the SSM parameter WBT_BUNDLE_PARAMETER): first boot
#   weebeetalk-apply --rollback   the bundle applied before the current one, kept on the host
#   weebeetalk-apply --status     what is applied
# A bundle is refused unless its checksum is SUM and it is this host's (role and environment). Files are written
# atomically, only those that differ; the role's hook (the bundle's own) then reloads only the services whose
# files changed. Data, generated passwords and certificates are never touched. Log: /var/log/weebeetalk/apply.log.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_settings
usage() { die "usage: ${0##*/} --bucket BUCKET --key KEY --sha256 SUM | --current | --rollback | --status"; }

bucket="" key="" sum="" mode=""
while (($# > 0)); do
  case $1 in
    --bucket | --key | --sha256)
      (($# >= 2)) || usage
      case $1 in --bucket) bucket=$2 ;; --key) key=$2 ;; --sha256) sum=$2 ;; esac
      mode=fetch
      shift 2
      ;;
    --current | --rollback | --status)
      mode=${1#--}
      shift
      ;;
    *) usage ;;
  esac
done
[[ -n "$mode" ]] || usage
state=$WBT_BUNDLES
if [[ "$mode" == status ]]; then
  if [[ -s "${state}/current.sha256" ]]; then
    echo "applied: $(cat "${state}/current.sha256") ($(stat -c %y "${state}/current.sha256"))"
  else
    echo "applied: nothing yet"
  fi
  if [[ -s "${state}/previous.sha256" ]]; then echo "previous: $(cat "${state}/previous.sha256") (${WBT_APPLY} --rollback)"; fi
  if [[ -s "${state}/pending" ]]; then echo "services still to reload (the last hook failed): $(paste -sd ' ' "${state}/pending")"; fi
  exit 0
fi

install -d -m 0750 "$WBT_LOG_DIR" "$WBT_STATE_DIR"
install -d -m 0700 "$state"
exec > >(tee -a "${WBT_LOG_DIR}/apply.log") 2>&1

# One apply at a time. The bootstrap holds the lock from its first step to its first apply (and says so): an
# association that runs while the host is still booting waits here, then finds its bundle applied.
if [[ "${WBT_APPLY_LOCKED:-}" != 1 ]]; then
  exec 9> "$WBT_APPLY_LOCK"
  flock -w 3300 9 || die "another apply (or the bootstrap) has held ${WBT_APPLY_LOCK} for 55 minutes"
  [[ -e "${WBT_STATE_DIR}/bootstrap.done" ]] || die "the bootstrap has not completed on this host (see ${WBT_LOG_DIR}/bootstrap.log): run ${WBT_BOOTSTRAP} first"
fi
load_env
# Every byte of state (Jitsi's generated passwords, certificates, Asterisk's configuration) is on the data volume:
# written to the root filesystem instead, it would be regenerated there and lost with the instance.
mountpoint -q "$DATA_DIR" || die "the data volume is not mounted at ${DATA_DIR}: not applying anything (see ${WBT_LOG_DIR}/bootstrap.log)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
paths=()

case $mode in
  current)
    # s3://BUCKET/bundles/<role>/<sha256>.json: content-addressed, so the name gives the checksum.
    location=$(ssm_get "$WBT_BUNDLE_PARAMETER")
    [[ "$location" =~ ^s3://([a-z0-9][a-z0-9.-]+)/(bundles/[a-z]+/([0-9a-f]{64})\.json)$ ]] || die "${WBT_BUNDLE_PARAMETER} holds ${location}, not a bundle's location"
    bucket=${BASH_REMATCH[1]} key=${BASH_REMATCH[2]} sum=${BASH_REMATCH[3]}
    ;;
  rollback)
    [[ -s "${state}/previous.json" && -s "${state}/previous.sha256" ]] || die "no previous bundle on this host to roll back to"
    sum=$(cat "${state}/previous.sha256")
    cp "${state}/previous.json" "${work}/bundle.json"
    log "rolling back to bundle ${sum}: State Manager applies the plan's bundle again at its next change; to stay here, revert the configuration and deploy"
    ;;
esac
[[ "$sum" =~ ^[0-9a-f]{64}$ ]] || die "checksum '${sum}' is not a sha256"
if [[ "$mode" != rollback ]]; then
  [[ "$key" == "bundles/${WBT_ROLE}/${sum}.json" ]] || die "refused: ${key} is not the ${WBT_ROLE} bundle ${sum} (bundles/${WBT_ROLE}/<sha256>.json)"
  retry 5 10 aws s3 cp --region "$AWS_REGION" --only-show-errors "s3://${bucket}/${key}" "${work}/bundle.json" || die "cannot download s3://${bucket}/${key}"
fi
got=$(sha256sum "${work}/bundle.json" | cut -d' ' -f1)
[[ "$got" == "$sum" ]] || die "refused: the bundle's checksum is ${got}, not ${sum}; nothing changed"
bundle=${work}/bundle.json
jq -e --arg role "$WBT_ROLE" --arg env "$WBT_ENVIRONMENT" '.format == 1 and .role == $role and .environment == $env' "$bundle" > /dev/null ||
  die "refused: bundle ${sum} is not a bundle (format 1) of the ${WBT_ROLE} host of ${WBT_ENVIRONMENT}; nothing changed"

# Every field as the apply writes it: absolute paths, octal modes, numeric owners, no NUL anywhere (bash reads
# the fields NUL-separated below).
jq -e '.hook | test("^/[A-Za-z0-9._/-]+$")' "$bundle" > /dev/null || die "refused: bundle ${sum} names no hook"
jq -e '.files | all((.path | test("^/[A-Za-z0-9._/@+-]+$")) and (.mode | test("^0[0-7]{3}$")) and (.owner | test("^[0-9]+:[0-9]+$")) and (any(.content | explode[]; . == 0) | not) and ((.services | join(" ")) | test("^[a-z0-9 -]*$")))' "$bundle" > /dev/null ||
  die "refused: bundle ${sum} has a file with an unusable path, mode, owner, content or service name; nothing changed"

first=1
if [[ -s "${state}/current.sha256" ]]; then first=0; fi
# Services whose files changed: this bundle's, and those a failed hook left (the files are written already).
changed=()
if [[ -s "${state}/pending" ]]; then mapfile -t changed < "${state}/pending"; fi

# Every file of the bundle, written only when its content, mode or owner differ. One jq writes the fields of all
# files NUL-separated (checked above: no field holds one) and bash stages the contents, so an apply that changes nothing
# costs a handful of processes, not several per file. (Through files, not pipes: a failed jq must stop the apply.)
[[ "$PUBLIC_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "PUBLIC_IP '${PUBLIC_IP}' is not an IPv4 address"
jq -j '.files[] | .path, "\u0000", .mode, "\u0000", .owner, "\u0000", (.render | tostring), "\u0000", (.services | join(" ")), "\u0000", .content, "\u0000"' "$bundle" > "${work}/files.bin"
stage=${work}/stage
mkdir "$stage"
paths=() modes=() owners=() svcs=()
n=0
while IFS= read -r -d '' path && IFS= read -r -d '' fmode && IFS= read -r -d '' owner && IFS= read -r -d '' rendered &&
  IFS= read -r -d '' services && IFS= read -r -d '' content; do
  # The Elastic IP for its placeholder, where the bundle says so.
  if [[ "$rendered" == true ]]; then content=${content//@PUBLIC_IP@/$PUBLIC_IP}; fi
  printf '%s' "$content" > "${stage}/${n}"
  paths+=("$path") modes+=("$fmode") owners+=("$owner") svcs+=("$services")
  n=$((n + 1))
done < "${work}/files.bin"
((n == $(jq '.files | length' "$bundle"))) || die "bundle ${sum}: could not read all its files"
# What is there now: content and mode/owner of the files that exist, in one call each.
declare -A want have meta
while read -r s f; do want[${f##*/}]=$s; done < <(cd "$stage" && sha256sum -- *)
existing=()
for path in "${paths[@]}"; do if [[ -f "$path" ]]; then existing+=("$path"); fi; done
if ((${#existing[@]} > 0)); then
  sha256sum -- "${existing[@]}" > "${work}/have.sums"
  stat -c '%a %u:%g %n' -- "${existing[@]}" > "${work}/have.meta"
  while read -r s f; do have[$f]=$s; done < "${work}/have.sums"
  while read -r m o f; do meta[$f]="$m $o"; done < "${work}/have.meta"
fi
# What differs, worked out before anything is written: the services of every file about to change are recorded as
# pending first, so an apply that stops halfway (a full disk, a reboot) leaves them for the next one to reload.
todo=()
for ((i = 0; i < n; i++)); do
  path=${paths[i]} fmode=${modes[i]} owner=${owners[i]}
  if [[ "${have[$path]:-}" == "${want[$i]}" && "${meta[$path]:-}" == "${fmode#0} ${owner}" ]]; then continue; fi
  todo+=("$i")
  read -ra svc <<< "${svcs[i]}"
  changed+=("${svc[@]}")
done
# Files the applied bundle had and this one has not.
removed=()
if [[ -s "${state}/current.json" ]]; then
  jq -r --slurpfile new "$bundle" '($new[0].files | map(.path)) as $keep | .files[] | select(.path as $p | $keep | index($p) | not) | [.path, (.services | join(" "))] | @tsv' "${state}/current.json" > "${work}/removed.tsv"
  while IFS=$'\t' read -r path services; do
    if [[ -e "$path" ]]; then
      removed+=("$path")
      read -ra svc <<< "$services"
      changed+=("${svc[@]}")
    fi
  done < "${work}/removed.tsv"
fi
if ((${#changed[@]} > 0)); then
  printf '%s\n' "${changed[@]}" | sort -u > "${state}/pending.new"
  mv -f "${state}/pending.new" "${state}/pending"
fi

# Now the files: each complete beside its place, then renamed over it.
# shellcheck disable=SC2016 # expanded when the trap runs
trap 'rm -rf "$work"; rm -f -- "${paths[@]/%/.wbt-new}"' EXIT
count=0
for i in "${todo[@]}"; do
  path=${paths[i]} fmode=${modes[i]} owner=${owners[i]}
  if [[ ! -d "${path%/*}" ]]; then install -d -m 0755 "${path%/*}"; fi
  install -m "$fmode" -o "${owner%%:*}" -g "${owner#*:}" "${stage}/${i}" "${path}.wbt-new" || die "cannot write ${path} (services still to reload are kept for the next apply)"
  mv -f "${path}.wbt-new" "$path" || die "cannot replace ${path} (services still to reload are kept for the next apply)"
  log "changed ${path}${svcs[i]:+ (${svcs[i]})}"
  count=$((count + 1))
done
for path in "${removed[@]}"; do
  rm -f -- "$path"
  log "removed ${path}"
  count=$((count + 1))
done

# The files on the host are this bundle's now: it is the current one (the one before it kept for --rollback), even
# if its hook fails below (its services then stay pending).
if [[ "$(cat "${state}/current.sha256" 2> /dev/null || true)" != "$sum" ]]; then
  if [[ -s "${state}/current.json" ]]; then
    mv -f "${state}/current.json" "${state}/previous.json"
    mv -f "${state}/current.sha256" "${state}/previous.sha256"
  fi
  install -m 0600 "$bundle" "${state}/current.json"
  echo "$sum" > "${state}/current.sha256.tmp"
  mv -f "${state}/current.sha256.tmp" "${state}/current.sha256"
fi

# The role's hook, with the services to reload. A clean environment: settings a new config.env dropped must not
# reach it from the old one this tool loaded.
hook=$(jq -r .hook "$bundle")
pending=$(if [[ -s "${state}/pending" ]]; then paste -sd ' ' "${state}/pending"; fi)
env -i PATH="$PATH" LANG=C.UTF-8 HOME=/root PUBLIC_IP="$PUBLIC_IP" DATA_VOLUME_ID="$DATA_VOLUME_ID" WBT_CHANGED="$pending" WBT_FIRST_APPLY="$first" bash "$hook" ||
  die "bundle ${sum}: ${hook} failed (its files are written; services still to reload: ${pending:-none}); the next apply tries them again"
rm -f "${state}/pending"

if ((count == 0)); then
  log "bundle ${sum} applied: nothing changed"
else
  log "bundle ${sum} applied: ${count} files changed (services: $(printf '%s\n' "${changed[@]}" | sort -u | paste -sd ' '))"
fi
