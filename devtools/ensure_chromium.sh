#!/usr/bin/env bash
# Install Debian's chromium for the browser tests where it is missing. Never fails the build: without
# root or without apt the browser tests are skipped (they say so), and the rest of the suite runs.
set -u

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_chromium: /usr/bin/chromium is missing and this is not root; browser tests will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get here; browser tests will be skipped"
    exit 0
fi
echo "ensure_chromium: installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq chromium >/dev/null; then
    echo "ensure_chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)"
else
    echo "ensure_chromium: apt-get could not install chromium; browser tests will be skipped"
fi
exit 0
