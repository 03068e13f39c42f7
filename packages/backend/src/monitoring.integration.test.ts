/*
 * The monitoring examples in examples/monitoring/, checked with the real
 * tools: Prometheus' promtool checks the alert rules and the scrape config
 * and runs the rules' unit tests (each rule fires on a series built for it
 * and stays quiet on a healthy one); the Grafana dashboard is valid JSON,
 * selects its Prometheus data source through a variable, and queries only the
 * metrics the backend exports, in PromQL that promtool parses.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(__dirname, '../../..');
const DIR = path.join(ROOT, 'examples/monitoring');
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

/**
 * The metrics as a Prometheus scrape of the backend names them: the contract
 * between the backend's instruments and these examples (and the table in
 * examples/monitoring/README.md).
 */
const METRICS: Record<string, 'gauge' | 'counter' | 'histogram'> = {
  plugin_lifecycle_plugins: 'gauge',
  plugin_lifecycle_plugin_state: 'gauge',
  plugin_lifecycle_instances: 'gauge',
  plugin_lifecycle_instance_restarts_total: 'counter',
  plugin_lifecycle_probe_results_total: 'counter',
  plugin_lifecycle_probe_duration_seconds: 'histogram',
  plugin_lifecycle_health_transitions_total: 'counter',
  plugin_lifecycle_proxy_requests_total: 'counter',
  plugin_lifecycle_proxy_errors_total: 'counter',
  plugin_lifecycle_proxy_request_duration_seconds: 'histogram',
  plugin_lifecycle_operation_queue_depth: 'gauge',
  plugin_lifecycle_operation_duration_seconds: 'histogram',
  plugin_lifecycle_deployments_active: 'gauge',
  plugin_lifecycle_deployments_total: 'counter',
  plugin_lifecycle_deployment_seconds_since_progress: 'gauge',
  plugin_lifecycle_config_changes_total: 'counter',
  plugin_lifecycle_config_version: 'gauge',
  plugin_lifecycle_config_watchers: 'gauge',
};

/** The series names a scrape has: a histogram is its _bucket/_sum/_count. */
const SCRAPED = new Set(
  Object.entries(METRICS).flatMap(([name, type]) =>
    type === 'histogram'
      ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
      : [name],
  ),
);

/** PromQL's words that are not metric names. */
const PROMQL_WORDS = new Set([
  ...['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk'],
  ...['bottomk', 'quantile', 'count_values', 'group', 'by', 'without'],
  ...['on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless'],
  ...['bool', 'offset', 'rate', 'irate', 'increase', 'delta', 'idelta'],
  ...['histogram_quantile', 'vector', 'scalar', 'abs', 'clamp_min'],
  ...['clamp_max', 'changes', 'resets', 'time', 'label_replace'],
  ...['avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time'],
  ...['absent', 'label_values', 'le', 'inf', 'nan'],
]);

/**
 * The metric names a PromQL expression selects: what is left once label
 * matchers, grouping labels, strings, ranges, numbers and PromQL's own words
 * are taken out.
 */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(
      /\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g,
      ' ',
    )
    .replace(/\$\w+/g, ' ')
    .replace(/\b\d+(\.\d+)?([eE][+-]?\d+)?\b/g, ' ');
  const words = stripped.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? [];
  return [...new Set(words.filter(w => !PROMQL_WORDS.has(w.toLowerCase())))];
}

function promtool(args: string[], cwd = DIR) {
  const result = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8' });
  return {
    status: result.status,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}`,
  };
}

type Rule = {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

type Panel = {
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; refId?: string }>;
  panels?: Panel[];
};

const ALERTS = [
  'PluginLifecyclePluginDown',
  'PluginLifecycleCrashLoop',
  'PluginLifecycleErrorRateHigh',
  'PluginLifecycleRolloutStuck',
  'PluginLifecycleQueueBacklog',
  'PluginLifecycleProbeFlapping',
];

describe('examples/monitoring', () => {
  beforeAll(() => {
    if (!fs.existsSync(PROMTOOL)) {
      throw new Error(
        `${PROMTOOL} is not installed (sudo apt-get install -y prometheus); the alert rules' tests use it`,
      );
    }
  });

  const rules: Rule[] = parseYaml(
    fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8'),
  ).groups.flatMap((g: { rules: Rule[] }) => g.rules);

  it('has alert rules that promtool accepts', () => {
    const { status, output } = promtool(['check', 'rules', 'alerts.yml']);
    expect({ status, output }).toEqual({
      status: 0,
      output: expect.stringContaining(`SUCCESS: ${ALERTS.length} rules found`),
    });
  });

  it("passes the alert rules' unit tests", () => {
    const { status, output } = promtool(['test', 'rules', 'alerts.test.yml']);
    expect({ status, output }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS'),
    });
  });

  it('has a scrape config that promtool accepts, loading the rules', () => {
    const { status, output } = promtool(['check', 'config', 'prometheus.yml']);
    expect({ status, output }).toEqual({
      status: 0,
      output: expect.stringContaining('SUCCESS: 1 rule files found'),
    });
    const config = parseYaml(
      fs.readFileSync(path.join(DIR, 'prometheus.yml'), 'utf8'),
    );
    expect(config.scrape_configs[0].static_configs[0].targets).toEqual([
      'localhost:9464',
    ]);
  });

  it('has each alert, with a severity, a summary and a description', () => {
    expect(rules.map(r => r.alert)).toEqual(ALERTS);
    for (const rule of rules) {
      expect({ alert: rule.alert, severity: rule.labels?.severity }).toEqual({
        alert: rule.alert,
        severity: expect.stringMatching(/^(critical|warning)$/),
      });
      expect(rule.annotations).toEqual({
        summary: expect.any(String),
        description: expect.any(String),
      });
    }
  });

  it('tests each alert both firing and quiet', () => {
    const tests = parseYaml(
      fs.readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8'),
    ).tests as Array<{
      alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }>;
    }>;
    const cases = tests.flatMap(t => t.alert_rule_test);
    for (const alert of ALERTS) {
      const mine = cases.filter(c => c.alertname === alert);
      expect({
        alert,
        fires: mine.some(c => c.exp_alerts.length > 0),
        quiet: mine.some(c => c.exp_alerts.length === 0),
      }).toEqual({ alert, fires: true, quiet: true });
    }
  });

  it('uses only the exported metrics in the alert rules', () => {
    for (const rule of rules) {
      const unknown = metricNames(rule.expr).filter(n => !SCRAPED.has(n));
      expect({ alert: rule.alert, unknown }).toEqual({
        alert: rule.alert,
        unknown: [],
      });
    }
  });

  it('documents the exported metrics in its README', () => {
    const readme = fs.readFileSync(path.join(DIR, 'README.md'), 'utf8');
    const documented = [
      ...readme.matchAll(/^\|\s*`(plugin_lifecycle_\w+)`\s*\|\s*(\w+)\s*\|/gm),
    ].map(m => [m[1], m[2]]);
    expect(Object.fromEntries(documented)).toEqual(METRICS);
  });

  describe('the Grafana dashboard', () => {
    const dashboard = JSON.parse(
      fs.readFileSync(path.join(DIR, 'grafana-dashboard.json'), 'utf8'),
    );
    const panels: Panel[] = (dashboard.panels as Panel[]).flatMap(p =>
      p.type === 'row' ? p.panels ?? [] : [p],
    );
    const queries = panels.flatMap(p =>
      (p.targets ?? []).map(t => ({ panel: p.title, expr: t.expr ?? '' })),
    );
    const variables: Array<{
      name: string;
      type: string;
      query: string | { query: string };
    }> = dashboard.templating.list;

    it('has a title, a uid and panels with queries', () => {
      expect(dashboard).toMatchObject({
        title: expect.any(String),
        uid: expect.stringMatching(/^[\w-]{1,40}$/),
      });
      expect(panels.length).toBeGreaterThan(10);
      for (const panel of panels) {
        expect({ panel: panel.title, targets: panel.targets?.length }).toEqual({
          panel: panel.title,
          targets: expect.any(Number),
        });
      }
    });

    it('selects a Prometheus data source through a variable, in every panel', () => {
      expect(variables.find(v => v.name === 'datasource')).toMatchObject({
        type: 'datasource',
        query: 'prometheus',
      });
      for (const panel of panels) {
        expect({ panel: panel.title, datasource: panel.datasource }).toEqual({
          panel: panel.title,
          datasource: { type: 'prometheus', uid: '${datasource}' },
        });
      }
    });

    it('filters by plugin and by service', () => {
      for (const name of ['plugin', 'service']) {
        const variable = variables.find(v => v.name === name)!;
        expect(variable).toMatchObject({ type: 'query' });
        const query =
          typeof variable.query === 'string'
            ? variable.query
            : variable.query.query;
        // label_values(<metric>, <label>): Grafana's query of a label's values.
        const [, metric, label] =
          /^label_values\((\w+)(?:\{[^}]*\})?,\s*(\w+)\)$/.exec(query) ?? [];
        expect({ name, metric: SCRAPED.has(metric) && metric, label }).toEqual({
          name,
          metric: expect.stringMatching(/^plugin_lifecycle_/),
          label: name,
        });
      }
      const uses = (v: string) =>
        queries.filter(q => q.expr.includes(`=~"$${v}"`)).length;
      expect(uses('plugin')).toBeGreaterThan(3);
      expect(uses('service')).toBeGreaterThan(2);
    });

    it('queries only the exported metrics, and each of them', () => {
      const used = new Set<string>();
      for (const { panel, expr } of queries) {
        const names = metricNames(expr);
        names.forEach(n => used.add(n.replace(/_(bucket|sum|count)$/, '')));
        expect({ panel, unknown: names.filter(n => !SCRAPED.has(n)) }).toEqual({
          panel,
          unknown: [],
        });
      }
      expect([...used].sort()).toEqual(Object.keys(METRICS).sort());
    });

    it('has queries that are valid PromQL', () => {
      // promtool parses rule files, not single queries: check the panels'
      // queries as recording rules, with Grafana's variables filled in.
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-promql-'));
      try {
        const file = path.join(work, 'queries.yml');
        const lines = ['groups:', '  - name: dashboard', '    rules:'];
        queries.forEach(({ expr }, i) => {
          const filled = expr
            .replaceAll('$__rate_interval', '1m')
            .replaceAll('$__range', '1h')
            .replace(/\$\w+/g, '.*');
          lines.push(
            `      - record: dashboard:query_${i}`,
            `        expr: ${JSON.stringify(filled)}`,
          );
        });
        fs.writeFileSync(file, `${lines.join('\n')}\n`);
        const { status, output } = promtool(['check', 'rules', file], work);
        expect({ status, output }).toEqual({
          status: 0,
          output: expect.stringContaining(
            `SUCCESS: ${queries.length} rules found`,
          ),
        });
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    });
  });
});
