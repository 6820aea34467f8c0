#!/usr/bin/env bash
# Installs what the browser suite (browser-tests/) drives: Debian's `chromium` and its matching
# `chromedriver` (package `chromium-driver`). Idempotent: does nothing when both are present.
# Needs root (it calls apt-get); exits non-zero, saying why, when the browser cannot be installed,
# so CI fails loudly instead of running the suite without a browser.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
    echo "install-browser: $(chromium --version 2>/dev/null | head -n1), $(chromedriver --version | head -n1): already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: chromium or chromedriver is missing and this script needs root to run apt-get" >&2
    echo "install-browser: run it as root: sudo scripts/install-browser.sh" >&2
    exit 1
fi

if ! have apt-get; then
    echo "install-browser: no apt-get here; install Chromium and a matching ChromeDriver by hand" >&2
    echo "install-browser: and point CHROMIUM_BIN and CHROMEDRIVER_BIN at them" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: apt-get update"
apt-get update -qq
echo "install-browser: apt-get install chromium chromium-driver"
apt-get install -y -qq --no-install-recommends chromium chromium-driver

if have chromium && have chromedriver; then
    echo "install-browser: installed $(chromium --version 2>/dev/null | head -n1), $(chromedriver --version | head -n1)"
else
    echo "install-browser: apt-get finished but chromium or chromedriver is still missing" >&2
    exit 1
fi
