// npm run lint: typescript-eslint's recommended rules for correctness, @stylistic for one format everywhere.
import stylistic from '@stylistic/eslint-plugin'
import reactHooks from 'eslint-plugin-react-hooks'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/results/', 'coverage/', '.tap/', 'test/openapi-client/generated/', 'web/src/api/openapi.d.ts'] },
  ...tseslint.configs.recommended,
  stylistic.configs.customize({ semi: false, quotes: 'single', indent: 2, commaDangle: 'always-multiline', braceStyle: '1tbs', arrowParens: true }),
  {
    rules: {
      // Inline object types keep `;` between members, as TypeScript prints them.
      '@stylistic/member-delimiter-style': ['error', { multiline: { delimiter: 'none' }, singleline: { delimiter: 'semi', requireLast: false } }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true }],
      '@stylistic/max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreComments: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // No `any` and no non-null assertion where the service's logic lives.
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The web app: the rules of hooks, and markup that reads as prose (a sentence with a link stays on one line).
    files: ['web/**/*.tsx'],
    ...reactHooks.configs.flat['recommended-latest'],
    rules: {
      ...reactHooks.configs.flat['recommended-latest'].rules,
      '@stylistic/jsx-one-expression-per-line': 'off',
      '@stylistic/multiline-ternary': 'off',
      // Its reports here are loads started in an effect, whose state is set after the fetch resolves, not during it.
      'react-hooks/set-state-in-effect': 'off',
    },
  },
)
