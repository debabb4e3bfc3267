// The resource every signal carries: what the local detectors find and what the configuration says, with
// the redaction policy applied, and the process's command line left out unless asked for.
import type { AnyValue } from '@opentelemetry/api';
import {
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type DetectedResourceAttributes,
  type Resource,
  type ResourceDetectionConfig,
  type ResourceDetector,
} from '@opentelemetry/resources';
import type { AgentConfig } from './config.js';
import { REDACTED, type RedactionPolicy } from './redact.js';
import { AGENT_VERSION } from './version.js';

// processDetector (@opentelemetry/resources 3.1) sets process.command_args: argv with Node's own flags, where
// services are often handed their secrets (--db-password=…); process.command_line can come from
// OTEL_RESOURCE_ATTRIBUTES. process.command (the script's path) and process.executable.* stay.
const COMMAND_KEYS = new Set(['process.command_args', 'process.command_line']);

export async function buildResource(config: AgentConfig, policy: RedactionPolicy): Promise<Resource> {
  // Local detectors only: the cloud detectors probe metadata addresses off this machine at startup.
  const detectors: ResourceDetector[] = [envDetector, hostDetector, osDetector, processDetector, serviceInstanceIdDetector];
  const { containerDetector } = await import('@opentelemetry/resource-detector-container');
  detectors.push(containerDetector);
  const clean = (attributes: DetectedResourceAttributes) => redactAttributes(attributes, policy, config.resourceCommandArgs);
  const ours = clean({
    'service.name': config.serviceName,
    ...(config.serviceVersion ? { 'service.version': config.serviceVersion } : {}),
    ...(config.deploymentEnvironment ? { 'deployment.environment.name': config.deploymentEnvironment } : {}),
    'telemetry.distro.name': '@lookout/agent',
    'telemetry.distro.version': AGENT_VERSION,
  });
  const detected = detectResources({
    detectors: detectors.map((detector) => ({ detect: (options?: ResourceDetectionConfig) => ({ attributes: clean(detector.detect(options).attributes ?? {}) }) })),
  });
  // Explicit configuration wins over detection; OTEL_RESOURCE_ATTRIBUTES comes in through envDetector.
  return detected.merge(resourceFromAttributes(ours));
}

/** Attributes through the policy, those a detector finds later (host.id, container.id) once they settle. */
function redactAttributes(attributes: DetectedResourceAttributes, policy: RedactionPolicy, commandArgs: boolean): DetectedResourceAttributes {
  const out: DetectedResourceAttributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    // Dropped by name, before anything is awaited: a value that settles as undefined is warned about, not skipped.
    if (value === undefined || (COMMAND_KEYS.has(key) && !commandArgs)) continue;
    out[key] = value instanceof Promise ? value.then((v: AnyValue | undefined) => (v === undefined ? v : redactAttribute(key, v, policy))) : redactAttribute(key, value, policy);
  }
  return out;
}

function redactAttribute(key: string, value: AnyValue, policy: RedactionPolicy): AnyValue {
  if (COMMAND_KEYS.has(key)) {
    if (Array.isArray(value)) return redactArgs(value.map(String), policy);
    if (typeof value === 'string') return redactArgs(value.split(' '), policy).join(' ');
  }
  if (policy.isSensitiveKey(key)) return REDACTED;
  if (typeof value === 'string') return policy.redactString(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? policy.redactString(v) : v));
  return value;
}

/**
 * Command-line arguments with the values of secret flags redacted, in both spellings (`--db-password=x`
 * and `--db-password x`), and anything credential-looking in the others (URLs with passwords, tokens).
 */
export function redactArgs(args: readonly string[], policy: RedactionPolicy): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const flag = /^(--?[^=\s]+)(=?)/.exec(arg);
    if (flag !== null && policy.isSensitiveKey(flag[1]!.replace(/^-+/, ''))) {
      if (flag[2] === '=') {
        out.push(`${flag[1]}=${REDACTED}`);
        continue;
      }
      out.push(arg);
      // The next argument is this flag's value unless it is a flag itself.
      if (i + 1 < args.length && !args[i + 1]!.startsWith('-')) {
        out.push(REDACTED);
        i++;
      }
      continue;
    }
    out.push(policy.redactString(arg));
  }
  return out;
}
