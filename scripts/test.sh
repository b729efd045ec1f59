#!/usr/bin/env bash
# Install everything the test suite needs, then run it. This is the README's test command and what
# CI runs (.ci/run). Extra arguments go to pytest, e.g. `bash scripts/test.sh -k digest`.
set -uo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test]" || exit 1

# Headless Chromium (Debian's package) for the tests that look at rendered mail as a person would.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  else
    echo "warning: no chromium and no apt-get; browser tests will be skipped" >&2
  fi
fi

# chromium-driver (selenium drives chromium for tests/web/test_browser.py), and axe-core's JS from
# the npm registry for their accessibility checks (cached; the tests skip saying so without it).
if ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null) \
      || echo "warning: could not install chromium-driver; browser tests will be skipped" >&2
  else
    echo "warning: no chromedriver (not root); browser tests will be skipped" >&2
  fi
fi
AXE_DIR="${COMMSKIT_AXE_DIR:-$HOME/.cache/commskit-axe}"
if ! ls "$AXE_DIR"/axe-core-*.tgz >/dev/null 2>&1; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$AXE_DIR" && (cd "$AXE_DIR" && npm pack axe-core --silent >/dev/null) \
      || echo "warning: could not fetch axe-core; accessibility tests will be skipped" >&2
  else
    echo "warning: no npm to fetch axe-core; accessibility tests will be skipped" >&2
  fi
fi

# Debian's SpamAssassin for tests/render/test_spamassassin.py (local rules only, no network);
# installed when running as root, else that test skips saying so.
if ! command -v spamassassin >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's spamassassin for the content-score tests…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null) \
      || echo "warning: could not install spamassassin; its tests will be skipped" >&2
  else
    echo "warning: no spamassassin (not root); its tests will be skipped" >&2
  fi
fi

# Debian's Dovecot for tests/inbox/test_imap.py (a throw-away server on loopback that the test
# starts itself; the package's own service is not used); installed when running as root.
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's dovecot-imapd for the IMAP tests…" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null) \
      || echo "warning: could not install dovecot-imapd; the IMAP tests will be skipped" >&2
  else
    echo "warning: no dovecot (not root); the IMAP tests will be skipped" >&2
  fi
fi

python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
