# The stack's pinned upstream versions, one place for the build script, ./lookout stack and the tests
# (testkit's stackVersions() and stackBinary() read this file). docker-compose.yml pins the same releases as images.
COLLECTOR_VERSION=0.159.0
PROMETHEUS_VERSION=3.14.0
# Prometheus v3.x is published as the Go module version v0.3xx.y.
PROMETHEUS_MODULE_VERSION=v0.314.0
ALERTMANAGER_VERSION=0.34.0
# Debian's packages (bookworm), extracted without their services by scripts/install-exporters.sh; the
# exact Debian version is pinned too, and another one offered by apt is refused.
BLACKBOX_EXPORTER_VERSION=0.23.0
BLACKBOX_EXPORTER_DEBIAN_VERSION=0.23.0-4+b4
POSTGRES_EXPORTER_VERSION=0.11.1
POSTGRES_EXPORTER_DEBIAN_VERSION=0.11.1-3+b5

# .tools/stack/<dir>: where a program's build lives. The Collector's carries a short hash of
# collector/manifest.yaml, so adding a component builds a new Collector instead of reusing the old one.
stack_dir() {
  case "$1" in
    collector) echo "otelcol-$COLLECTOR_VERSION-$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/../collector/manifest.yaml" | cut -c1-8)" ;;
    prometheus) echo "prometheus-$PROMETHEUS_VERSION" ;;
    alertmanager) echo "alertmanager-$ALERTMANAGER_VERSION" ;;
    blackbox-exporter) echo "blackbox-exporter-$BLACKBOX_EXPORTER_VERSION" ;;
    postgres-exporter) echo "postgres-exporter-$POSTGRES_EXPORTER_VERSION" ;;
  esac
}
