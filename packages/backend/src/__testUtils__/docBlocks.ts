/*
 * Runs a document's shell examples as written (the approach of
 * readme.integration.test.ts): the ```sh blocks, in order, in one shell
 * state (variables carry from block to block, also when set again), with the demo's addresses
 * replaced by a test backend's. Every curl fails its block on an HTTP error
 * (curl --fail-with-body), so an example that answers 4xx/5xx fails.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../../..');

/** The ```sh blocks of a markdown text, or of its `## heading` section. */
export function shellBlocks(markdown: string, heading?: string): string[] {
  let section = markdown;
  if (heading) {
    const start = markdown.indexOf(`\n## ${heading}\n`);
    if (start < 0) throw new Error(`no "## ${heading}" section`);
    const next = markdown.indexOf('\n## ', start + 1);
    section = markdown.slice(start, next < 0 ? undefined : next);
  }
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map(m => m[1]);
}

/** Whether a command is on the PATH. */
export function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some(dir => fs.existsSync(path.join(dir, name)));
}

/** One shell state that blocks run in, one after the other. */
export class DocShell {
  readonly #work: string;
  readonly #state: string;
  readonly #replace: Array<[string, string]>;
  readonly #groups: number[] = [];

  /**
   * @param options.work - a directory for the state and the blocks' output
   * @param options.replace - text to replace in each block (addresses, ports)
   */
  static create(options: { work: string; replace: Array<[string, string]> }) {
    return new DocShell(options.work, options.replace);
  }

  private constructor(work: string, replace: Array<[string, string]>) {
    this.#work = work;
    this.#state = path.join(work, 'shell-state.sh');
    this.#replace = replace;
    fs.writeFileSync(this.#state, '');
  }

  /** The variables the blocks so far set, as `declare -p` wrote them. */
  state(): string {
    return fs.readFileSync(this.#state, 'utf8');
  }

  /**
   * Runs one block in bash, in the variables the blocks before it left,
   * keeps the variables it sets, and answers its output; a block that exits
   * non-zero throws with the block and its output.
   */
  async run(block: string): Promise<string> {
    let text = block;
    for (const [from, to] of this.#replace) text = text.replaceAll(from, to);
    const script = [
      'set -euo pipefail',
      'curl() { command curl --fail-with-body --show-error "$@"; }',
      // The shell's own variables, before those of the blocks come back.
      '__base=$(compgen -v | sort)',
      `source ${JSON.stringify(this.#state)}`,
      text,
      // Every variable of the blocks, set now or before, changed or not.
      `for __v in $(comm -13 <(echo "$__base") <(compgen -v | sort)); do`,
      `  [[ $__v == __* || $__v == BASH_* || $__v == PIPESTATUS ]] || declare -p "$__v"`,
      `done > ${JSON.stringify(`${this.#state}.next`)}`,
      `mv ${JSON.stringify(`${this.#state}.next`)} ${JSON.stringify(
        this.#state,
      )}`,
    ].join('\n');
    const out = path.join(this.#work, `block-${this.#groups.length}.out`);
    const fd = fs.openSync(out, 'w');
    // A file, not a pipe, for output: a server a block starts in the
    // background keeps its output open after the block ends.
    const shell = spawn('bash', ['-c', script], {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    this.#groups.push(shell.pid!);
    const code = await new Promise<number | null>(resolve =>
      shell.once('exit', c => resolve(c)),
    );
    fs.closeSync(fd);
    const output = fs.readFileSync(out, 'utf8');
    if (code !== 0) {
      throw new Error(
        `this block exited with ${code}:\n${block}\n--- its output:\n${output}`,
      );
    }
    return output;
  }

  /** Kills what the blocks left running (their process groups). */
  dispose() {
    for (const pid of this.#groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
