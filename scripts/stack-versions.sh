# The stack's pinned upstream versions, one place for the build script, ./lookout stack and the tests
# (stack/test/fixtures/programs.ts reads this file). docker-compose.yml pins the same releases as images.
COLLECTOR_VERSION=0.159.0
PROMETHEUS_VERSION=3.14.0
# Prometheus v3.x is published as the Go module version v0.3xx.y.
PROMETHEUS_MODULE_VERSION=v0.314.0
ALERTMANAGER_VERSION=0.34.0

# .tools/stack/<dir>: where a program's build lives.
stack_dir() {
  case "$1" in
    collector) echo "otelcol-$COLLECTOR_VERSION" ;;
    prometheus) echo "prometheus-$PROMETHEUS_VERSION" ;;
    alertmanager) echo "alertmanager-$ALERTMANAGER_VERSION" ;;
  esac
}
