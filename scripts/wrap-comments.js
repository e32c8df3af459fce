#!/usr/bin/env node
// Rewraps comment lines longer than 120 columns: prettier wraps code but not comments, and ESLint's max-len counts
// them. Only comment text moves: a // or JSDoc paragraph carries its overflow into its next line (or, at its end, is
// balanced over new lines), a one-line /** ... */ becomes a multi-line JSDoc, and a trailing comment on an over-long
// line moves onto its own line above it. Left alone, and listed: eslint and ts directives, aligned columns and tables,
// words longer than a line (URLs). Review the diff.
// usage: node scripts/wrap-comments.js [file...]   (default: every .ts and .js file git tracks, generated ones aside)
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const WIDTH = 120;
const ROOT = path.resolve(__dirname, '..');
const LIST_ITEM = /^(- |\* |\d+\. |\d+\) )/;
const notes = [];

/** Lines to leave as they are: directives, aligned columns, tables. */
const keep = (text) => /\S {2,}\S| \| .* \| |eslint-|@ts-|prettier-ignore/.test(text);

/** Every comment of a file, from the positions around each of its tokens. */
function comments(text, kind) {
  const sf = ts.createSourceFile('file', text, ts.ScriptTarget.Latest, true, kind);
  const found = new Map();
  const add = (ranges) => {
    for (const r of ranges ?? []) found.set(r.pos, r);
  };
  const visit = (node) => {
    add(ts.getLeadingCommentRanges(text, node.getFullStart()));
    add(ts.getTrailingCommentRanges(text, node.getEnd()));
    for (const child of node.getChildren(sf)) visit(child);
  };
  visit(sf);
  return [...found.values()];
}

/** `words` in lines of at most `firstRoom` (the first) and `room` columns; a longer word has a line to itself. */
function fill(words, firstRoom, room) {
  const lines = [];
  let line = '';
  for (const word of words) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= (lines.length === 0 ? firstRoom : room)) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Like fill(), in as many lines, but as narrow as that allows: no word or two alone on the last line. */
function balanced(words, firstRoom, room) {
  const count = fill(words, firstRoom, room).length;
  let less = 0;
  while (count > 1 && less < room - 20 && fill(words, firstRoom - less - 1, room - less - 1).length === count) less++;
  return fill(words, firstRoom - less, room - less);
}

/**
 * Rewraps a run of comment lines ({ prefix, body }: prefix is the indentation and marker, `// ` or ` * `) whose
 * continuation lines take `contPrefix`. Returns the new lines, or undefined when none changed.
 */
function wrapRun(run, contPrefix, where) {
  const queue = run.map((l) => ({ ...l }));
  const out = [];
  let changed = false;
  for (let i = 0; i < queue.length; i++) {
    const { prefix, body, carried } = queue[i];
    if (prefix.length + body.length <= WIDTH || keep(body)) {
      if (prefix.length + body.length > WIDTH) notes.push(`${where(i)}: left as it is: ${body.trim().slice(0, 80)}`);
      out.push(prefix + body);
      continue;
    }
    const lead = /^ */.exec(body)[0];
    const marker = carried ? null : LIST_ITEM.exec(body.slice(lead.length));
    const head = lead + (marker ? marker[0] : '');
    const hang = lead + (marker ? ' '.repeat(marker[0].length) : '');
    const words = body.slice(head.length).split(' ').filter(Boolean);
    const firstRoom = WIDTH - prefix.length - head.length;
    const room = WIDTH - contPrefix.length - hang.length;
    const filled = fill(words, firstRoom, room);
    if (filled.length === 1) {
      notes.push(`${where(i)}: left as it is (one long word)`);
      out.push(prefix + body);
      continue;
    }
    changed = true;
    const next = queue[i + 1];
    const nextText = next?.body.slice(hang.length);
    const sameParagraph =
      next?.prefix === contPrefix &&
      next.body.trim() !== '' &&
      next.body.startsWith(hang) &&
      !/^[ @`]/.test(nextText) &&
      !LIST_ITEM.test(nextText) &&
      !keep(next.body);
    if (sameParagraph) {
      out.push(prefix + head + filled[0]);
      queue[i + 1] = { prefix: contPrefix, body: `${hang}${filled.slice(1).join(' ')} ${nextText}`, carried: true };
    } else {
      const lines = balanced(words, firstRoom, room);
      out.push(prefix + head + lines[0], ...lines.slice(1).map((l) => contPrefix + hang + l));
    }
  }
  return changed ? out : undefined;
}

/** Rewraps `file`'s over-long comment lines in place; the number of comments changed. */
function wrapFile(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (!lines.some((l) => l.length > WIDTH)) return 0;
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  const lineOf = (pos) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const rel = path.relative(ROOT, file);
  const kind = file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  // What each line holds: a whole-line // comment, a trailing one, or part of a block comment.
  const onLine = new Map();
  for (const c of comments(text, kind)) {
    const first = lineOf(c.pos);
    const before = lines[first].slice(0, c.pos - starts[first]);
    if (c.kind === ts.SyntaxKind.SingleLineCommentTrivia) {
      onLine.set(first, { kind: before.trim() === '' ? 'line' : 'trailing', c, indent: before });
    } else {
      const last = lineOf(c.end - 1);
      const info = { kind: before.trim() === '' ? 'block' : 'inline-block', c, first, last, indent: before };
      for (let k = first; k <= last; k++) onLine.set(k, info);
    }
  }
  const edits = [];
  const done = new Set();
  for (let k = 0; k < lines.length; k++) {
    const info = onLine.get(k);
    if (lines[k].length <= WIDTH || done.has(k) || !info) continue;
    if (info.kind === 'line') {
      let a = k;
      while (onLine.get(a - 1)?.kind === 'line' && onLine.get(a - 1).indent === info.indent) a--;
      let b = k;
      while (onLine.get(b + 1)?.kind === 'line' && onLine.get(b + 1).indent === info.indent) b++;
      const run = lines.slice(a, b + 1).map((l) => {
        const body = l.slice(info.indent.length + 2);
        return body.startsWith(' ')
          ? { prefix: `${info.indent}// `, body: body.slice(1) }
          : { prefix: `${info.indent}//`, body };
      });
      for (let m = a; m <= b; m++) done.add(m);
      const out = wrapRun(run, `${info.indent}// `, (i) => `${rel}:${a + i + 1}`);
      if (out) edits.push({ from: a, to: b + 1, lines: out });
    } else if (info.kind === 'block') {
      const { c, first, last, indent } = info;
      for (let m = first; m <= last; m++) done.add(m);
      const raw = text.slice(c.pos, c.end);
      const opener = raw.startsWith('/**') ? '/**' : '/*';
      if (lines[last].slice(c.end - starts[last]).trim() !== '') {
        notes.push(`${rel}:${k + 1}: left as it is (code after the comment)`);
      } else if (first === last) {
        const inner = raw.slice(opener.length, -2).trim();
        if (keep(inner)) notes.push(`${rel}:${k + 1}: left as it is: ${inner.slice(0, 80)}`);
        else {
          const room = WIDTH - indent.length - 3;
          const body = balanced(inner.split(' ').filter(Boolean), room, room).map((l) => `${indent} * ${l}`);
          edits.push({ from: first, to: first + 1, lines: [`${indent}${opener}`, ...body, `${indent} */`] });
        }
      } else {
        // The lines between `/**` and `*/`, each ` * text`; the first and last lines stay.
        const middle = lines.slice(first + 1, last).map((l) => /^(\s*\*)( ?)(.*)$/.exec(l));
        const firstLast = [lines[first], lines[last]];
        if (middle.some((m) => !m) || firstLast.some((l) => l.length > WIDTH)) {
          notes.push(`${rel}:${k + 1}: left as it is (not a * per line, or text beside /** or */)`);
        } else {
          const run = middle.map((m) =>
            m[3] === '' ? { prefix: m[1], body: '' } : { prefix: `${m[1]} `, body: m[3] },
          );
          const out = wrapRun(run, `${indent} * `, (i) => `${rel}:${first + i + 2}`);
          if (out) edits.push({ from: first + 1, to: last, lines: out });
        }
      }
    } else if (info.kind === 'trailing') {
      done.add(k);
      const col = info.c.pos - starts[k];
      const comment = lines[k].slice(col);
      if (keep(comment)) {
        notes.push(`${rel}:${k + 1}: left as it is: ${comment.slice(0, 80)}`);
        continue;
      }
      const indent = /^\s*/.exec(lines[k])[0];
      const run = [{ prefix: `${indent}// `, body: comment.replace(/^\/\/ ?/, '') }];
      const above = wrapRun(run, `${indent}// `, () => `${rel}:${k + 1}`) ?? [run[0].prefix + run[0].body];
      edits.push({ from: k, to: k + 1, lines: [...above, lines[k].slice(0, col).trimEnd()] });
      notes.push(`${rel}:${k + 1}: trailing comment moved above its line`);
    } else {
      notes.push(`${rel}:${k + 1}: left as it is (a block comment inside a line of code)`);
    }
  }
  for (const e of edits.sort((x, y) => y.from - x.from)) lines.splice(e.from, e.to - e.from, ...e.lines);
  if (edits.length > 0) fs.writeFileSync(file, lines.join('\n'));
  return edits.length;
}

const args = process.argv.slice(2);
const files = args.length
  ? args.map((f) => path.resolve(f))
  : execFileSync('git', ['ls-files', '*.ts', '*.js'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f && !f.startsWith('src/generated/'))
      .map((f) => path.join(ROOT, f));
let changed = 0;
for (const file of files) changed += wrapFile(file);
for (const note of notes) console.log(note);
console.log(`${changed} comment${changed === 1 ? '' : 's'} rewrapped; review the diff (git diff)`);
