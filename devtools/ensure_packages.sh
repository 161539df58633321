#!/usr/bin/env bash
# Install the Debian packages the tests and the simulation need, where their programs are missing:
#
#   bash devtools/ensure_packages.sh chromium nginx    # make test, .ci/run: browser tests, cluster test
#   bash devtools/ensure_packages.sh --required nginx  # make cluster: fail if nginx can't be had
#
# Each name is both the Debian package and the program it puts on the PATH (/usr/bin, /usr/sbin).
# Without root or apt-get nothing is installed: by default that is not an error (the tests that need
# the program skip and say why); with --required it is.
set -u

required=0
if [ "${1:-}" = "--required" ]; then
    required=1
    shift
fi

missing=()
for name in "$@"; do
    if ! command -v "$name" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$name" ] && [ ! -x "/usr/bin/$name" ]; then
        missing+=("$name")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

give_up() {
    echo "ensure_packages: $1; the tests that need ${missing[*]} will be skipped"
    exit "$required"
}
[ "$(id -u)" = "0" ] || give_up "${missing[*]} missing and this is not root"
command -v apt-get >/dev/null 2>&1 || give_up "${missing[*]} missing and there is no apt-get here"

echo "ensure_packages: installing Debian's ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null; then
    for name in "${missing[@]}"; do
        echo "ensure_packages: $name $(command -v "$name" || echo "/usr/sbin/$name")"
    done
    exit 0
fi
give_up "apt-get could not install ${missing[*]}"
