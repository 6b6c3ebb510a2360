#!/usr/bin/env bash
# Uploads finished Jibri recordings to the recordings bucket, then removes the local copy: only after the
# upload succeeded, so a failed upload is retried by the next run of weebeetalk-recordings-upload.timer.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

recordings="${JITSI_CONFIG}/storage/jibri/recordings"
[[ -d "$recordings" ]] || exit 0
shopt -s nullglob
for marker in "$recordings"/*/.weebeetalk-complete; do
  session_dir=${marker%/.weebeetalk-complete}
  session=${session_dir##*/}
  dest="s3://${RECORDINGS_BUCKET}/recordings/$(date -u +%Y/%m/%d)/${session}/"
  if aws s3 cp --region "$AWS_REGION" --only-show-errors --recursive --exclude .weebeetalk-complete "$session_dir/" "$dest"; then
    rm -rf -- "$session_dir"
    log "uploaded ${session} to ${dest} and removed the local copy"
  else
    log "upload of ${session} failed; keeping it for the next run"
  fi
done
