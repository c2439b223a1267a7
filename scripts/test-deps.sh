#!/usr/bin/env bash
# Make sure the servers the tests talk to are running on this machine: PostgreSQL and Redis on 127.0.0.1.
# Installs them from Debian's packages when missing (CI and developer machines are Debian, as root).
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# nginx: the multi-instance test runs Debian's nginx in front of two authgate instances (tests/ops)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
# chromium: the browser test drives Debian's Chromium with Playwright (tests/e2e/test_browser_chromium.py)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test-deps: please install ${need_apt[*]}" >&2
  fi
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
fi
if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/test.log || true
fi
for _ in $(seq 1 30); do
  if port_open 5432 && port_open 6379; then exit 0; fi
  sleep 0.5
done
port_open 5432 || echo "test-deps: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
port_open 6379 || echo "test-deps: Redis is not reachable on 127.0.0.1:6379" >&2
exit 0
