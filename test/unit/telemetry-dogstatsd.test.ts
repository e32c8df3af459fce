// The DogStatsD parser: Envoy's lines as the pinned Envoy sends them, the rest of the format,
// and anything else skipped and counted, never thrown.
import * as fc from 'fast-check';
import { parseDatagram, parseLine, readLine } from '../../src/telemetry';

const ENVOY_COUNTER =
  'envoy.cluster.upstream_rq_xx:3|c|#envoy.response_code_class:5,appmesh.mesh:tm,appmesh.virtual_node:client,envoy.cluster_name:cds_egress_tm_bad_http_41887';

describe('DogStatsD lines', () => {
  it("reads Envoy's counter: name, value, type and every tag by key", () => {
    const m = parseLine(ENVOY_COUNTER)!;
    expect({
      name: m.name,
      type: m.type,
      values: m.values,
      sampleRate: m.sampleRate,
      tags: Object.fromEntries(m.tags),
    }).toEqual({
      name: 'envoy.cluster.upstream_rq_xx',
      type: 'c',
      values: [3],
      sampleRate: 1,
      tags: {
        'envoy.response_code_class': '5',
        'appmesh.mesh': 'tm',
        'appmesh.virtual_node': 'client',
        'envoy.cluster_name': 'cds_egress_tm_bad_http_41887',
      },
    });
  });

  it.each([
    [
      'a histogram in milliseconds',
      'envoy.cluster.upstream_rq_time:101|ms|#envoy.cluster_name:c',
      { name: 'envoy.cluster.upstream_rq_time', type: 'ms', values: [101] },
    ],
    ['a gauge without tags', 'envoy.server.live:1|g', { name: 'envoy.server.live', type: 'g', values: [1], tags: {} }],
    ['a negative gauge delta', 'queue:-2|g', { type: 'g', values: [-2] }],
    ['a fraction and an exponent', 'x:0.5:1e3|h', { type: 'h', values: [0.5, 1000] }],
    ['packed values (DogStatsD 1.1)', 'x:1:2:3.5|d', { type: 'd', values: [1, 2, 3.5] }],
    ['a sample rate', 'x:4|c|@0.25|#a:b', { values: [4], sampleRate: 0.25, tags: { a: 'b' } }],
    [
      'a tag without a value and a value with a colon',
      'x:1|c|#solo,url:http://h:80/',
      { tags: { solo: '', url: 'http://h:80/' } },
    ],
    ['container id and timestamp sections', 'x:1|c|#a:b|c:83c0a99c|T1656581400', { values: [1], tags: { a: 'b' } }],
  ])('%s', (_, line, expected) => {
    const m = parseLine(line);
    expect(m).toBeDefined();
    const seen = {
      name: m!.name,
      type: m!.type,
      values: m!.values,
      sampleRate: m!.sampleRate,
      tags: Object.fromEntries(m!.tags),
    };
    expect(seen).toMatchObject(expected);
  });

  it.each([
    'garbage',
    'name:1',
    'name:|c',
    'name:abc|c',
    'name:1|zz',
    ':1|c',
    'name|c:1',
    'name:0x10|c',
    'na me:1|c',
    '_e{5,4}:title|text',
    '_sc|name|0',
    'users:alice|s', // a set's value is a string: meshd has no use for sets
  ])('skips %j', (line) => {
    expect(parseLine(line)).toBeUndefined();
    expect(parseDatagram(line)).toEqual({ metrics: [], lines: 1, skipped: 1, dropped: new Map() });
  });

  it.each([
    ['name:NaN|c', 'non_finite'],
    ['name:-nan|c', 'non_finite'],
    ['name:Infinity|g', 'non_finite'],
    ['name:1:inf|ms', 'non_finite'],
    ['name:1e309|c', 'non_finite'],
    ['name:1|c|@2', 'sample_rate'],
    ['name:1|c|@0', 'sample_rate'],
    ['name:1|c|@-0.5', 'sample_rate'],
    ['name:1|c|@0.0009', 'sample_rate'],
    ['name:1|c|@1e-300', 'sample_rate'],
    ['name:1|c|@NaN', 'sample_rate'],
    [`name:1|c|#${Array.from({ length: 65 }, (_, i) => `t${i}:v`).join(',')}`, 'too_many_tags'],
  ])('drops %j (%s) and counts it', (line, reason) => {
    expect(parseLine(line)).toBeUndefined();
    expect(readLine(line)).toEqual({ dropped: reason });
    expect(parseDatagram(line)).toEqual({ metrics: [], lines: 1, skipped: 0, dropped: new Map([[reason, 1]]) });
  });
});

describe('DogStatsD datagrams', () => {
  it('splits lines at newlines (CRLF too), skips bad ones and counts them, and does not count blank lines', () => {
    const parsed = parseDatagram(
      `${ENVOY_COUNTER}\r\nnot a metric\n\nenvoy.cluster.upstream_rq_time:7|ms|#envoy.cluster_name:c\n`,
    );
    expect(parsed.metrics.map((m) => `${m.name}:${m.values.join(':')}|${m.type}`)).toEqual([
      'envoy.cluster.upstream_rq_xx:3|c',
      'envoy.cluster.upstream_rq_time:7|ms',
    ]);
    expect({ lines: parsed.lines, skipped: parsed.skipped }).toEqual({ lines: 3, skipped: 1 });
  });

  it('never throws, and every non-blank line is a metric, skipped or dropped', () => {
    const pieces = fc.constantFrom(
      'envoy.cluster.upstream_rq_xx',
      ':',
      '|',
      '|c',
      '|ms',
      '|#',
      ',',
      'a:b',
      '@0.5',
      '3',
      '-1',
      '1e3',
      '\n',
      '\r',
      ' ',
      '_e{',
      'é',
      '\u0000',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(pieces, fc.string()), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        const parsed = parseDatagram(text);
        const nonBlank = text.split('\n').filter((l) => l.replace(/\r$/, '').trim() !== '').length;
        expect(parsed.lines).toBe(nonBlank);
        expect(parsed.metrics.length + parsed.skipped + [...parsed.dropped.values()].reduce((a, b) => a + b, 0)).toBe(
          parsed.lines,
        );
        for (const m of parsed.metrics) expect(m.values.every(Number.isFinite)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
