#!/usr/bin/env bash
# Installs what `cargo xtask bench` needs besides cargo, from Debian's packages: wrk (the load
# generator of --load), nginx (its reverse-proxy baseline) and valgrind (callgrind, for
# --instructions and --check-budgets).
# Idempotent: does nothing when all three are present. Exits non-zero, naming each tool still
# missing, when one cannot be installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

# The tools not found: nginx is often in /usr/sbin, outside a user's PATH.
missing() {
    local tool
    for tool in wrk nginx valgrind; do
        if [ "$tool" = nginx ] && [ -x /usr/sbin/nginx ]; then continue; fi
        have "$tool" || printf '%s ' "$tool"
    done
}

need="$(missing)"
if [ -z "$need" ]; then
    echo "install-bench-tools: wrk, nginx and valgrind already installed"
    exit 0
fi
need="${need% }"
if ! have apt-get; then
    echo "install-bench-tools: apt-get is missing; install $need by hand" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then sudo="sudo"; else
        echo "install-bench-tools: not root and no sudo; cannot apt-get install $need" >&2
        exit 1
    fi
fi
echo "install-bench-tools: apt-get update && apt-get install -y $need"
$sudo apt-get update
# shellcheck disable=SC2086 # one package per word
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need
# The package may start a system nginx on port 80; the benches run their own on loopback.
if have systemctl; then $sudo systemctl disable --now nginx >/dev/null 2>&1 || true; fi
still="$(missing)"
if [ -n "$still" ]; then
    echo "install-bench-tools: ${still% } still missing after apt-get" >&2
    exit 1
fi
echo "install-bench-tools: wrk $(wrk --version 2>&1 | head -n1 | cut -c1-40); nginx at $(command -v nginx || echo /usr/sbin/nginx)"
