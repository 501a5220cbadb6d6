#!/usr/bin/env bash
# Validates the Kubernetes manifests against the Kubernetes API's schema
# (kubernetes-validate from PyPI, strict: unknown keys refused), in a
# virtual environment under target/, and checks that the validator does
# refuse a manifest with a misspelt key. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "kubernetes-validate==1.37.0"
fi
"$venv/bin/kubernetes-validate" --strict deploy/kubernetes/*.yaml
# The control: a misspelt key must fail.
bad=$(mktemp --suffix=.yaml)
trap 'rm -f "$bad"' EXIT
sed 's/restartPolicy:/restartPolicyy:/' deploy/kubernetes/merge-job.yaml > "$bad"
if "$venv/bin/kubernetes-validate" --strict "$bad" > /dev/null 2>&1; then
  echo "kubernetes-validate accepted a misspelt key: the check checks nothing" >&2
  exit 1
fi
echo "the manifests are valid Kubernetes 1.37 resources (strict); a misspelt key is refused"
