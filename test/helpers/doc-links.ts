// Relative links and anchors in the repository's Markdown, checked as GitHub renders them:
// a link must name a file or folder of the repository, and an anchor a heading of the file
// it points into (GitHub's slugs: github-slugger, with -1, -2 for repeated headings).
import GithubSlugger from 'github-slugger';
import * as path from 'node:path';

export interface BrokenLink {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly reason: string;
}

/** What the checker may ask about the repository (paths relative to its root, `/`-separated). */
export interface Repository {
  /** A file or folder of the repository (tracked, or new and not ignored). */
  has(repoPath: string): boolean;
  /** The Markdown text of a file of the repository. */
  text(repoPath: string): string;
}

/** Public addresses may be linked; every other scheme (file:, ftp:, …) leaves the repository. */
const PUBLIC = /^(https?:|mailto:)/i;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** The text with fenced code blocks blanked out, line breaks kept (so line numbers hold). */
function withoutCodeBlocks(text: string): string {
  const lines = text.split('\n');
  let fence: { char: string; length: number } | undefined;
  const out = lines.map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (marker && marker[1]![0] === fence.char && marker[1]!.length >= fence.length && line.trim() === marker[1])
        fence = undefined;
      return '';
    }
    if (marker && !(marker[1]![0] === '`' && line.slice(marker[0].length).includes('`'))) {
      fence = { char: marker[1]![0]!, length: marker[1]!.length };
      return '';
    }
    return line;
  });
  return out.join('\n');
}

/** The text with code blocks and code spans blanked out, line breaks kept. */
export function proseOnly(text: string): string {
  // A code span is backticks, anything, and as many backticks; it may run over a line break, not a paragraph.
  return withoutCodeBlocks(text).replace(/(`+)((?:(?!\n[ \t]*\n)[\s\S])*?[^`])\1(?!`)/g, (span) =>
    span.replace(/[^\n]/g, ' '),
  );
}

/** The text GitHub makes a heading's anchor from: its content without Markdown syntax. */
function headingText(raw: string): string {
  return raw
    .replace(/\s+#+\s*$/, '') // closing hashes
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/`/g, '')
    .replace(/(\*\*|__|\*)/g, '')
    .trim();
}

/** Every anchor a Markdown file has: one per heading (GitHub's slugs), and HTML `id`/`name` anchors. */
export function anchorsOf(text: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const line of withoutCodeBlocks(text).split('\n')) {
    const heading = /^ {0,3}#{1,6}(?:[ \t]+(.*))?$/.exec(line);
    if (heading) anchors.add(slugger.slug(headingText(heading[1] ?? '')));
  }
  for (const m of proseOnly(text).matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/gi)) anchors.add(m[1]!);
  return anchors;
}

/** Every link destination in the text, with its line: inline links and images, and reference definitions. */
export function linksOf(text: string): { target: string; line: number }[] {
  const prose = proseOnly(text);
  const lineAt = (index: number) => prose.slice(0, index).split('\n').length;
  const links: { target: string; line: number }[] = [];
  // [text](target "title") or [text](<target>); the text may hold nested brackets one level deep and line breaks.
  for (const m of prose.matchAll(
    /\[(?:[^[\]]|\[[^[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
  )) {
    const target = m[1]!.startsWith('<') ? m[1]!.slice(1, -1) : m[1]!;
    links.push({ target, line: lineAt(m.index!) });
  }
  for (const m of prose.matchAll(/^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm)) {
    const target = m[1]!.startsWith('<') ? m[1]!.slice(1, -1) : m[1]!;
    links.push({ target, line: lineAt(m.index!) });
  }
  return links.sort((a, b) => a.line - b.line);
}

/** The links of one Markdown file (`file` relative to the repository root) that do not resolve. */
export function brokenLinks(file: string, repo: Repository): BrokenLink[] {
  const broken: BrokenLink[] = [];
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (repoPath: string) => {
    let set = anchorCache.get(repoPath);
    if (!set) anchorCache.set(repoPath, (set = anchorsOf(repo.text(repoPath))));
    return set;
  };
  for (const { target, line } of linksOf(repo.text(file))) {
    const report = (reason: string) => broken.push({ file, line, target, reason });
    if (PUBLIC.test(target)) continue;
    if (SCHEME.test(target)) {
      report('links outside the repository');
      continue;
    }
    const hash = target.indexOf('#');
    const pathPart = hash === -1 ? target : target.slice(0, hash);
    const anchor = hash === -1 ? undefined : target.slice(hash + 1);
    if (target === '') {
      report('an empty link');
      continue;
    }
    if (pathPart.startsWith('/')) {
      report('an absolute path: link relative to this file');
      continue;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathPart);
    } catch {
      report('a malformed %-escape');
      continue;
    }
    const resolved =
      pathPart === ''
        ? file
        : path.posix.normalize(path.posix.join(path.posix.dirname(file), decoded)).replace(/\/$/, '');
    if (resolved === '..' || resolved.startsWith('../')) {
      report('points outside the repository');
      continue;
    }
    if (resolved !== '.' && !repo.has(resolved)) {
      report(`no such file or folder in the repository: ${resolved}`);
      continue;
    }
    if (anchor === undefined || !resolved.endsWith('.md')) continue;
    if (!anchors(resolved).has(anchor)) report(`no heading in ${resolved} has the anchor #${anchor}`);
  }
  return broken;
}
