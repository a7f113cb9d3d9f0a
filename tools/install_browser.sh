#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the report's browser test (Debian packages).
# Installs them when missing and this user can (root with apt-get); otherwise says how, and the
# browser test skips (it fails instead under CI=true, where it must run).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium and chromium-driver (Debian) for the report's browser test"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
else
  echo "note: chromium / chromedriver missing; the browser test will skip (sudo apt-get install chromium chromium-driver)"
fi
