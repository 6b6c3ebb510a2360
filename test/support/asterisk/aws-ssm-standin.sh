#!/usr/bin/env bash
# Stand-in for `aws ssm get-parameter` as lib.sh's ssm_secret calls it. Knows only the parameters listed in
# $WBT_TEST_SSM (name<TAB>value lines, written from the plan's aws_ssm_parameter names) and refuses like AWS:
# an unknown name is ParameterNotFound, a name the host's role may not read (not in $WBT_TEST_SSM_GRANTS, one name
# per line, from its policies in the plan) AccessDenied,
# another region has none of them, and without --with-decryption a SecureString stays ciphertext.
set -euo pipefail
[[ "${1:-}" == ssm && "${2:-}" == get-parameter ]] || {
  echo "aws stand-in: only 'ssm get-parameter' is known: $*" >&2
  exit 252
}
shift 2
region="" name="" decrypt=0 query="" output=json
while (($# > 0)); do
  case "$1" in
    --region)
      region=$2
      shift 2
      ;;
    --name)
      name=$2
      shift 2
      ;;
    --with-decryption)
      decrypt=1
      shift
      ;;
    --query)
      query=$2
      shift 2
      ;;
    --output)
      output=$2
      shift 2
      ;;
    *)
      echo "aws stand-in: unknown option $1" >&2
      exit 252
      ;;
  esac
done
if [[ "$region" != "$WBT_TEST_SSM_REGION" ]]; then
  echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: Parameter ${name} not found." >&2
  exit 254
fi
if ! grep -qxF -- "$name" "$WBT_TEST_SSM_GRANTS"; then
  echo "An error occurred (AccessDeniedException) when calling the GetParameter operation: not authorized to perform ssm:GetParameter on ${name}" >&2
  exit 254
fi
value=$(awk -F '\t' -v n="$name" '$1 == n { print $2; found = 1 } END { exit !found }' "$WBT_TEST_SSM") || {
  echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: Parameter ${name} not found." >&2
  exit 254
}
if ((decrypt == 0)); then value="AQICAHhciphertext$(printf '%s' "$value" | sha256sum | cut -c1-16)"; fi
[[ "$query" == Parameter.Value && "$output" == text ]] || {
  echo "aws stand-in: only --query Parameter.Value --output text" >&2
  exit 252
}
printf '%s\n' "$value"
