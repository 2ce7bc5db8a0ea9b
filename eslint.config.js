import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PLATFORM_LIBS = { group: ['discord.js', '@discordjs/*', '@slack/*'], message: 'Only src/bots/<platform> imports a platform library.' };
const MODEL_LIBS = { group: ['node-llama-cpp', 'onnxruntime-node', '@huggingface/transformers'], message: 'Model libraries live in the GPU worker (src/runners).' };
// Only the engine's front door (index), its vocabulary (types, job-feed, clock) and the Engine class.
const ENGINE_INTERNALS = {
  group: ['**/engine/*', '!**/engine/index.js', '!**/engine/types.js', '!**/engine/job-feed.js', '!**/engine/clock.js', '!**/engine/engine.js', '**/engine/*/**'],
  message: 'Outside the engine, import src/engine/index.ts (or types, job-feed, clock), not its internals.',
};

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
    // Small files with names that say what they hold: a source file past 500 lines is split.
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 500 }] },
  },
  {
    // The engine is the innermost room: nothing of the rooms around it, no platform or model library.
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [PLATFORM_LIBS, MODEL_LIBS, {
          group: ['**/bots/**', '**/commands/**', '**/runners/**', '**/app/**', '**/cli/**', '**/worker/**', '**/config/**', '**/media/**', '**/views/**', '**/jobs/**'],
          message: 'src/engine imports nothing from bots, commands, runners, app, cli, worker, config, media, views or jobs.',
        }],
      }],
    },
  },
  {
    // Commands and the shared views reach the engine only through its front door.
    files: ['src/commands/**/*.ts', 'src/views/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [PLATFORM_LIBS, MODEL_LIBS, ENGINE_INTERNALS, { group: ['**/bots/**'], message: 'Commands and views never import an adapter.' }] }],
    },
  },
  {
    files: ['src/bots/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [MODEL_LIBS, ENGINE_INTERNALS] }],
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
