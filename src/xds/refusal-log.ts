// Refusals are logged one line each, but at most so many a second: a client that opens and
// gets refused thousands of streams a second must not turn that into as many log lines (each
// refusal is still counted on /metrics).
import type { XdsLogger } from './ads-session';

type LogFields = Record<string, unknown>;

export class RefusalLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly log: XdsLogger,
    private readonly perSecond = 20,
  ) {}

  warn(fields: LogFields, message: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, `xds: ${this.suppressed} more refusals were not logged (meshd_xds_refused_streams_total counts them)`);
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (++this.logged <= this.perSecond) this.log.warn(fields, message);
    else this.suppressed++;
  }
}
