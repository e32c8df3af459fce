// meshd's /metrics on a live server that has served a mesh (xDS pushes, an ACK, a NACK) and
// received DogStatsD telemetry: Prometheus's own linter (promtool check metrics) accepts the
// scrape; request durations land in a histogram PromQL can window; a virtual node removed from
// the mesh loses its series; the runtime metrics are there, and stop sampling when meshd stops.
import { execFileSync, spawnSync } from 'node:child_process';
import { runtimeMetricsState } from '../../src/admin/runtime-metrics';
import { describeIfAvailable } from '../helpers/envoy';
import {
  durationLine,
  EXTRA_NODE,
  responsesLine,
  sample,
  startLiveMeshd,
  type LiveMeshd,
} from '../helpers/live-metrics';
import { waitFor } from '../helpers/processes';

const PROMTOOL = process.env.PROMTOOL_BIN || '/usr/bin/promtool';

function findPromtool(): string | undefined {
  try {
    execFileSync(PROMTOOL, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `no promtool at ${PROMTOOL} (Debian's prometheus package; or set PROMTOOL_BIN)`;
  }
}

/** The label sets (as rendered) of a family's sample lines named exactly `series`. */
function seriesOf(text: string, series: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${series}{`) || l.startsWith(`${series} `))
    .map((l) => l.slice(series.length, l.lastIndexOf(' ')));
}

describe('/metrics on a live meshd that served a mesh and received DogStatsD telemetry', () => {
  let meshd: LiveMeshd;

  beforeAll(async () => {
    meshd = await startLiveMeshd();
  });

  afterAll(async () => {
    await meshd?.close();
  });

  it('answers in the text exposition format with the xDS, reload and runtime metrics', async () => {
    const { status, contentType, body } = await meshd.scrape();
    expect(status).toBe(200);
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(sample(body, 'meshd_xds_pushes_total{type="CDS",protocol="sotw"}')).toBeGreaterThanOrEqual(1);
    expect(sample(body, 'meshd_xds_connected_streams{protocol="sotw",client="other"}')).toBe(1);
    expect(sample(body, 'meshd_mesh_reloads_total{result="ok"}')).toBeGreaterThanOrEqual(1);
    // Push latency is timed from a mesh change (none here): the histogram is there, empty.
    expect(sample(body, 'meshd_xds_push_latency_seconds_count')).toBe(0);
    expect(sample(body, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(body, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(body).toContain('# TYPE nodejs_eventloop_lag_seconds gauge\n');
    expect(body).toContain('# TYPE nodejs_eventloop_lag_p99_seconds gauge\n');
  });

  it('gives two scrapes at once sane event-loop lag figures (finite, min <= mean <= max)', async () => {
    const bodies = (await Promise.all([meshd.scrape(), meshd.scrape()])).map((r) => r.body);
    for (const body of bodies) {
      const [min, mean, max] = ['min', 'mean', 'max'].map((s) => sample(body, `nodejs_eventloop_lag_${s}_seconds`));
      for (const v of [min, mean, max]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeLessThan(60);
      }
      expect(min).toBeLessThanOrEqual(mean!);
      expect(mean).toBeLessThanOrEqual(max!);
    }
  });

  it('puts the request durations it receives in meshd_virtual_node_request_duration_seconds, next to the counters', async () => {
    await meshd.sendStatsd(
      [
        responsesLine('color-blue', 9081, 9),
        responsesLine('color-blue', 9081, 1, 5),
        durationLine('color-blue', 9081, 3),
        durationLine('color-blue', 9081, 40),
        durationLine('color-blue', 9081, 700),
      ].join('\n'),
    );
    const { body } = await meshd.scrape();
    const node = 'mesh="apps",virtual_node="color-blue"';
    expect(sample(body, `meshd_virtual_node_requests_total{${node}}`)).toBe(10);
    expect(sample(body, `meshd_virtual_node_errors_total{${node}}`)).toBe(1);
    const bucket = (le: string) =>
      sample(body, `meshd_virtual_node_request_duration_seconds_bucket{le="${le}",${node}}`);
    expect([bucket('0.0025'), bucket('0.005'), bucket('0.05'), bucket('0.5'), bucket('1'), bucket('+Inf')]).toEqual([
      0, 1, 2, 2, 3, 3,
    ]);
    expect(sample(body, `meshd_virtual_node_request_duration_seconds_count{${node}}`)).toBe(3);
    expect(sample(body, `meshd_virtual_node_request_duration_seconds_sum{${node}}`)).toBeCloseTo(0.743, 9);
    // The deprecated window quantiles, now a summary (with the same sum and count).
    expect(body).toContain('# TYPE meshd_virtual_node_window_latency_seconds summary\n');
    expect(sample(body, `meshd_virtual_node_window_latency_seconds{${node},quantile="0.99"}`)).toBeGreaterThan(0.5);
    expect(sample(body, `meshd_virtual_node_window_latency_seconds_count{${node}}`)).toBe(3);
    expect(sample(body, `meshd_virtual_node_window_latency_seconds_sum{${node}}`)).toBeCloseTo(0.743, 9);
    expect(body).toContain('# TYPE meshd_virtual_node_request_duration_seconds histogram\n');
  });

  it("drops a virtual node's series when the node leaves the mesh, and keeps the others'", async () => {
    await meshd.sendStatsd([responsesLine(EXTRA_NODE, 9089, 4), durationLine(EXTRA_NODE, 9089, 12)].join('\n'));
    const extra = `{mesh="apps",virtual_node="${EXTRA_NODE}"}`;
    const before = (await meshd.scrape()).body;
    expect(sample(before, `meshd_virtual_node_requests_total${extra}`)).toBe(4);
    expect(sample(before, `meshd_virtual_node_request_duration_seconds_count${extra}`)).toBe(1);
    meshd.removeExtraNode();
    const after = await waitFor('the extra node to leave /metrics', async () => {
      const { body } = await meshd.scrape();
      return seriesOf(body, 'meshd_virtual_node_requests_total').includes(extra) ? undefined : body;
    });
    for (const family of [
      'meshd_virtual_node_requests_total',
      'meshd_virtual_node_errors_total',
      'meshd_virtual_node_request_duration_seconds_count',
      'meshd_virtual_node_request_duration_seconds_sum',
      'meshd_virtual_node_window_requests_per_second',
    ])
      expect(seriesOf(after, family).filter((s) => s.includes(`virtual_node="${EXTRA_NODE}"`))).toEqual([]);
    expect(after).not.toContain(`virtual_node="${EXTRA_NODE}"`);
    expect(seriesOf(after, 'meshd_virtual_node_request_duration_seconds_count')).toEqual([
      '{mesh="apps",virtual_node="color-blue"}',
    ]);
  });

  it("forgets a removed node's durations on the reload itself: a node removed and added back between scrapes starts afresh", async () => {
    meshd.addExtraNode();
    await meshd.sendStatsd(durationLine(EXTRA_NODE, 9089, 12));
    const extra = `{mesh="apps",virtual_node="${EXTRA_NODE}"}`;
    expect(sample((await meshd.scrape()).body, `meshd_virtual_node_request_duration_seconds_count${extra}`)).toBe(1);
    // No scrape between the two reloads: only the reload can have dropped the old durations.
    meshd.removeExtraNode();
    meshd.addExtraNode();
    const { body } = await meshd.scrape();
    expect(seriesOf(body, 'meshd_virtual_node_request_duration_seconds_count')).not.toContain(extra);
    await meshd.sendStatsd(durationLine(EXTRA_NODE, 9089, 30));
    expect(sample((await meshd.scrape()).body, `meshd_virtual_node_request_duration_seconds_count${extra}`)).toBe(1);
  });
});

describe('meshd stopping', () => {
  it('lets go of the runtime metrics: the event-loop monitor stops sampling once the last server is closed', async () => {
    const meshd = await startLiveMeshd();
    expect(runtimeMetricsState().users).toBe(1);
    expect(runtimeMetricsState().lagWindowRunning).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await meshd.close();
    expect(runtimeMetricsState().users).toBe(0);
    expect(runtimeMetricsState().lagWindowRunning).toBe(false);
    const stopped = runtimeMetricsState().monitorSamples;
    // It did sample while meshd ran (10 ms resolution), so that the comparison below is not vacuous.
    expect(stopped).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(runtimeMetricsState().monitorSamples).toBe(stopped);
    // And nothing else of meshd's keeps jest alive: this file runs without --forceExit.
  });
});

describeIfAvailable("promtool check metrics on a live scrape (Prometheus's linter)", 'promtool', findPromtool(), () => {
  let meshd: LiveMeshd;

  beforeAll(async () => {
    meshd = await startLiveMeshd();
    await meshd.sendStatsd([responsesLine('color-green', 9082, 5), durationLine('color-green', 9082, 20)].join('\n'));
  });

  afterAll(async () => {
    await meshd?.close();
  });

  it('finds no problem in the scrape', async () => {
    const { body } = await meshd.scrape();
    const checked = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect({ status: checked.status, problems: `${checked.stdout}${checked.stderr}`.trim() }).toEqual({
      status: 0,
      problems: '',
    });
  });
});
