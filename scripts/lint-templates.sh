#!/usr/bin/env bash
# Lints the customer-facing infrastructure templates:
#   cfn-lint on cloudformation/*.yaml|*.yml, checkov on cloudformation/ and terraform/.
# A folder that is missing or holds no template is skipped with a note, not an error.
# checkov reads skips from a .checkov.yaml at the repo root if there is one; extra flags can be
# given in CHECKOV_ARGS. checkov runs with --skip-download: it never calls home.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="${VENV:-$COSTLINE_ROOT/.venv}"
cfn_dir="${CFN_DIR:-$COSTLINE_ROOT/cloudformation}"
tf_dir="${TF_DIR:-$COSTLINE_ROOT/terraform}"
cd "$COSTLINE_ROOT"

for tool in cfn-lint checkov; do
  [ -x "$venv/bin/$tool" ] || die "$venv/bin/$tool missing: run scripts/setup-python.sh (or make lint)"
done

# checkov: no telemetry/guideline downloads (there is no network but the package registries).
export BC_SKIP_MAPPING=TRUE CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING=False
# shellcheck disable=SC2206
checkov_args=(--quiet --compact --skip-download ${CHECKOV_ARGS:-})

shopt -s nullglob
cfn_templates=("$cfn_dir"/*.yaml "$cfn_dir"/*.yml)
shopt -u nullglob

if [ "${#cfn_templates[@]}" -gt 0 ]; then
  echo "+ cfn-lint ${cfn_templates[*]#"$COSTLINE_ROOT/"}"
  "$venv/bin/cfn-lint" -- "${cfn_templates[@]}"
  echo "+ checkov -d ${cfn_dir#"$COSTLINE_ROOT/"} --framework cloudformation"
  "$venv/bin/checkov" -d "$cfn_dir" --framework cloudformation "${checkov_args[@]}"
else
  echo "lint-templates: no CloudFormation templates in ${cfn_dir#"$COSTLINE_ROOT/"}/, skipped"
fi

if [ -d "$tf_dir" ] && [ -n "$(find "$tf_dir" -name '*.tf' -type f -print -quit)" ]; then
  echo "+ checkov -d ${tf_dir#"$COSTLINE_ROOT/"} --framework terraform"
  "$venv/bin/checkov" -d "$tf_dir" --framework terraform "${checkov_args[@]}"
else
  echo "lint-templates: no Terraform files in ${tf_dir#"$COSTLINE_ROOT/"}/, skipped"
fi
