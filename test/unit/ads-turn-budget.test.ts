// The request-handling budget per turn of the event loop (xds/ads-session.ts): when many requests
// arrive in one turn (a connect storm, an ACK flood), the streams past the budget keep theirs for
// later turns, stop reading meanwhile, and then handle every one of them, in order, with the same
// answers as without a budget. A budget of 0 ms makes every request but a turn's first wait.
import { nextTurn, adsStreams as streams } from '../helpers/fake-ads-call';
import { TypeUrl } from '../../src/xds/type-urls';

/** Every stream asks for clusters then endpoints, all in one turn; then the turns run until all are answered. */
async function burst(turnBudgetMs: number | undefined) {
  const calls = streams(20, turnBudgetMs);
  for (const { id, call } of calls) {
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'] });
  }
  const answeredInFirstTurn = calls.filter(({ call }) => call.responses.length > 0).length;
  for (let turn = 0; turn < 200 && calls.some(({ call }) => call.responses.length < 2); turn++) await nextTurn();
  return { calls, answeredInFirstTurn };
}

/** A type meshd does not serve: answered at once with an empty response. */
const OTHER_TYPE = 'type.googleapis.com/example.Other';

describe('the request-handling budget per turn', () => {
  it('with a spent budget, streams keep their requests for later turns and stop reading meanwhile', async () => {
    const { calls, answeredInFirstTurn } = await burst(0);
    // The first request of the turn is handled at once; the others wait for their turns.
    expect(answeredInFirstTurn).toBe(1);
    expect(calls.filter(({ call }) => call.pauses > 0).length).toBeGreaterThanOrEqual(calls.length - 1);
    for (const { call } of calls) {
      // Every request answered, in the order sent, and the stream reads again.
      expect(call.responses.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Endpoint]);
      expect(call.paused).toBe(false);
    }
  });

  it('answers exactly as without a budget', async () => {
    const limited = await burst(0);
    const free = await burst(60_000);
    expect(free.answeredInFirstTurn).toBe(free.calls.length);
    const answers = (run: typeof limited) =>
      run.calls.map(({ call }) => call.responses.map((r) => `${r.type_url} ${r.version_info}`));
    expect(answers(limited)).toEqual(answers(free));
  });

  it('an ACK kept for a later turn is still settled before the request after it', async () => {
    const [{ id, call, registry }] = streams(1, 0);
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    const cds = call.responses[0]!;
    // Same turn: the ACK waits for the next one.
    call.request({
      node: { id },
      type_url: TypeUrl.Cluster,
      version_info: cds.version_info,
      response_nonce: cds.nonce,
    });
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'] });
    expect(call.responses).toHaveLength(1);
    for (let turn = 0; turn < 10 && call.responses.length < 2; turn++) await nextTurn();
    expect(call.responses.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Endpoint]);
    expect(registry.list()[0]!.types.get(TypeUrl.Cluster)!.ackedVersion).toBe(cds.version_info);
  });

  it('a request arriving on a later turn waits behind the ones kept before it', async () => {
    const [{ id, call }] = streams(1, 0);
    call.request({ node: { id }, type_url: TypeUrl.Cluster }); // handled; the turn's budget starts
    // Runs after the budget's turn has ended and before the kept request's turn: this request
    // starts a fresh budget, yet must wait behind the request kept before it.
    const late = new Promise((resolve) =>
      setImmediate(() => resolve(call.request({ node: { id }, type_url: OTHER_TYPE }))),
    );
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'] }); // kept
    await late;
    for (let turn = 0; turn < 10 && call.responses.length < 3; turn++) await nextTurn();
    expect(call.responses.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Endpoint, OTHER_TYPE]);
  });

  it('a client that half-closes right after its requests still has them all handled', async () => {
    const [{ id, call }] = streams(1, 0);
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'] }); // kept
    call.emit('end');
    expect(call.writableEnded).toBe(false);
    for (let turn = 0; turn < 10 && !call.writableEnded; turn++) await nextTurn();
    expect(call.responses.map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Endpoint]);
    expect(call.writableEnded).toBe(true);
  });
});
