#!/usr/bin/env bash
# The first apply: the configuration bundle the plan names now (its location is in SSM), applied by the same tool
# State Manager runs for every later change, while the bootstrap still holds the apply lock.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_settings
WBT_APPLY_LOCKED=1 "$WBT_APPLY" --current
