// Lines a client can cause by the thousand a second (a refused stream, a stream opened and
// closed) are logged one each, but at most so many a second: the rest are summed up in one
// line when the next second starts, and each is still counted on /metrics.
import type { XdsLogger } from './ads-session';

type LogFields = Record<string, unknown>;

export class ThrottledLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  /** `what` names the lines in the summary, e.g. 'refusals (meshd_xds_refused_streams_total counts them)'. */
  constructor(
    private readonly log: XdsLogger,
    private readonly what: string,
    private readonly perSecond = 20,
  ) {}

  info(fields: LogFields, message: string): void {
    if (this.admit()) this.log.info(fields, message);
  }

  warn(fields: LogFields, message: string): void {
    if (this.admit()) this.log.warn(fields, message);
  }

  private admit(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      if (this.suppressed > 0)
        this.log.warn({ suppressed: this.suppressed }, `xds: ${this.suppressed} more ${this.what} were not logged`);
      this.windowStart = now;
      this.logged = 0;
      this.suppressed = 0;
    }
    if (++this.logged <= this.perSecond) return true;
    this.suppressed++;
    return false;
  }
}
