// meshd's logger. `text` (the default): one line per event on stderr,
// `<time> <level> <message> key=value…`, never a stack trace for bad input. `json`: pino's
// structured lines, one JSON object per event, for log collectors. Stream events carry the
// node id either way.
import pino from 'pino';

type Fields = Record<string, unknown>;
export interface LogFn {
  (message: string): void;
  (fields: Fields, message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  readonly format?: LogFormat;
  readonly level?: LogLevel;
  /** Where lines go; stderr by default. */
  readonly write?: (line: string) => void;
}

/** Fields the text format leaves out because the message already says them. */
const SAID_IN_MESSAGE = new Set(['node', 'stream', 'protocol', 'type', 'version']);

/**
 * Log lines carry client strings (node ids, peers, NACK messages): each is cut to this length,
 * so that a client cannot make meshd write megabytes per event.
 */
export const MAX_LOGGED_STRING = 2048;

function clip(s: string): string {
  return s.length <= MAX_LOGGED_STRING
    ? s
    : `${s.slice(0, MAX_LOGGED_STRING)}…[${s.length - MAX_LOGGED_STRING} more characters]`;
}

/**
 * C0 and C1 controls, DEL, and the Unicode line and paragraph separators: what could forge a line or drive a terminal.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A client string made safe for a one-line text log: clipped, and every control character written as an escape. */
export function escapeForLog(s: string): string {
  return clip(s).replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

function textValue(v: unknown): string {
  const s = escapeForLog(typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** Clips the strings of a JSON line's fields (pino escapes control characters itself). */
function clipFields(fields: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = typeof v === 'string' ? clip(v) : v;
  return out;
}

function textLogger(level: LogLevel, write: (line: string) => void): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const emit = (name: LogLevel): LogFn =>
    ((a: Fields | string, b?: string) => {
      if (LOG_LEVELS.indexOf(name) < threshold) return;
      const [fields, message] = typeof a === 'string' ? [{}, a] : [a, b ?? ''];
      const extra = Object.entries(fields)
        .filter(([k, v]) => !SAID_IN_MESSAGE.has(k) && v !== undefined)
        .map(([k, v]) => ` ${k}=${textValue(v)}`)
        .join('');
      write(`${new Date().toISOString()} ${name.padEnd(5)} ${escapeForLog(message)}${extra}\n`);
    }) as LogFn;
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

function jsonLogger(level: LogLevel, write: ((line: string) => void) | undefined): Logger {
  const destination = write ? { write } : pino.destination({ fd: 2, sync: true });
  const logger = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  const wrap = (name: LogLevel): LogFn =>
    ((a: Fields | string, b?: string) =>
      typeof a === 'string' ? logger[name](clip(a)) : logger[name](clipFields(a), clip(b ?? ''))) as LogFn;
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  return options.format === 'json' ? jsonLogger(level, options.write) : textLogger(level, write);
}
