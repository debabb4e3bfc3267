// The synthetic events bench:audit writes: the same generator for raw COPY, the batch endpoint (from a worker
// thread, bench/poster.ts) and the stream's single writes: realistic sizes, a few actions, some metadata.
import { randomUUID } from 'node:crypto';
import { uuidv7 } from '@lookout/agent';

export function bodies(count: number, start: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, k) => {
    const i = start + k;
    return {
      id: uuidv7(),
      action: i % 2 ? 'storage.file.uploaded' : 'auth.login.success',
      status: 'success',
      occurred_at: new Date(Date.now() - (i % 86_400) * 1000).toISOString(),
      actor: { type: 'user', id: `user-${i % 5000}`, display: `User ${i % 5000}` },
      object: { type: 'file', id: `file-${i}` },
      request_id: `req-${i}`,
      trace_id: randomUUID().replace(/-/g, ''),
      metadata: i % 2 ? { file_id: `file-${i}`, size_bytes: i % 100_000, content_type: 'application/pdf' } : { method: 'password', mfa: true },
    };
  });
}
