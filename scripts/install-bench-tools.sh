#!/usr/bin/env bash
# Installs what `cargo xtask bench` needs besides cargo, from Debian's packages: wrk (the load
# generator of --load), nginx (its reverse-proxy baseline) and valgrind (callgrind, for
# --instructions).
# Idempotent: does nothing when all three are present. Exits non-zero, saying why, when one
# cannot be installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have wrk && have valgrind && { have nginx || [ -x /usr/sbin/nginx ]; }; then
    echo "install-bench-tools: wrk, nginx and valgrind already installed"
    exit 0
fi
if ! have apt-get; then
    echo "install-bench-tools: apt-get is missing; install wrk and nginx by hand" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then sudo="sudo"; else
        echo "install-bench-tools: not root and no sudo; cannot apt-get install" >&2
        exit 1
    fi
fi
echo "install-bench-tools: apt-get update && apt-get install -y wrk nginx valgrind"
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends wrk nginx valgrind
# The package may start a system nginx on port 80; the benches run their own on loopback.
if have systemctl; then $sudo systemctl disable --now nginx >/dev/null 2>&1 || true; fi
for tool in wrk valgrind; do
    have "$tool" || { echo "install-bench-tools: $tool still missing after apt-get" >&2; exit 1; }
done
echo "install-bench-tools: wrk $(wrk --version 2>&1 | head -n1 | cut -c1-40); nginx at $(command -v nginx || echo /usr/sbin/nginx)"
