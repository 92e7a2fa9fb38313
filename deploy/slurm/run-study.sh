#!/bin/bash
#
# Run one hpo-service study on a Slurm cluster: submit the worker array, then run the
# driver here (a login node is fine: the driver only suggests and bookkeeps) until the
# study is complete. Run it under `nohup`, tmux or screen for long studies, or submit
# it as a job of its own:  sbatch --time=1-0 --wrap 'deploy/slurm/run-study.sh ...'
#
#   export HPO_DB='mongodb://db.example.org:27017/hpo'
#   deploy/slurm/run-study.sh --study quadratic \
#       --objective examples.quadratic:objective --space examples.quadratic:space \
#       --max-evals 500
#
# Every option is passed to `hpo-driver start` unchanged; the workers run the study's
# --objective only (HPO_WORKER_OBJECTIVES, unless set already), serve that --study
# only and exit once it is complete (HPO_STUDY, unless set already). The store URL goes
# to the driver and the workers through the environment, never a command line.
# Environment knobs:
#   HPO_DB             the store URL, required (workers on every node must reach it)
#   HPO_ARRAY          array spec of the workers, e.g. 0-63%16 [0-7]
#   HPO_SBATCH_ARGS    more sbatch options, e.g. "--partition=cpu --account=ml"
#   HPO_IDLE_TIMEOUT   seconds a worker waits for work before exiting [300]
#
# If the driver fails or this script is interrupted, the worker array is cancelled
# (SIGTERM: running trials finish or are handed back). When the driver succeeds the
# workers exit on their own: the study is complete.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ -z ${HPO_DB:-} ]]; then
    echo "run-study: set HPO_DB to the store URL (mongodb://... reachable from every node)" >&2
    exit 2
fi
if [[ $# -eq 0 ]]; then
    echo "usage: HPO_DB=URL run-study.sh --study NAME --objective MOD:FN --space MOD:SPACE --max-evals N [...]" >&2
    exit 2
fi
for tool in sbatch scancel hpo-driver; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run-study: \`$tool\` is not on PATH" >&2
        exit 2
    fi
done

study=
objective=
args=("$@")
for i in "${!args[@]}"; do
    case ${args[i]} in
        --study) study=${args[i + 1]:-} ;;
        --study=*) study=${args[i]#--study=} ;;
        --objective) objective=${args[i + 1]:-} ;;
        --objective=*) objective=${args[i]#--objective=} ;;
    esac
done
export HPO_DB
if [[ -n $objective && -z ${HPO_WORKER_OBJECTIVES:-} ]]; then
    export HPO_WORKER_OBJECTIVES=$objective
fi
# The workers serve this study and end with it, instead of idling for
# HPO_IDLE_TIMEOUT on their nodes once it is complete.
if [[ -n $study && -z ${HPO_STUDY:-} ]]; then
    export HPO_STUDY=$study
fi

# Word splitting of HPO_SBATCH_ARGS is intended (several options in one variable).
# shellcheck disable=SC2086
array_job=$(sbatch --parsable --array="${HPO_ARRAY:-0-7}" ${HPO_SBATCH_ARGS:-} \
    "$here/hpo-worker-array.sbatch")
array_job=${array_job%%;*}
echo "run-study: submitted worker array job $array_job"

cancel_workers() {
    echo "run-study: cancelling worker array $array_job" >&2
    # Tasks not started yet go away; running ones get SIGTERM (finish the trial).
    scancel --state=PENDING "$array_job" 2>/dev/null || true
    scancel --signal=TERM --batch "$array_job" 2>/dev/null || true
}
trap 'cancel_workers; exit 130' INT
trap 'cancel_workers; exit 143' TERM

if hpo-driver start "$@"; then
    if [[ -n ${HPO_STUDY:-} ]]; then
        echo "run-study: study complete; the workers exit as they find it complete"
    else
        echo "run-study: study complete; workers exit after ${HPO_IDLE_TIMEOUT:-300}s idle"
    fi
    if [[ -n $study ]]; then
        hpo-driver best --study "$study" || true
    fi
else
    status=$?
    echo "run-study: driver exited with status $status" >&2
    cancel_workers
    exit "$status"
fi
