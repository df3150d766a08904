# Sourced by scripts/test.sh: installs Prometheus (and promtool) from Debian's packages if
# missing. The telemetry tests start their own Prometheus against the gm-server they run;
# GM_REQUIRE_PROMETHEUS makes a missing one fail them instead of skipping.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "== installing Prometheus (Debian package prometheus)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # The package's service does not start here (no systemd); the tests run their own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
export GM_REQUIRE_PROMETHEUS=1
echo "== $(prometheus --version 2>&1 | head -n 1)"
