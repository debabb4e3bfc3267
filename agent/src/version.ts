// The agent's version, for the resource (telemetry.distro.version) and every instrumentation scope; a test
// keeps it equal to package.json's.
export const AGENT_VERSION = '0.1.0';
