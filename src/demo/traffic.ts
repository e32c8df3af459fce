// The request loop and its tallies: about 20 GETs a second per virtual service (to the front
// app, which asks the service through its Envoy), each answer counted over a sliding window.
import * as http from 'node:http';

/** How to ask one virtual service for its answer. */
export interface Probe {
  /** The virtual service whose answers this counts. */
  readonly service: string;
  readonly port: number;
  readonly path: string;
  /** Host header, for calls straight to Envoy's egress listener. */
  readonly hostHeader?: string;
}

/** One finished request: the answer of a 200 (its body, trimmed), or why it failed. */
export type Outcome = { readonly ok: true; readonly answer: string } | { readonly ok: false; readonly error: string };

const REQUEST_TIMEOUT_MS = 5000;

export function ask(probe: Probe): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers = probe.hostHeader ? { host: probe.hostHeader } : undefined;
    const req = http.get({ host: '127.0.0.1', port: probe.port, path: probe.path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        const text = body.trim();
        resolve(
          res.statusCode === 200
            ? { ok: true, answer: text }
            : { ok: false, error: `HTTP ${res.statusCode}${text ? `: ${text.split('\n')[0]}` : ''}` },
        );
      });
      res.on('error', (err) => resolve({ ok: false, error: err.message }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: err.code ? `${err.code} (${err.message})` : err.message }),
    );
  });
}

export interface TallySnapshot {
  /** 200 answers by body. */
  readonly answers: ReadonlyMap<string, number>;
  /** Everything else: non-200 answers, refused connections, timeouts. */
  readonly errors: number;
  /** answers + errors. */
  readonly requests: number;
  readonly lastError: string | undefined;
}

/** Outcomes of the last `windowMs`. */
export class Tally {
  private readonly outcomes: { at: number; outcome: Outcome }[] = [];

  constructor(readonly windowMs: number) {}

  record(outcome: Outcome, at = Date.now()): void {
    this.outcomes.push({ at, outcome });
  }

  snapshot(now = Date.now()): TallySnapshot {
    while (this.outcomes.length > 0 && this.outcomes[0]!.at <= now - this.windowMs) this.outcomes.shift();
    const answers = new Map<string, number>();
    let errors = 0;
    let lastError: string | undefined;
    for (const { outcome } of this.outcomes) {
      if (outcome.ok) answers.set(outcome.answer, (answers.get(outcome.answer) ?? 0) + 1);
      else {
        errors++;
        lastError = outcome.error;
      }
    }
    return { answers, errors, requests: this.outcomes.length, lastError };
  }
}

export interface TrafficOptions {
  readonly ratePerSecond: number;
  readonly windowMs: number;
  /** Requests of one probe allowed in flight at once (a stalled mesh must not pile them up). */
  readonly maxInFlight: number;
}

export const DEFAULT_TRAFFIC: TrafficOptions = { ratePerSecond: 20, windowMs: 2000, maxInFlight: 40 };

/** Sends each probe `ratePerSecond` times a second and tallies what comes back. */
export class TrafficLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly tallies = new Map<string, Tally>();
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly probes: readonly Probe[],
    private readonly options: TrafficOptions = DEFAULT_TRAFFIC,
  ) {
    for (const p of probes) {
      this.tallies.set(p.service, new Tally(options.windowMs));
      this.inFlight.set(p.service, 0);
    }
  }

  start(): void {
    this.timer = setInterval(() => this.probes.forEach((p) => this.send(p)), 1000 / this.options.ratePerSecond);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  snapshot(service: string): TallySnapshot {
    return this.tallies.get(service)!.snapshot();
  }

  private send(probe: Probe): void {
    const inFlight = this.inFlight.get(probe.service)!;
    if (inFlight >= this.options.maxInFlight) return;
    this.inFlight.set(probe.service, inFlight + 1);
    void ask(probe).then((outcome) => {
      this.inFlight.set(probe.service, this.inFlight.get(probe.service)! - 1);
      if (this.timer) this.tallies.get(probe.service)!.record(outcome);
    });
  }
}

/** Asks every probe until each has answered 200 once, or the time is up; the last failure per probe otherwise. */
export async function waitForAnswers(
  probes: readonly Probe[],
  timeoutMs: number,
  isStopping: () => boolean,
): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  const failing = new Map<string, string>();
  await Promise.all(
    probes.map(async (probe) => {
      for (;;) {
        const outcome = await ask(probe);
        if (outcome.ok) return failing.delete(probe.service);
        failing.set(probe.service, outcome.error);
        if (Date.now() > deadline || isStopping()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  return failing;
}
