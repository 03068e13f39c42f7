/*
 * README.md's "Configuration reference" documents every app-config key of
 * the backend plugin's config.d.ts, each with a default, and no key that
 * config.d.ts does not have. The keys are read from config.d.ts with the
 * TypeScript compiler: nested objects give dotted keys, index signatures
 * `<name>` (as `plugins.<pluginId>.runtime`), arrays of objects `[]` (as
 * `endpoints[].host`).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '../../..');
const CONFIG_D_TS = 'plugins/plugin-lifecycle-backend/config.d.ts';
const HEADING = '## Configuration reference';

/** The leaf keys (values that are not objects) of config.d.ts's `Config`. */
function configKeys(file: string): string[] {
  const source = ts.createSourceFile(
    file,
    fs.readFileSync(file, 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const keys: string[] = [];
  // Walks a type; answers whether it was an object (whose keys were taken).
  function walkType(type: ts.TypeNode | undefined, key: string): boolean {
    if (!type) return false;
    if (ts.isParenthesizedTypeNode(type)) return walkType(type.type, key);
    if (ts.isTypeLiteralNode(type)) {
      walkMembers(type.members, key);
      return true;
    }
    if (ts.isArrayTypeNode(type)) return walkType(type.elementType, `${key}[]`);
    if (
      ts.isTypeReferenceNode(type) &&
      type.typeName.getText(source) === 'Array' &&
      type.typeArguments?.length === 1
    ) {
      return walkType(type.typeArguments[0], `${key}[]`);
    }
    return false;
  }
  function walkMembers(members: ts.NodeArray<ts.TypeElement>, prefix: string) {
    for (const member of members) {
      if (ts.isPropertySignature(member)) {
        const name = member.name.getText(source).replace(/^['"]|['"]$/g, '');
        const key = prefix ? `${prefix}.${name}` : name;
        if (!walkType(member.type, key)) keys.push(key);
      } else if (ts.isIndexSignatureDeclaration(member)) {
        const key = `${prefix}.<${member.parameters[0].name.getText(source)}>`;
        if (!walkType(member.type, key)) keys.push(key);
      }
    }
  }
  ts.forEachChild(source, node => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'Config') {
      walkMembers(node.members, '');
    }
  });
  return keys;
}

/** The rows of the README section's tables: key (first cell) and default. */
function documentedKeys(readme: string): Map<string, string> {
  const start = readme.indexOf(`\n${HEADING}\n`);
  if (start < 0) throw new Error(`README.md has no "${HEADING}" section`);
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const rows = new Map<string, string>();
  for (const [, key, def] of section.matchAll(
    /^\|\s*`([^`]+)`\s*\|([^|]*)\|/gm,
  )) {
    rows.set(key, def.trim());
  }
  return rows;
}

describe("README's configuration reference", () => {
  const keys = configKeys(path.join(ROOT, CONFIG_D_TS));
  const documented = documentedKeys(
    fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'),
  );

  it('reads the keys of config.d.ts', () => {
    // Guards the walker itself: a few keys of each shape.
    expect(keys).toEqual(
      expect.arrayContaining([
        'pluginLifecycle.dataDir',
        'pluginLifecycle.orchestrator.circuitBreaker.coolDown',
        'pluginLifecycle.plugins.<pluginId>.artifact.endpoints[].port',
        'pluginLifecycle.configuration.encryption.keys[].secret',
        'pluginLifecycle.runtime.process.isolation.users.<pluginId>',
      ]),
    );
    expect(keys).not.toContain('pluginLifecycle.orchestrator');
  });

  it('documents every key of config.d.ts', () => {
    const missing = keys.filter(key => !documented.has(key));
    if (missing.length > 0) {
      throw new Error(
        `README.md's "${HEADING}" lacks ${missing.length} key(s) of ${CONFIG_D_TS}; add a table row ` +
          `"| \`<key>\` | <default> | <what> |" for each:\n${missing
            .map(key => `  ${key}`)
            .join('\n')}`,
      );
    }
    expect(missing).toEqual([]);
  });

  it('documents no key that config.d.ts does not have', () => {
    const known = new Set(keys);
    const stale = [...documented.keys()].filter(key => !known.has(key));
    if (stale.length > 0) {
      throw new Error(
        `README.md's "${HEADING}" documents key(s) that ${CONFIG_D_TS} does not have (renamed or removed?):\n${stale
          .map(key => `  ${key}`)
          .join('\n')}`,
      );
    }
    expect(stale).toEqual([]);
  });

  it('gives each key a default', () => {
    const without = [...documented].filter(([, def]) => def === '');
    expect(without.map(([key]) => key)).toEqual([]);
  });
});
