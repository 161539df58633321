#!/usr/bin/env bash
# Install Debian's nginx for `make cluster` where it is missing (the simulation's load balancer).
# Fails with a message when it cannot: the simulation needs root anyway (network namespaces).
set -u

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_nginx: nginx is missing and this is not root; make cluster needs root (network namespaces)"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_nginx: nginx is missing and there is no apt-get here"
    exit 1
fi
echo "ensure_nginx: installing Debian's nginx for the load balancer"
export DEBIAN_FRONTEND=noninteractive
if timeout 900 apt-get update -qq && timeout 900 apt-get install -y -qq nginx >/dev/null; then
    exit 0
fi
echo "ensure_nginx: apt-get could not install nginx"
exit 1
