#!/usr/bin/env bash
# Jibri's finalize script (runs inside the jibri container, uid 1000, with the session directory as $1).
# The container has no AWS credentials by design: it only marks the recording complete, and the host's
# weebeetalk-recordings-upload timer uploads it to S3 and deletes the local copy after a successful upload.
set -euo pipefail
session_dir=${1:?usage: finalize.sh SESSION_DIR}
[[ -d "$session_dir" ]] || exit 0
touch "${session_dir}/.weebeetalk-complete"
