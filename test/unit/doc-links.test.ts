// Every relative link and anchor in the repository's Markdown (README.md, CONTRIBUTING.md, docs/,
// bench/, examples/, …) points at a file or folder of the repository and at a heading that exists,
// as GitHub resolves them. Public http(s) and mailto links are not followed.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { anchorsOf, brokenLinks, linksOf, type Repository } from '../helpers/doc-links';
import { goldenCases } from '../helpers/golden';

const ROOT = path.resolve(__dirname, '../..');

/** The repository's files as git sees them: tracked, or new and not ignored (dist/, node_modules/ are not). */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\0').filter((f) => f !== '' && fs.existsSync(path.join(ROOT, f)));
}

/** Each file and every folder above it. */
function pathsOf(files: readonly string[]): Set<string> {
  const paths = new Set<string>();
  for (const file of files) {
    for (let p = file; p !== '.' && !paths.has(p); p = path.posix.dirname(p)) paths.add(p);
  }
  return paths;
}

function repositoryOf(files: readonly string[]): Repository {
  const paths = pathsOf(files);
  return { has: (p) => paths.has(p), text: (p) => fs.readFileSync(path.join(ROOT, p), 'utf8') };
}

/** An in-memory repository for the checker's own tests. */
function fakeRepository(files: Record<string, string>): Repository {
  const paths = pathsOf(Object.keys(files));
  return { has: (p) => paths.has(p), text: (p) => files[p] ?? '' };
}

const files = repositoryFiles();
const markdown = files.filter((f) => f.endsWith('.md'));

describe('links in the Markdown files', () => {
  it('finds the documentation to check', () => {
    expect(markdown).toEqual(
      expect.arrayContaining([
        'README.md',
        'CONTRIBUTING.md',
        'bench/README.md',
        'docs/architecture.md',
        'docs/cli.md',
        'examples/colorapp/README.md',
      ]),
    );
  });

  const repository = repositoryOf(files);
  it.each(markdown)('%s: every relative link and anchor resolves', (file) => {
    const broken = brokenLinks(file, repository).map((b) => `${b.file}:${b.line}: (${b.target}) ${b.reason}`);
    expect(broken).toEqual([]);
  });
});

describe('the compatibility tables', () => {
  const text = fs.readFileSync(path.join(ROOT, 'docs/compatibility.md'), 'utf8');
  /** The rows of every table whose header has a 'golden case' column. */
  const rows = text
    .split(/\n(?=\| App Mesh \|)/)
    .slice(1)
    .flatMap((table) => {
      const lines = table.split('\n');
      const end = lines.findIndex((l) => !l.startsWith('|'));
      return lines.slice(2, end === -1 ? undefined : end);
    });

  it('link, on every row, the golden case that shows it', () => {
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.filter((row) => !/\]\(\.\.\/test\/golden\/[^)/]+\/\)/.test(row.split(' | ').pop()!))).toEqual([]);
  });

  it('link every golden case at least once', () => {
    const linked = new Set([...text.matchAll(/\(\.\.\/test\/golden\/([^)/]+)\/\)/g)].map((m) => m[1]));
    expect(goldenCases().filter((c) => !linked.has(c))).toEqual([]);
  });
});

describe('the link checker', () => {
  it('slugs headings as GitHub does: lowercase, punctuation dropped but - and _, spaces to -, repeats numbered', () => {
    const text = [
      '# meshd',
      "## Envoy sidecars from App Mesh's variables",
      '## `meshd serve` flags',
      '## Examples (docker-compose)',
      '## Notes',
      '## Notes',
      '## Notes',
      '## snake_case & co.',
    ].join('\n');
    expect([...anchorsOf(text)]).toEqual([
      'meshd',
      'envoy-sidecars-from-app-meshs-variables',
      'meshd-serve-flags',
      'examples-docker-compose',
      'notes',
      'notes-1',
      'notes-2',
      'snake_case--co',
    ]);
  });

  it('ignores headings and links inside code', () => {
    const text = [
      '```yaml',
      '# yaml-language-server: $schema=x',
      '[a](missing.md)',
      '```',
      'a `[b](missing.md)` span',
      '# Real',
    ].join('\n');
    expect([...anchorsOf(text)]).toEqual(['real']);
    expect(linksOf(text)).toEqual([]);
  });

  it('finds inline links (over a line break too), images and reference definitions, with their lines', () => {
    const text = 'See [the\nguide](docs/guide.md#start) and ![a picture](img.png "title").\n\n[ref]: <docs/x.md>\n';
    expect(linksOf(text)).toEqual([
      { target: 'docs/guide.md#start', line: 1 },
      { target: 'img.png', line: 2 },
      { target: 'docs/x.md', line: 4 },
    ]);
  });

  it('reports a missing file, a missing anchor, a link out of the repository and a non-public scheme', () => {
    const repo = fakeRepository({
      'README.md':
        '# Top\n[ok](docs/a.md#part-two) [ok](#top) [ok](docs/) [ok](https://example.org/x)\n[gone](docs/b.md)\n[bad anchor](docs/a.md#part-three)\n[out](../shared/DESIGN.md)\n[file](file:///etc/passwd)\n[self](#nowhere)\n',
      'docs/a.md': '# Part one\n## Part two\n',
    });
    expect(brokenLinks('README.md', repo).map((b) => `${b.line} ${b.target}: ${b.reason}`)).toEqual([
      '3 docs/b.md: no such file or folder in the repository: docs/b.md',
      '4 docs/a.md#part-three: no heading in docs/a.md has the anchor #part-three',
      '5 ../shared/DESIGN.md: points outside the repository',
      '6 file:///etc/passwd: links outside the repository',
      '7 #nowhere: no heading in README.md has the anchor #nowhere',
    ]);
  });
});
