// examples/observability/meshd-dashboard.json, the Grafana dashboard for meshd: importable as it
// is (a current schemaVersion, one Prometheus data source variable that every panel, query and
// variable uses), every panel has a query, and every metric name its PromQL reads is on the
// /metrics of a live meshd that has served a mesh and received DogStatsD telemetry. With promtool,
// every query also parses as PromQL (promtool check rules).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeIfAvailable } from '../helpers/envoy';
import { durationLine, responsesLine, startLiveMeshd, type LiveMeshd } from '../helpers/live-metrics';
import { freePort, tmpDir, tmpFile, waitFor } from '../helpers/processes';

const DASHBOARD = path.resolve(__dirname, '../../examples/observability/meshd-dashboard.json');
const PROMTOOL = process.env.PROMTOOL_BIN || '/usr/bin/promtool';
const PROMETHEUS = process.env.PROMETHEUS_BIN || '/usr/bin/prometheus';
const DATASOURCE_VARIABLE = '${datasource}';

interface Target {
  expr?: string;
  refId?: string;
  datasource?: unknown;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: { defaults?: { unit?: string } };
}
interface Dashboard {
  schemaVersion?: number;
  uid?: string;
  title?: string;
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: unknown; datasource?: unknown; definition?: string }[] };
}

// ---- a PromQL tokenizer that finds the metric names an expression reads ----

const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);
/** Keywords followed by a parenthesised list of label names (not metric names). */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** The token a position in a PromQL expression starts; undefined at the end. */
const TOKEN =
  /\s+|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|(?:\d+(?:ms|[smhdwy]))+|0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[A-Za-z_:][A-Za-z0-9_:]*|=~|!~|!=|==|>=|<=|[-+*/%^(){}[\],=<>@]/y;

interface Token {
  kind: 'space' | 'string' | 'variable' | 'duration' | 'number' | 'identifier' | 'punct';
  text: string;
}

export function tokenize(expr: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < expr.length) {
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(expr);
    if (!m) throw new Error(`cannot read the PromQL at offset ${at}: ${JSON.stringify(expr.slice(at, at + 30))}`);
    const text = m[0];
    at += text.length;
    const kind: Token['kind'] = /^\s/.test(text)
      ? 'space'
      : /^["'`]/.test(text)
        ? 'string'
        : text.startsWith('$')
          ? 'variable'
          : /^\d+(?:ms|[smhdwy])/.test(text) && /[a-z]$/.test(text)
            ? 'duration'
            : /^[\d.]/.test(text)
              ? 'number'
              : /^[A-Za-z_:]/.test(text)
                ? 'identifier'
                : 'punct';
    if (kind !== 'space') tokens.push({ kind, text });
  }
  return tokens;
}

/**
 * The metric names a PromQL expression reads: identifiers that are not a function call, an
 * aggregation, a keyword, a label name inside `{…}` or a `by (…)`-style list, a string, a
 * duration, a number or a Grafana variable.
 */
export function metricNames(expr: string): string[] {
  const tokens = tokenize(expr);
  const names: string[] = [];
  let braces = 0;
  let brackets = 0;
  let parens = 0;
  /** The depth of the parenthesis a `by (…)`-style list opened, while in one. */
  let labelList: number | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct') {
      if (t.text === '{') braces++;
      else if (t.text === '}') braces--;
      else if (t.text === '[') brackets++;
      else if (t.text === ']') brackets--;
      else if (t.text === '(') parens++;
      else if (t.text === ')') {
        if (labelList === parens) labelList = undefined;
        parens--;
      }
      if (braces < 0 || brackets < 0 || parens < 0) throw new Error(`unbalanced ${t.text} in ${expr}`);
      continue;
    }
    if (t.kind !== 'identifier' || braces > 0 || brackets > 0 || labelList !== undefined) continue;
    const next = tokens[i + 1];
    const lower = t.text.toLowerCase();
    if (LABEL_LISTS.has(lower)) {
      // group_left and group_right take an optional list; by, without, on and ignoring a required one.
      if (next?.text !== '(' && lower.startsWith('group_')) continue;
      if (next?.text !== '(') throw new Error(`'${t.text}' without its label list in ${expr}`);
      labelList = parens + 1; // the depth once its '(' (the next token) is read
      continue;
    }
    if (KEYWORDS.has(lower) || AGGREGATIONS.has(lower)) continue;
    if (next?.text === '(') continue; // a function call
    names.push(t.text);
  }
  if (braces !== 0 || brackets !== 0 || parens !== 0) throw new Error(`unbalanced brackets in ${expr}`);
  return names;
}

// ---- the dashboard ----

function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

/** Every `datasource` value anywhere in the JSON, with where it is. */
function datasources(value: unknown, where = '$'): { where: string; value: unknown }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => datasources(v, `${where}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(k === 'datasource' ? [{ where: `${where}.datasource`, value: v }] : []),
    ...datasources(v, `${where}.${k}`),
  ]);
}

const isVariable = (ds: unknown) =>
  ds === DATASOURCE_VARIABLE ||
  (typeof ds === 'object' &&
    ds !== null &&
    (ds as { uid?: unknown }).uid === DATASOURCE_VARIABLE &&
    [undefined, 'prometheus'].includes((ds as { type?: string }).type));

/** Grafana's units of things per second. */
const PER_SECOND_UNITS = new Set(['ops', 'reqps', 'rps', 'wps', 'cps', 'pps', 'iops']);

/**
 * What a query plots when it is a plain rate() of counters (no ratio, no quantile): seconds per second
 * (a rate of `*_seconds_total` or of a histogram's `*_seconds_sum`: a share of time), or things per
 * second (a rate of other `*_total` counters); undefined for anything else.
 */
export function rateKind(expr: string): 'share of time' | 'per second' | undefined {
  if (!/\brate\(/.test(expr) || /histogram_quantile|\bincrease\(|[/*]/.test(expr.replace(/\[[^\]]*\]/g, '')))
    return undefined;
  const names = metricNames(expr);
  if (names.length && names.every((n) => /_seconds_(total|sum)$/.test(n))) return 'share of time';
  if (names.length && names.every((n) => n.endsWith('_total') && !n.endsWith('_seconds_total'))) return 'per second';
  return undefined;
}

/**
 * A unit that does not fit what every query of the panel plots: a share of time must be
 * `percentunit` (not `s`), things per second a per-second unit (`ops`, `reqps`; not `s` nor `short`).
 */
export function unitProblem(unit: string | undefined, exprs: readonly string[]): string | undefined {
  const kinds = new Set(exprs.map(rateKind));
  if (kinds.size !== 1) return undefined;
  const [kind] = kinds;
  if (kind === 'share of time' && unit !== 'percentunit')
    return `unit ${String(unit)} for a rate of seconds (a share of time): use percentunit`;
  if (kind === 'per second' && !PER_SECOND_UNITS.has(unit ?? ''))
    return `unit ${String(unit)} for a rate of counters (per second): use ops or reqps`;
  return undefined;
}

/** Every problem of a dashboard as a list of lines (empty: none), and each query with where it is. */
export function checkDashboard(d: Dashboard): { problems: string[]; queries: { where: string; expr: string }[] } {
  const problems: string[] = [];
  const queries: { where: string; expr: string }[] = [];
  if (typeof d.schemaVersion !== 'number' || d.schemaVersion < 36)
    problems.push(`schemaVersion ${String(d.schemaVersion)}: a current Grafana's is 36 or more`);
  const variables = d.templating?.list ?? [];
  const dsVariable = variables.find((v) => v.name === 'datasource');
  if (dsVariable?.type !== 'datasource' || dsVariable.query !== 'prometheus')
    problems.push('no data source variable `datasource` of type datasource for Prometheus');
  for (const { where, value } of datasources(d)) {
    if (!isVariable(value))
      problems.push(`${where} is ${JSON.stringify(value)}, not the ${DATASOURCE_VARIABLE} variable`);
  }
  const panels = allPanels(d.panels);
  if (panels.filter((p) => p.type !== 'row').length === 0) problems.push('no panels');
  for (const p of panels) {
    const name = `panel ${p.id ?? '?'} (${p.title ?? 'untitled'})`;
    if (p.type === 'row') {
      if (p.targets?.length) problems.push(`${name}: a row with queries`);
      continue;
    }
    if (!isVariable(p.datasource)) problems.push(`${name}: its datasource is not ${DATASOURCE_VARIABLE}`);
    const exprs = (p.targets ?? []).map((t) => t.expr?.trim() ?? '');
    if (exprs.length === 0 || exprs.some((e) => e === '')) problems.push(`${name}: a panel without a PromQL expr`);
    try {
      const wrongUnit = exprs.length ? unitProblem(p.fieldConfig?.defaults?.unit, exprs) : undefined;
      if (wrongUnit) problems.push(`${name}: ${wrongUnit}`);
    } catch {
      // An expression the tokenizer cannot read is reported below.
    }
    exprs.forEach((expr, i) => expr && queries.push({ where: `${name} target ${i}`, expr }));
  }
  for (const v of variables) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const inner = q && /^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(q)?.[1];
    if (!inner) problems.push(`variable ${v.name}: not a label_values(<series>, <label>) query: ${String(q)}`);
    else queries.push({ where: `variable ${v.name}`, expr: inner });
  }
  for (const q of queries) {
    try {
      if (metricNames(q.expr).length === 0) problems.push(`${q.where}: reads no metric: ${q.expr}`);
    } catch (err) {
      problems.push(`${q.where}: ${(err as Error).message}`);
    }
  }
  return { problems, queries };
}

/**
 * Whether a scrape has a metric name: a sample line of that exact name (a histogram's _bucket,
 * _sum and _count series included; a histogram's bare name has none), or a counter or gauge
 * family declared with no series yet (a labelled counter that has not counted anything).
 */
function scrapeNames(text: string): { has(name: string): boolean } {
  const samples = new Set<string>();
  const declared = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (type) declared.add(type[1]!);
    else if (line && !line.startsWith('#')) samples.add(/^[^{ ]+/.exec(line)![0]);
  }
  return { has: (name) => samples.has(name) || declared.has(name) };
}

const dashboard = () => JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;

describe('the PromQL tokenizer the dashboard test relies on', () => {
  it.each([
    ['rate(meshd_xds_pushes_total{type="CDS"}[5m])', ['meshd_xds_pushes_total']],
    [
      'histogram_quantile(0.99, sum by (le, mesh) (rate(a_bucket{mesh=~"$mesh", le!="x"}[$__rate_interval])))',
      ['a_bucket'],
    ],
    ['sum without (instance) (a) / on (job) group_left (le) b offset 1h30m', ['a', 'b']],
    ['max(a) by (virtual_node) > bool 1e3 and ignoring(x) c unless d', ['a', 'c', 'd']],
    ['sum(rate(x[${__interval}])) or vector(0)', ['x']],
    ['topk(5, foo:rate5m) @ 1609746000', ['foo:rate5m']],
    ['a * on (x) group_left b', ['a', 'b']],
    ['max_over_time(rate(a[5m])[1h:1m])', ['a']],
    ["label_replace(m, 'dst', \"$1\", 'src', '(.*)')", ['m']],
    ['a{by="sum"} + 0x1F * Inf - NaN', ['a']],
  ])('%s reads %j', (expr, names) => {
    expect(metricNames(expr)).toEqual(names);
  });

  it('refuses what it cannot read', () => {
    expect(() => metricNames('rate(a[5m]')).toThrow('unbalanced');
    expect(() => metricNames('sum by le (a)')).toThrow("'by' without its label list");
    expect(() => metricNames('a # b')).toThrow('cannot read the PromQL');
  });
});

describe('examples/observability/meshd-dashboard.json', () => {
  it('is importable as it is: a current schema, the ${datasource} variable everywhere, a query in every panel', () => {
    const d = dashboard();
    expect(checkDashboard(d).problems).toEqual([]);
    expect(d.uid).toBe('meshd-overview');
    const titles = allPanels(d.panels).map((p) => p.title);
    for (const title of [
      'xDS connected streams',
      'xDS NACKs',
      'xDS push latency p50/p99',
      'Event-loop lag',
      'Request duration p99',
    ])
      expect(titles).toContain(title);
  });

  it('is refused with a panel without a query, or a data source other than the variable', () => {
    const broken = dashboard();
    broken.panels![1]!.targets = [];
    (broken.panels![2]!.targets![0] as Target).datasource = { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' };
    broken.templating!.list![1]!.datasource = 'Prometheus';
    expect(checkDashboard(broken).problems.sort()).toEqual(
      [
        `$.panels[2].targets[0].datasource is {"type":"prometheus","uid":"P1809F7CD0C75ACF3"}, not the ${DATASOURCE_VARIABLE} variable`,
        `$.templating.list[1].datasource is "Prometheus", not the ${DATASOURCE_VARIABLE} variable`,
        `panel ${broken.panels![1]!.id} (${broken.panels![1]!.title}): a panel without a PromQL expr`,
      ].sort(),
    );
  });

  it('is refused with a unit that does not fit a rate: seconds per second as s, things per second as s or short', () => {
    const broken = dashboard();
    const panel = (title: string) => allPanels(broken.panels).find((p) => p.title === title)!;
    panel('GC pauses').fieldConfig!.defaults!.unit = 's';
    panel('xDS pushes').fieldConfig!.defaults!.unit = 's';
    panel('DogStatsD intake').fieldConfig!.defaults!.unit = 'short';
    const name = (p: Panel) => `panel ${p.id} (${p.title})`;
    expect(checkDashboard(broken).problems.sort()).toEqual(
      [
        `${name(panel('GC pauses'))}: unit s for a rate of seconds (a share of time): use percentunit`,
        `${name(panel('xDS pushes'))}: unit s for a rate of counters (per second): use ops or reqps`,
        `${name(panel('DogStatsD intake'))}: unit short for a rate of counters (per second): use ops or reqps`,
      ].sort(),
    );
    // Quantiles, ratios and increase() are not rates of a counter: their units are not judged here.
    expect(rateKind('histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket[5m])))')).toBe(undefined);
    expect(rateKind('sum(rate(a_total[5m])) / sum(rate(b_total[5m]))')).toBe(undefined);
    expect(rateKind('sum(increase(a_total[5m]))')).toBe(undefined);
    expect(rateKind('sum by (instance) (rate(process_cpu_seconds_total[1m]))')).toBe('share of time');
  });

  describe('against a live meshd that served a mesh and received DogStatsD telemetry', () => {
    let meshd: LiveMeshd;

    beforeAll(async () => {
      meshd = await startLiveMeshd();
      await meshd.sendStatsd(
        [
          responsesLine('color-blue', 9081, 20),
          responsesLine('color-blue', 9081, 2, 5),
          durationLine('color-blue', 9081, 8),
          durationLine('color-blue', 9081, 120),
        ].join('\n'),
      );
    });

    afterAll(async () => {
      await meshd?.close();
    });

    it('reads only metrics /metrics has (histograms through their _bucket, _sum and _count series)', async () => {
      const { queries } = checkDashboard(dashboard());
      const scrape = scrapeNames((await meshd.scrape()).body);
      const missing = queries.flatMap(({ where, expr }) =>
        metricNames(expr)
          .filter((name) => !scrape.has(name))
          .map((name) => `${where}: ${name}`),
      );
      expect(missing).toEqual([]);
      // The per-node panels' histogram has series for the node the telemetry was about.
      expect((await meshd.scrape()).body).toContain(
        'meshd_virtual_node_request_duration_seconds_bucket{le="0.01",mesh="apps",virtual_node="color-blue"} 1',
      );
    });
  });
});

function missing(bin: string, variable: string): string | undefined {
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `no ${path.basename(bin)} at ${bin} (Debian's prometheus package; or set ${variable})`;
  }
}
const promtoolMissing = () => missing(PROMTOOL, 'PROMTOOL_BIN');

/** A query with Grafana's variables given values: every instance, mesh and node; a short rate window. */
function concrete(expr: string, rateWindow: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}|\$__interval/g, rateWindow)
    .replace(/\$\{?[A-Za-z_]+\}?/g, '.*');
}

describeIfAvailable(
  'the dashboard queries parse as PromQL (promtool check rules)',
  'promtool',
  promtoolMissing(),
  () => {
    it('every query, with its Grafana variables given values', () => {
      const { queries } = checkDashboard(dashboard());
      const rules = [
        'groups:',
        '  - name: meshd-dashboard',
        '    rules:',
        ...queries.flatMap((q, i) => [
          `      - record: dashboard:query_${i}`,
          `        expr: ${JSON.stringify(concrete(q.expr, '1m'))}`,
        ]),
        '',
      ].join('\n');
      const checked = spawnSync(PROMTOOL, ['check', 'rules', tmpFile('dashboard-rules.yaml', rules)], {
        encoding: 'utf8',
      });
      expect({
        status: checked.status,
        output: checked.status === 0 ? '' : `${checked.stdout}${checked.stderr}`,
      }).toEqual({
        status: 0,
        output: '',
      });
    });
  },
);

describeIfAvailable(
  "the dashboard's queries in a real Prometheus that scrapes a live meshd",
  'prometheus',
  missing(PROMETHEUS, 'PROMETHEUS_BIN'),
  () => {
    let meshd: LiveMeshd;
    let prometheus: ChildProcess | undefined;
    let port = 0;
    let output = '';

    const query = async (expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`);
      return (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    };

    beforeAll(async () => {
      meshd = await startLiveMeshd();
      port = await freePort();
      const dir = tmpDir('prometheus-');
      const config = [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: meshd',
        `    static_configs: [{ targets: ['127.0.0.1:${meshd.adminPort}'] }]`,
        '',
      ].join('\n');
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
      prometheus = spawn(
        PROMETHEUS,
        [
          `--config.file=${path.join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${path.join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      prometheus.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      // Telemetry keeps coming while Prometheus scrapes, so that rates have two different samples.
      await waitFor(
        'Prometheus to have scraped meshd',
        async () => {
          const up = await query('up{job="meshd"} == 1').catch(() => undefined);
          return up?.data?.result.length ? true : undefined;
        },
        20_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; prometheus said: ${output.slice(-2000)}`);
      });
      for (let i = 0; i < 4; i++) {
        await meshd.sendStatsd(
          [
            responsesLine('color-blue', 9081, 10),
            responsesLine('color-blue', 9081, 1, 5),
            durationLine('color-blue', 9081, 30),
          ].join('\n'),
        );
        await new Promise((resolve) => setTimeout(resolve, 1200));
      }
    });

    afterAll(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        await exited;
      }
      await meshd?.close();
    });

    it('evaluates every query; those of the panels fed here return series', async () => {
      const { queries } = checkDashboard(dashboard());
      const answers = await Promise.all(
        queries.map(async (q) => ({ where: q.where, expr: q.expr, answer: await query(concrete(q.expr, '10s')) })),
      );
      expect(answers.filter((a) => a.answer.status !== 'success').map((a) => `${a.where}: ${a.answer.error}`)).toEqual(
        [],
      );
      // Queries of metrics that have series here (no handler error or refusal happened: those are empty).
      const fed = [
        'xDS connected streams',
        'xDS pushes',
        'xDS NACKs',
        'xDS push latency p50/p99',
        'Mesh reloads',
        'Event-loop lag',
        'Memory',
        'CPU',
        'DogStatsD intake',
        'Request rate',
        'Error rate',
        'Request duration p99',
      ];
      const empty = answers
        .filter((a) => fed.some((title) => a.where.includes(`(${title}) target 0`)))
        .filter((a) => !a.answer.data?.result.length)
        .map((a) => `${a.where}: ${a.expr}`);
      expect(empty).toEqual([]);
      expect(answers.filter((a) => fed.some((title) => a.where.includes(`(${title}) target 0`)))).toHaveLength(
        fed.length,
      );
    });
  },
);
