/**
 * `npm run bench`: every benchmark, one after another, each printing a markdown table. Each figure is
 * a ratio or a comparison measured in one run (see docs/performance.md).
 */
import { existsSync } from 'node:fs';

interface Bench {
  name: string;
  file: string;
  fn: string;
}

const benches: Bench[] = [
  { name: 'Scheduler: hearth vs FIFO', file: './scheduler.ts', fn: 'runSchedulerBench' },
  { name: 'LLM: tokens/s through hearth vs node-llama-cpp, and batching', file: './llm.ts', fn: 'runLlmBench' },
  { name: 'Image: steps/s through hearth vs a bare ONNX loop', file: './image.ts', fn: 'runImageBench' },
  { name: 'Image: a chat during a 10-image flood, hearth vs FIFO', file: './image.ts', fn: 'runFloodBench' },
  { name: 'Acknowledgements: 150 commands at once on Discord, GPU held shut (ratio of the 3 s deadline)', file: './acks.ts', fn: 'runAckBench' },
  { name: 'Soak: days of mixed traffic compressed (RSS, heap, event-loop lag, handles, database size)', file: './soak.ts', fn: 'runSoakBench' },
];

const only = process.argv.slice(2).find((a) => !a.startsWith('--'));
for (const b of benches) {
  if (only && !b.file.includes(only)) continue;
  if (!existsSync(new URL(b.file, import.meta.url))) continue;
  const mod = (await import(b.file)) as Record<string, () => Promise<string>>;
  const run = mod[b.fn];
  if (!run) throw new Error(`${b.file} does not export ${b.fn}`);
  console.log(`\n## ${b.name}\n`);
  console.log(await run());
}
