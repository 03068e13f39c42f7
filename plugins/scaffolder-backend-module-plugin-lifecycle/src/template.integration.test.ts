import { mockCredentials } from '@backstage/backend-test-utils';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  clientFor,
  exampleTemplate,
  startBackend,
} from './__testUtils__/testBackend';

jest.setTimeout(240_000);

const PLUGIN = 'tpl-sample';
const ALICE = 'user:default/alice';
const auth = mockCredentials.user.header(ALICE);

/**
 * examples/templates/update-managed-plugin executed by the real scaffolder
 * backend (its task worker, this module's actions) against the real
 * plugin-lifecycle backend: the configuration value set, the update rolled
 * out and waited for, and a rollout that fails failing the task with why.
 */
describe('examples/templates/update-managed-plugin, run by the scaffolder', () => {
  const template = exampleTemplate('update-managed-plugin');
  let baseUrl: string;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ baseUrl, stop } = await startBackend({
      pluginIds: [PLUGIN],
      templates: [template],
    }));
    const api = clientFor(baseUrl)(mockCredentials.user(ALICE));
    const { operationId } = await api.installPlugin(PLUGIN, {
      version: '1.0.0',
      start: true,
    });
    const installed = await api.getOperation(operationId, { waitSeconds: 60 });
    if (installed.status !== 'succeeded') {
      throw new Error(`installing the sample failed: ${installed.error}`);
    }
  });
  afterAll(async () => {
    await stop?.();
  });

  /** Runs the template as Alice; the task's end and its log. */
  async function runTemplate(values: Record<string, unknown>) {
    const created = await fetch(`${baseUrl}/scaffolder/v2/tasks`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        templateRef: stringifyEntityRef(template),
        values,
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    let task: { status: string };
    for (;;) {
      task = await (
        await fetch(`${baseUrl}/scaffolder/v2/tasks/${id}`, {
          headers: { Authorization: auth },
        })
      ).json();
      if (!['open', 'processing'].includes(task.status)) break;
      await new Promise(r => setTimeout(r, 250));
    }
    const events = (await (
      await fetch(`${baseUrl}/scaffolder/v2/tasks/${id}/events`, {
        headers: { Authorization: auth },
      })
    ).json()) as Array<{ type: string; body: any }>;
    return {
      status: task.status,
      log: events
        .filter(e => e.type === 'log')
        .map(e => String(e.body.message))
        .join('\n'),
      completion: events.find(e => e.type === 'completion')?.body,
    };
  }

  it('sets the greeting, rolls 1.1.0 out and waits for its outcome', async () => {
    const run = await runTemplate({
      pluginId: PLUGIN,
      version: '1.1.0',
      strategy: 'rolling',
      greeting: 'hello from the template',
      timeoutSeconds: 120,
    });
    expect({ status: run.status, log: run.log }).toMatchObject({
      status: 'completed',
    });
    expect(run.log).toContain(`Wrote version 1 of ${PLUGIN}'s base layer`);
    expect(run.log).toMatch(
      /deployment \S+ \(tpl-sample to 1\.1\.0\) succeeded/,
    );
    expect(run.completion.output.text[0].content).toMatch(
      /^tpl-sample moved from 1\.0\.0 to 1\.1\.0 \(operation \S+, deployment \S+: succeeded\)$/,
    );

    const api = clientFor(baseUrl)(mockCredentials.user(ALICE));
    const plugin = await api.getPlugin(PLUGIN);
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    const effective = await api.getConfiguration(PLUGIN, 'development');
    expect(effective.entries.find(e => e.key === 'greeting')?.value).toBe(
      'hello from the template',
    );
    // The steps acted as the user who ran the template.
    const [update] = await api.listOperations(PLUGIN, { limit: 1 });
    expect(update).toMatchObject({ type: 'update', actor: ALICE });
  });

  it('fails the task with the reason when the rollout does not succeed', async () => {
    const run = await runTemplate({
      pluginId: PLUGIN,
      version: '2.0.0',
      strategy: 'rolling',
      timeoutSeconds: 120,
    });
    expect(run.status).toBe('failed');
    expect(run.log).toContain('Skipping step configure');
    expect(run.log).toMatch(
      /deployment \S+ \(tpl-sample to 2\.0\.0\) (failed|rolled-back)/,
    );
  });
});
