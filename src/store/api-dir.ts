// Where the App Mesh API keeps what it creates, and which paths a command that reads the mesh
// (serve, render, validate, export) loads: the user's, then the API's folder when it exists.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** `<first mesh folder>/.meshd-api`: where the App Mesh API writes unless told otherwise (a file's folder counts). */
export function defaultApiDir(paths: readonly string[]): string {
  const first = paths[0] ?? '.';
  let folder = first;
  try {
    if (!fs.statSync(first).isDirectory()) folder = path.dirname(first);
  } catch {
    folder = path.extname(first) ? path.dirname(first) : first;
  }
  return path.join(folder, '.meshd-api');
}

/**
 * The mesh paths plus the API's folder, when it exists and is not one of them already. A dot
 * folder is skipped inside a mesh folder, so it is named on its own.
 */
export function withApiDir(paths: readonly string[], apiDir = defaultApiDir(paths)): string[] {
  const given = new Set(paths.map((p) => path.resolve(p)));
  if (given.has(path.resolve(apiDir)) || !fs.existsSync(apiDir)) return [...paths];
  return [...paths, apiDir];
}
