// The one logger type the examples pass around: whatever the agent's createLogger() returns.
import type { createLogger } from '@lookout/agent';

export type Logger = ReturnType<typeof createLogger>;
