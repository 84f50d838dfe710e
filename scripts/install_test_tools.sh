#!/usr/bin/env bash
# System tools some tests need: Debian's chromium (browser tests) and redis-server (the live
# stream across processes). Installed when missing and we are root; otherwise the tests that
# need them skip and say why.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} for the test suite..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
      >/tmp/test-tools-install.log 2>&1; then
    exit 0
  fi
  echo "NOTE: could not install ${missing[*]} (see /tmp/test-tools-install.log); the tests needing them will be skipped."
else
  echo "NOTE: ${missing[*]} missing and this user cannot apt-get install them; the tests needing them will be skipped."
fi
exit 0
