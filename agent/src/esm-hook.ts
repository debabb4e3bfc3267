// Installs the ESM loader hook (import-in-the-middle) that lets upstream instrumentations patch ES modules,
// limited to the modules they instrument: wrapping every module cost about 86 ms of startup here. Only
// upstream pieces (LOOKOUT_UPSTREAM_INSTRUMENTATIONS) and extra instrumentations need it; ours patch
// through module-hook.ts.
import * as nodeModule from 'node:module';

export async function installEsmHook(include: string[]): Promise<void> {
  if (include.length === 0) return;
  const hooks = await import('import-in-the-middle/register-hooks.mjs');
  if (hooks.supportsSyncHooks()) {
    // module.registerHooks: in-thread, no loader worker to start and no message round-trip per import.
    hooks.register({ include });
    return;
  }
  // Older Node 22/24 patch releases: the off-thread loader through module.register.
  nodeModule.register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include } });
}
