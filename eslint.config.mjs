// @ts-check
// Lint = typescript-eslint's type-checked recommendations + the walls of this codebase (STYLE.md):
// LangChain only in agent-chat/llm, TypeORM only in the data layer, process.env only in the
// config module. Formatting is prettier's job (eslint-config-prettier turns off clashing rules).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'bench/out/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // LangChain stays behind the agent's model port.
    files: ['**/*.ts'],
    ignores: ['src/modules/agent-chat/llm/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['langchain', 'langchain/*', '@langchain/*'],
              message: 'LangChain is imported only under src/modules/agent-chat/llm/.',
            },
          ],
        },
      ],
    },
  },
  {
    // TypeORM stays in the data layer: entities, repositories, services, module wiring, migrations,
    // src/common/database and the migration entry point. Controllers, DTOs, guards and the rest never touch it.
    files: ['src/**/*.ts'],
    ignores: [
      'src/common/database/**',
      'src/migrate.ts', // the migration command (the Kubernetes init container), a sibling of ormconfig.ts
      'src/**/*.entity.ts',
      'src/**/*.repository.ts',
      'src/**/*.service.ts',
      'src/**/*.module.ts',
      'src/**/*.spec.ts',
    ],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['typeorm', 'typeorm/*', '@nestjs/typeorm'],
              message: 'TypeORM belongs in entities, repositories, services, modules and src/common/database.',
            },
          ],
        },
      ],
    },
  },
  {
    // Configuration is read once, validated, in src/common/config; everything else injects AppConfig.
    files: ['src/**/*.ts', 'ormconfig.ts'],
    ignores: ['src/common/config/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Read settings from the injected AppConfig (src/common/config is the only reader of process.env).',
        },
      ],
    },
  },
  {
    // Jest's asymmetric matchers (`expect.any(String)`, `expect.objectContaining`) are typed `any`.
    files: ['test/**/*.ts', 'src/**/*.spec.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  prettier,
);
