#!/usr/bin/env bash
# Install the system packages Ownvoice needs, only those that are missing.
#   scripts/install_system.sh start   # running the app
#   scripts/install_system.sh test    # running the test suites (adds Chromium for browser tests)
# Debian/Ubuntu: apt-get. macOS: prints the Homebrew equivalent (nothing is needed there to run the app).
set -euo pipefail
purpose=${1:-start}

# Python wheels bundle FFmpeg (PyAV), espeak-ng (piper-tts) and libsndfile, so the app itself needs
# nothing beyond Python 3.11 and Node 20. Browser tests drive Debian's Chromium; the backend suite
# also runs on a PostgreSQL server that it starts itself (Debian's postgresql binaries).
debian_start=()
debian_test=(chromium fonts-dejavu-core postgresql)

if [[ "$(uname -s)" == "Darwin" ]]; then
  if [[ "$purpose" == "test" ]] && ! ls /Applications/Chromium.app >/dev/null 2>&1; then
    echo "ownvoice: on macOS install Chromium for the browser tests: brew install --cask chromium" >&2
  fi
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ownvoice: no apt-get here; install these with your package manager: ${debian_test[*]}" >&2
  exit 0
fi

wanted=("${debian_start[@]}")
[[ "$purpose" == "test" ]] && wanted+=("${debian_test[@]}")
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "ownvoice: installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
