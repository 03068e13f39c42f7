import { InputError } from '@backstage/errors';
import { CONFIG_BASE_LAYER } from '@internal/plugin-lifecycle-common';

/**
 * The layers of a plugin's configuration: `base`, then one layer per
 * environment over it. Checks names given by callers and tells which
 * effective configurations a layer feeds.
 */
export class ConfigLayout {
  readonly #environments: string[];
  readonly #defaultEnvironment: string;

  constructor(options: { environments: string[]; defaultEnvironment: string }) {
    this.#environments = options.environments;
    this.#defaultEnvironment = options.defaultEnvironment;
  }

  /** `base` and the configured environments. */
  get layers(): string[] {
    return [CONFIG_BASE_LAYER, ...this.#environments];
  }

  /** The configured environments (the list itself: not to be changed). */
  get environments(): readonly string[] {
    return this.#environments;
  }

  get defaultEnvironment(): string {
    return this.#defaultEnvironment;
  }

  /** The environments whose effective configuration `layer` is part of. */
  fedBy(layer: string): readonly string[] {
    return layer === CONFIG_BASE_LAYER ? this.#environments : [layer];
  }

  /** The name if it is a layer; InputError otherwise. */
  layer(name: string): string {
    if (!this.layers.includes(name)) {
      throw new InputError(
        `Unknown configuration environment '${name}'; known: ${this.layers.join(
          ', ',
        )}`,
      );
    }
    return name;
  }

  /** The name if it is an environment; InputError otherwise. */
  environment(name: string): string {
    if (!this.#environments.includes(name)) {
      throw new InputError(
        `Unknown environment '${name}'; known: ${this.#environments.join(
          ', ',
        )}`,
      );
    }
    return name;
  }
}
