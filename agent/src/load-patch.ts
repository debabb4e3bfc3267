// The shape of an instrumentation that patches a package as it loads (module-hook.ts) and needs no loader
// hook: enabled once by registerInstrumentations, never undone (each patch reads the active server request
// or span and does nothing without one, so a stopped agent leaves nothing to remove).
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { onModuleLoad, type Patch } from './module-hook.js';
import { AGENT_VERSION } from './version.js';

export interface LoadPatch {
  /** The npm package, the file in it that holds what is patched, and whether `require(pkg)` returns that file. */
  pkg: string;
  file: string;
  main: boolean;
  patch: Patch;
}

export class LoadPatchInstrumentation extends InstrumentationBase {
  private hooked = false;

  constructor(
    name: string,
    private readonly patches: LoadPatch[],
  ) {
    // Not enabled from the constructor: registerInstrumentations enables it once providers are set.
    super(`@lookout/agent/${name}`, AGENT_VERSION, { enabled: false });
  }

  protected init() {
    return []; // no loader hook: module-hook.ts hands the package over as it loads
  }

  override enable(): void {
    if (this.hooked) return;
    this.hooked = true;
    for (const { pkg, file, main, patch } of this.patches) onModuleLoad(pkg, file, main, patch);
  }

  override disable(): void {}
}
