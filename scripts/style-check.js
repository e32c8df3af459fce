#!/usr/bin/env node
// The lint and format check of test/unit/style.test.ts, through ESLint's and prettier's Node APIs: ESLint
// (eslint.config.js) over every file it lints, and prettier's check of every file it formats (.prettierignore).
// Its own process because both load their configuration and plugins with import(), which jest's module sandbox
// refuses. Prints one line a finding (`file:line:col rule: message`) and exits 1 if there is any; --json prints
// { eslintFiles, prettierFiles, findings } instead. --root DIR checks DIR's files with this repository's configs
// (the test's own fixtures). `npm run lint` and `npm run format` are the fixes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { ESLint } = require('eslint');
const prettier = require('prettier');

const REPO = path.resolve(__dirname, '..');

/** Every file under `root`, skipping version control, dependencies, symlinks and what ESLint ignores (dist/...). */
async function listFiles(root, eslint) {
  const files = [];
  const walk = async (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === '.git' || entry.name === 'node_modules') continue;
        if (await eslint.isPathIgnored(path.join(full, 'any.js'))) continue;
        await walk(full);
      } else if (entry.isFile()) files.push(full);
    }
  };
  await walk(root);
  return files.sort();
}

/** The first line where prettier's output differs from the file's text, as a finding. */
function firstDifference(rel, text, formatted) {
  const a = text.split('\n');
  const b = formatted.split('\n');
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const want = (b[i] ?? '').trim();
  return `${rel}:${i + 1} prettier: not formatted; prettier writes ${JSON.stringify(want.length > 80 ? `${want.slice(0, 77)}...` : want)} here (npm run format)`;
}

/** Prettier's findings for `files` (absolute paths under `root`), and the files it formats. */
async function prettierCheck(root, files) {
  const ownRepo = root === REPO;
  const ignorePath = ['.gitignore', '.prettierignore'].map((f) => path.join(root, f)).filter((f) => fs.existsSync(f));
  const checked = [];
  const findings = [];
  for (const file of files) {
    const info = await prettier.getFileInfo(file, { ignorePath });
    if (info.ignored || !info.inferredParser) continue;
    const rel = path.relative(root, file);
    checked.push(rel);
    const options = await prettier.resolveConfig(file, ownRepo ? {} : { config: path.join(REPO, '.prettierrc.json') });
    const text = fs.readFileSync(file, 'utf8');
    const formatted = await prettier.format(text, { ...options, filepath: file });
    if (formatted !== text) findings.push(firstDifference(rel, text, formatted));
  }
  return { checked, findings };
}

/** ESLint here and prettier in a worker thread: on two cores the check takes the longer of the two, not the sum. */
async function check(root) {
  const ownRepo = root === REPO;
  const eslint = new ESLint({
    cwd: root,
    ...(ownRepo ? {} : { overrideConfigFile: path.join(REPO, 'eslint.config.js') }),
  });
  const files = await listFiles(root, eslint);
  const worker = new Worker(__filename, { workerData: { root, files } });
  const formatting = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const results = await eslint.lintFiles(['.']);
  const findings = [];
  for (const r of results) {
    const rel = path.relative(root, r.filePath);
    for (const m of r.messages)
      findings.push(`${rel}:${m.line ?? 0}:${m.column ?? 0} ${m.ruleId ?? 'eslint'}: ${m.message}`);
  }
  const prettierResult = await formatting;
  return {
    eslintFiles: results.map((r) => path.relative(root, r.filePath)),
    prettierFiles: prettierResult.checked,
    findings: [...findings, ...prettierResult.findings],
  };
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--root');
  const root = at >= 0 ? path.resolve(args[at + 1]) : REPO;
  const result = await check(root);
  if (args.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const f of result.findings) console.log(f);
  process.exitCode = result.findings.length > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((err) => {
    console.error(`style-check: ${err.stack ?? err}`);
    process.exitCode = 2;
  });
} else {
  prettierCheck(workerData.root, workerData.files).then((result) => parentPort.postMessage(result));
}
