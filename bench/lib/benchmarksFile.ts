import fs from 'node:fs';
import path from 'node:path';

/**
 * Replaces one bench's section of BENCHMARKS.md (between
 * `<!-- name:start -->` and `<!-- name:end -->`), or appends it; the other
 * sections are left as they are, so each bench owns only its own figures.
 */
export function writeBenchmarks(section: string, body: string) {
  const file = path.resolve(__dirname, '../../BENCHMARKS.md');
  const text = fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8')
    : "# Benchmarks\n\nFigures from the scripts under bench/, on the project's own machines (2 cores, shared and noisy).\n";
  const start = `<!-- ${section}:start -->`;
  const end = `<!-- ${section}:end -->`;
  const block = `${start}\n${body}\n${end}`;
  fs.writeFileSync(
    file,
    text.includes(start)
      ? text.replace(new RegExp(`${start}[\\s\\S]*?${end}`), () => block)
      : `${text.trimEnd()}\n\n${block}\n`,
  );
}
