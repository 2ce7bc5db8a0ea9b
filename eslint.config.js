import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/commands/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['discord.js', '@discordjs/*', '@slack/*'], message: 'Only src/bots/<platform> imports a platform library.' },
          { group: ['node-llama-cpp', 'onnxruntime-node', '@huggingface/transformers', 'sharp'], message: 'Model libraries live in the GPU worker (src/runners).' },
        ],
      }],
    },
  },
  {
    // Runners run in the GPU worker and own their settings: nothing of the main process's rooms.
    files: ['src/runners/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/app/*', '**/bots/*', '**/bots/**', '**/commands/*', '**/worker/*', '**/cli/*'], message: 'Runners import nothing from app, bots, commands, cli or worker.' },
        ],
      }],
    },
  },
  {
    // The job contracts are read by config, commands, runners and adapters alike, so they import
    // only the engine's shared vocabulary and zod: never an import that runs back into a reader.
    files: ['src/jobs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', '!../engine', '../engine/*', '!../engine/types.js'], message: 'src/jobs imports only src/engine/types.ts (and zod).' },
          { group: ['node:*', 'discord.js', '@slack/*', 'node-llama-cpp', 'onnxruntime-node', '@huggingface/*', 'sharp'], message: 'src/jobs imports only src/engine/types.ts (and zod).' },
        ],
      }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
