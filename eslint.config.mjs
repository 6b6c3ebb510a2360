// ESLint for the TypeScript sources: eslint's and typescript-eslint's recommended rules, without type
// information (the whole repository lints in a few seconds; `tsc --noEmit` does the type checks).
// Layout is prettier's (.prettierrc.json): no stylistic rules here. Run: npm run lint (all checks), npx eslint <files>.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['node_modules/', 'cdktf.out/', '.gen/', 'coverage/', 'test/__snapshots__/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'smart'],
      // `{ findings: _f, ...rest }` drops a field on purpose; `_`-names are deliberately unused.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The tests match indented output blocks: two literal spaces read better than ` {2}`.
      'no-regex-spaces': 'off',
    },
  },
  {
    // The environment files are TypeScript modules loaded by path at run time (tsx, @swc/jest, the cdktf CLI).
    files: ['config/files.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // CommonJS as jest loads it (jest.config.js, global setup and teardown): require() is how they import.
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
