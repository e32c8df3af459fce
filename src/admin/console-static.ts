// The web console's files under /ui/ (docs/api.md): dist/console/ as `npm run build` makes it,
// nothing else. A name is decoded once and refused with `..`, a NUL, a backslash or an empty
// segment; the file must be a regular file whose real path (symlinks followed) stays inside the
// folder. Fixed content types; every answer forbids framing, inline script and sniffing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as http from 'node:http';

/** The compiled console beside the compiled admin module: dist/admin → dist/console. */
export const DEFAULT_CONSOLE_DIR = path.join(__dirname, '..', 'console');

export const CONSOLE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The headers every console answer carries. */
export const CONSOLE_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
} as const;

const NOT_BUILT = 'the console is not built: run npm run build';

type Answer = { status: number; headers: Record<string, string | number>; body: Buffer | string };

function json(status: number, error: string, headers: Record<string, string> = {}): Answer {
  const body = `${JSON.stringify({ error }, null, 2)}\n`;
  return { status, headers: { 'content-type': 'application/json', ...CONSOLE_HEADERS, ...headers }, body };
}

/** The answer to GET `pathName` (which starts with /ui) from the console folder `dir`. */
export function consoleAnswer(dir: string, pathName: string): Answer {
  if (pathName === '/ui') return { status: 301, headers: { location: '/ui/', ...CONSOLE_HEADERS }, body: '' };
  let root: string;
  try {
    root = fs.realpathSync(dir);
    if (!fs.statSync(path.join(root, 'index.html')).isFile()) return json(503, NOT_BUILT);
  } catch {
    return json(503, NOT_BUILT);
  }
  const rest = pathName.slice('/ui/'.length);
  const notFound = () => json(404, `no such console file: ${pathName}`);
  let name: string;
  try {
    name = rest === '' ? 'index.html' : decodeURIComponent(rest);
  } catch {
    return notFound();
  }
  const segments = name.split('/');
  if (
    name.includes('\0') ||
    name.includes('\\') ||
    segments.some((s) => s === '' || s === '.' || s === '..') ||
    path.isAbsolute(name)
  )
    return notFound();
  const type = CONTENT_TYPES[path.extname(name).toLowerCase()];
  if (type === undefined) return notFound();
  const file = path.join(root, ...segments);
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return notFound();
  }
  if (!real.startsWith(root + path.sep)) return notFound();
  let body: Buffer;
  try {
    if (!fs.statSync(real).isFile()) return notFound();
    body = fs.readFileSync(real);
  } catch {
    return notFound();
  }
  return { status: 200, headers: { 'content-type': type, 'content-length': body.length, ...CONSOLE_HEADERS }, body };
}

/** Answers a GET under /ui. */
export function serveConsole(dir: string, pathName: string, res: http.ServerResponse): void {
  const answer = consoleAnswer(dir, pathName);
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  res.writeHead(answer.status, { ...answer.headers, 'content-length': body.length });
  res.end(body);
}
