// Small mesh documents for tests, written the way users write them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './processes';

export const QUICKSTART_MESH = path.resolve(__dirname, '../../examples/quickstart/mesh');

/** Writes files (name → text) into a fresh folder and returns its path. */
export function meshFolder(files: Record<string, string>): string {
  const dir = tmpDir('mesh-');
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}
