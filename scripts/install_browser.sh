#!/usr/bin/env bash
# Browser tests need Debian's Chromium. Install it when we can; otherwise say why they skip.
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the browser tests..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/chromium-install.log 2>&1; then
    exit 0
  fi
  echo "NOTE: chromium could not be installed (see /tmp/chromium-install.log); browser tests will be skipped."
else
  echo "NOTE: chromium is not installed and this user cannot apt-get install it; browser tests will be skipped."
fi
exit 0
