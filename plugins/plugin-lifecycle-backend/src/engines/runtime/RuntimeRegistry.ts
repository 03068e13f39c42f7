import { InputError } from '@backstage/errors';
import { PluginRuntime } from '@internal/plugin-lifecycle-node';

/** The runtimes available to this backend, by type. */
export class RuntimeRegistry {
  readonly #runtimes = new Map<string, PluginRuntime>();

  static create(runtimes: PluginRuntime[]): RuntimeRegistry {
    const registry = new RuntimeRegistry();
    runtimes.forEach(r => registry.add(r));
    return registry;
  }

  add(runtime: PluginRuntime) {
    if (this.#runtimes.has(runtime.type)) {
      throw new Error(
        `A runtime of type '${runtime.type}' is already registered`,
      );
    }
    this.#runtimes.set(runtime.type, runtime);
  }

  get(type: string): PluginRuntime {
    const runtime = this.#runtimes.get(type);
    if (!runtime) {
      throw new InputError(
        `Unknown runtime '${type}'; available: ${[
          ...this.#runtimes.keys(),
        ].join(', ')}`,
      );
    }
    return runtime;
  }

  has(type: string) {
    return this.#runtimes.has(type);
  }

  all(): PluginRuntime[] {
    return [...this.#runtimes.values()];
  }
}
