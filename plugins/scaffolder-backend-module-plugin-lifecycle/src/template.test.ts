import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Validator } from 'jsonschema';
import {
  TemplateEntityV1beta3,
  templateEntityV1beta3Validator,
} from '@backstage/plugin-scaffolder-common';
import { createConfigureAction } from './actions/configure';
import { createInstallAction } from './actions/install';
import { createUpdateAction } from './actions/update';
import { createWaitAction } from './actions/wait';

/*
 * The example template (examples/templates/managed-plugin) as the catalog and
 * the scaffolder read it: a valid Template entity, whose steps use actions the
 * scaffolder has with inputs their schemas accept. The e2e test
 * (packages/app/e2e-tests/plugin-fleet.test.ts) runs it in the app.
 */
const ROOT = path.resolve(__dirname, '../../..');
const TEMPLATE = path.join(
  ROOT,
  'examples/templates/managed-plugin/template.yaml',
);

/** What the form would send: the defaults, and a name and owner. */
const VALUES: Record<string, unknown> = {
  name: 'payments-plugin',
  description: 'A plugin service',
  owner: 'group:default/guests',
  pluginId: 'sample-http-service',
  version: '1.0.0',
  start: true,
};

/**
 * The scaffolder's `${{ parameters.x }}` for a whole value (which keeps the
 * value's type, as the scaffolder does for a whole-string expression).
 */
function render(value: unknown, values: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = value.match(/^\$\{\{\s*parameters\.(\w+)\s*\}\}$/);
    if (whole) {
      return values[whole[1]];
    }
    return value.replace(/\$\{\{\s*parameters\.(\w+)\s*\}\}/g, (_, key) =>
      String(values[key]),
    );
  }
  if (Array.isArray(value)) {
    return value.map(v => render(v, values));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, render(v, values)]),
    );
  }
  return value;
}

describe('examples/templates/managed-plugin', () => {
  const template = parse(
    fs.readFileSync(TEMPLATE, 'utf8'),
  ) as TemplateEntityV1beta3;

  it('is a valid scaffolder template entity', async () => {
    await expect(templateEntityV1beta3Validator.check(template)).resolves.toBe(
      true,
    );
  });

  it('writes a component annotated with the plugin id, installs the plugin, and registers only when given a URL', () => {
    expect(template.spec.steps.map(s => [s.action, s.if])).toEqual([
      ['catalog:write', undefined],
      ['plugin-lifecycle:install', undefined],
      ['catalog:register', '${{ parameters.catalogInfoUrl }}'],
    ]);
    const write = render(template.spec.steps[0].input, VALUES) as any;
    expect(write.entity).toEqual({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: {
        name: 'payments-plugin',
        description: 'A plugin service',
        annotations: {
          'plugin-lifecycle.backstage.io/plugin-id': 'sample-http-service',
        },
      },
      spec: {
        type: 'service',
        lifecycle: 'experimental',
        owner: 'group:default/guests',
      },
    });
  });

  it('gives plugin-lifecycle:install an input its schema accepts', () => {
    const action = createInstallAction({ pluginLifecycle: {} as any });
    const input = render(template.spec.steps[1].input, VALUES);
    const result = new Validator().validate(input, action.schema!.input!);
    expect(result.errors.map(e => e.stack)).toEqual([]);
    expect(input).toEqual({
      pluginId: 'sample-http-service',
      version: '1.0.0',
      start: true,
    });
  });

  it('asks for what the steps use, with defaults that install the sample plugin', () => {
    const pages = template.spec.parameters as any[];
    const properties = Object.assign({}, ...pages.map(page => page.properties));
    expect(Object.keys(properties).sort()).toEqual(
      [...Object.keys(VALUES), 'catalogInfoUrl'].sort(),
    );
    expect(properties.pluginId.default).toBe('sample-http-service');
    expect(properties.version.default).toBe('1.0.0');
    // Every value the form accepts for the ids is a valid entity name and plugin id.
    const validator = new Validator();
    for (const [key, good, bad] of [
      ['name', 'payments-plugin', 'Payments Plugin'],
      ['pluginId', 'sample-http-service', 'sample_http'],
      ['catalogInfoUrl', 'https://git.example.com/x/catalog-info.yaml', 'x'],
    ]) {
      expect(validator.validate(good, properties[key]).valid).toBe(true);
      expect(validator.validate(bad, properties[key]).valid).toBe(false);
    }
  });
});

describe('examples/templates/update-managed-plugin', () => {
  const template = parse(
    fs.readFileSync(
      path.join(ROOT, 'examples/templates/update-managed-plugin/template.yaml'),
      'utf8',
    ),
  ) as TemplateEntityV1beta3;
  const values = {
    pluginId: 'sample-http-service',
    version: '1.1.0',
    strategy: 'canary',
    greeting: 'hello',
    timeoutSeconds: 600,
  };

  it('is a valid scaffolder template entity', async () => {
    await expect(templateEntityV1beta3Validator.check(template)).resolves.toBe(
      true,
    );
  });

  it('configures, updates and waits, with inputs the actions accept', () => {
    const client = () => ({} as any);
    const actions = Object.fromEntries(
      [
        createConfigureAction({ client }),
        createUpdateAction({ client }),
        createWaitAction({ client }),
      ].map(a => [a.id, a]),
    );
    expect(template.spec.steps.map(s => s.action)).toEqual([
      'plugin-lifecycle:configure',
      'plugin-lifecycle:update',
      'plugin-lifecycle:wait',
      'plugin-lifecycle:wait',
    ]);
    for (const step of template.spec.steps) {
      const input = render(step.input, values);
      const result = new Validator().validate(
        input,
        actions[step.action].schema!.input!,
      );
      expect([step.id, result.errors.map(e => e.stack)]).toEqual([step.id, []]);
    }
  });

  it('asks for what the steps use, with defaults that update the sample plugin', () => {
    const pages = template.spec.parameters as any[];
    const properties = Object.assign({}, ...pages.map(page => page.properties));
    expect(Object.keys(properties).sort()).toEqual(Object.keys(values).sort());
    expect(properties.pluginId.default).toBe('sample-http-service');
    expect(properties.version.default).toBe('1.1.0');
    expect(properties.strategy.default).toBe('rolling');
  });
});
