// The example services' health endpoints: the agent's shared /health, /health/db and /health/dependencies,
// with another service as a dependency probed at its own /health.
import { createHealth, type HealthCheck, type HealthMiddleware, type HealthOptions } from '@lookout/agent';

export function healthEndpoints(options: HealthOptions = {}): HealthMiddleware {
  return createHealth(options).middleware;
}

/**
 * Another service as a dependency: up when its /health answers 200. Its liveness, not its own dependencies:
 * following /health/dependencies down the chain would make one failure show as every service degraded, and
 * would multiply every probe by the length of the chain (runs and worker depend on each other).
 */
export function serviceDependency(name: string, base: URL, required: boolean): HealthCheck {
  return {
    name,
    required,
    check: async (signal) => {
      const res = await fetch(new URL('/health', base), { signal, headers: { accept: 'application/json' } });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`${base.host}/health answered ${res.status}`);
    },
  };
}
