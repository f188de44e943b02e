#!/usr/bin/env bash
# Install the Debian packages a group of viprepro's service tests needs (idempotent).
#
#   scripts/ci_services.sh slurm      # slurmctld slurmd slurm-client munge
#   scripts/ci_services.sh postgres   # postgresql (server and client)
#   scripts/ci_services.sh sandbox    # bubblewrap
#
# Called by the tests in tests/cluster/ when a program is missing, never by .ci/run itself.
# Exit codes: 0 installed (or already there), 2 cannot install here (not root, no apt-get),
# 1 the installation failed. The reason goes to stderr. The packages' own daemons are not
# started: policy-rc.d forbids it for the time of the installation, and the tests start
# private instances themselves.
set -euo pipefail

declare -A PACKAGES=(
    [slurm]="slurmctld slurmd slurm-client munge"
    [postgres]="postgresql"
    [sandbox]="bubblewrap"
)
declare -A PROGRAMS=(
    [slurm]="slurmctld slurmd sbatch squeue munged"
    [postgres]="psql"
    [sandbox]="bwrap"
)

group=${1:?usage: $0 slurm|postgres|sandbox}
[[ -n "${PACKAGES[$group]:-}" ]] || { echo "ci_services: unknown group '$group'" >&2; exit 1; }

have_all() {
    local program
    for program in ${PROGRAMS[$group]}; do
        command -v "$program" >/dev/null 2>&1 || return 1
    done
    # PostgreSQL's server programs are not on PATH in Debian.
    if [[ $group == postgres ]]; then
        compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || return 1
    fi
}

if have_all; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "ci_services: installing ${PACKAGES[$group]} needs root (running as $(id -un))" >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ci_services: no apt-get on this machine to install ${PACKAGES[$group]}" >&2
    exit 2
fi

# Keep the packages' init scripts from starting system-wide daemons during the install.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=true
fi
cleanup() { if $created_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing on a fresh machine; refresh them once if the install fails.
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends ${PACKAGES[$group]} >&2; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends ${PACKAGES[$group]} >&2
fi
have_all || { echo "ci_services: ${PACKAGES[$group]} installed but ${PROGRAMS[$group]} still missing" >&2; exit 1; }
