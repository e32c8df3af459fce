// ESLint: eslint's and typescript-eslint's recommended rules, without type information (type-aware rules would
// roughly triple the time of test/unit/style.test.ts, which runs this in `npm test`); no import cycles between
// modules; 120 columns, comments included (prettier wraps code at 120 but leaves comments and strings alone).
// `npm run lint` runs it alone.
'use strict';
const js = require('@eslint/js');
const { defineConfig } = require('eslint/config');
const tseslint = require('typescript-eslint');
const { importX, createNodeResolver } = require('eslint-plugin-import-x');
const globals = require('globals');

module.exports = defineConfig(
  {
    ignores: [
      'dist/',
      'src/generated/',
      'coverage/',
      'test-results/',
      'bench/results/',
      '.envoy/',
      '.tools/',
      '.meshd/',
    ],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  { files: ['**/*.ts', '**/*.tsx', '**/*.js', 'bin/meshd'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // How import-x reads a .ts module's imports and resolves './x' to ./x.ts or ./x/index.ts.
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.json', '.node'] })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
      // `const { dropped: _dropped, ...rest } = value` is how the code leaves fields out.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A `let` that closures read before its one assignment (a const there would throw while undefined).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // These match control characters on purpose, to keep them out of logs, terminals and bootstraps; elsewhere a
    // control character in a regular expression is a mistake.
    files: [
      'src/cli/bootstrap.ts',
      'src/cli/status.ts',
      'src/demo/screen.ts',
      'src/rollout/webhooks.ts',
      'src/util/log.ts',
    ],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // Scripts, benchmarks, examples and fixtures are CommonJS run by Node.
    files: ['**/*.js', 'bin/meshd'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The web console (console/src, docs/console.md) runs in the browser: ES modules, DOM globals, Preact's JSX.
    files: ['console/src/**/*.ts', 'console/src/**/*.tsx'],
    languageOptions: { sourceType: 'module', globals: globals.browser, parserOptions: { ecmaFeatures: { jsx: true } } },
  },
  {
    // The console's development scripts (console/dev) drive Chromium: their page.evaluate callbacks run in the page.
    files: ['console/dev/**/*.js'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    // Tests build and poke at untyped documents (fuzzed mesh files, templates).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
