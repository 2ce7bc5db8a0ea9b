import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { LoadedConfig } from '../config/load.js';
import { discordEnabled, slackEnabled, type HearthConfig } from '../config/schema.js';
import { createGpuWorker } from '../worker/index.js';
import { resolveVramBudget } from '../app/vram.js';
import { createLogger } from '../util/log.js';
import { EXIT } from './exit-codes.js';

type Level = 'ok' | 'warn' | 'fail';
interface Check {
  level: Level;
  what: string;
  detail: string;
}

const MARK: Record<Level, string> = { ok: '✓', warn: '!', fail: '✗' };
const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MB`;

/** `hearth doctor`: prints a checklist; exit 0 when nothing failed, 3 otherwise. */
export async function runDoctor(loaded: LoadedConfig): Promise<number> {
  const { config } = loaded;
  const checks: Check[] = [];
  const add = (level: Level, what: string, detail: string): void => {
    checks.push({ level, what, detail });
    process.stdout.write(`${MARK[level]} ${what}: ${detail}\n`);
  };

  add('ok', 'config', loaded.path ?? 'no config/hearth.yaml; using defaults');
  add(discordEnabled(config) || slackEnabled(config) ? 'ok' : 'warn', 'platforms',
    [discordEnabled(config) ? 'Discord' : null, slackEnabled(config) ? `Slack (${config.slack.mode})` : null].filter(Boolean).join(', ') ||
      'none configured: only the web console will run');

  const smi = nvidiaGpu();
  add(smi ? 'ok' : 'warn', 'NVIDIA GPU', smi ?? 'none found (nvidia-smi missing or no device): everything runs on the CPU, slowly');
  await checkLlama(config, add);
  await checkOnnxRuntime(config, smi !== undefined, add);

  const budget = resolveVramBudget(config.models.vramBudgetMB);
  add('ok', 'VRAM budget', `${mb(budget.bytes)} (${budget.source}${budget.gpuName ? `: ${budget.gpuName}` : ''})`);
  const modelsOk = await checkModelFiles(config, add);
  if (modelsOk) await checkFit(config, budget.bytes, add);

  const failed = checks.filter((c) => c.level === 'fail').length;
  const warned = checks.filter((c) => c.level === 'warn').length;
  process.stdout.write(`\n${failed === 0 ? 'hearth is ready' : `${failed} problem(s) to fix`}${warned ? `, ${warned} warning(s)` : ''}.\n`);
  return failed === 0 ? EXIT.ok : EXIT.doctorProblems;
}

function nvidiaGpu(): string | undefined {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 || typeof r.stdout !== 'string' || r.stdout.trim() === '') return undefined;
  return r.stdout.trim().split('\n')[0];
}

async function checkLlama(config: HearthConfig, add: (l: Level, w: string, d: string) => void): Promise<void> {
  try {
    const { getLlama, getLlamaGpuTypes } = await import('node-llama-cpp');
    const supported = await getLlamaGpuTypes('supported');
    const wanted = config.models.chat?.gpu ?? 'auto';
    const llama = await getLlama({ gpu: wanted === 'cpu' ? false : wanted, build: 'never', progressLogs: false, logLevel: 'error' as never });
    const gpu = llama.gpu;
    await llama.dispose();
    if (gpu) add('ok', 'llama.cpp', `GPU: ${gpu}`);
    else {
      const gpus = supported.filter((g) => g !== false);
      add('warn', 'llama.cpp', `no GPU in use (CPU)${gpus.length > 0 ? `; binaries for ${gpus.join(', ')} are installed but found no device` : ''}`);
    }
  } catch (e) {
    add('fail', 'llama.cpp', `could not load: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function checkOnnxRuntime(config: HearthConfig, gpuPresent: boolean, add: (l: Level, w: string, d: string) => void): Promise<void> {
  try {
    const { detectOrtProviders } = await import('../runners/image/providers.js');
    const ort = detectOrtProviders();
    if (!ort.bindingDir) {
      add('fail', 'ONNX Runtime', 'onnxruntime-node is not installed (run npm install)');
      return;
    }
    const wanted = [...(config.models.image?.providers ?? []), ...(config.models.caption?.providers ?? [])];
    const wantsCuda = wanted.includes('cuda');
    if (ort.cudaLibrariesPresent && gpuPresent) {
      add('ok', 'ONNX Runtime', `CUDA provider libraries present: images and captions use ${wantsCuda ? 'cuda (then cpu)' : 'cpu (cuda is not in their providers)'}`);
    } else if (gpuPresent) {
      add('warn', 'ONNX Runtime', `CUDA provider libraries are missing, so images and captions run on the CPU. Fix: ${ort.cudaInstallHint}`);
    } else {
      add('warn', 'ONNX Runtime', 'provider: cpu (no NVIDIA GPU)');
    }
  } catch (e) {
    add('fail', 'ONNX Runtime', `could not be checked: ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function checkModelFiles(config: HearthConfig, add: (l: Level, w: string, d: string) => void): Promise<boolean> {
  let ok = true;
  const chat = config.models.chat;
  const entries: Array<[string, string | undefined, 'file' | 'dir']> = [
    ['chat model (models.chat.path)', chat?.path.startsWith('hf:') ? undefined : chat?.path, 'file'],
    ['image model (models.image.dir)', config.models.image?.dir, 'dir'],
    ['caption model (models.caption.dir)', config.models.caption?.dir, 'dir'],
    ['embedding model (models.embedding.dir)', config.models.embedding?.dir, 'dir'],
  ];
  if (chat?.path.startsWith('hf:')) {
    const { resolveChatModelPath } = await import('../runners/llm/pull.js');
    const local = await resolveChatModelPath(chat.path, config.dataDir);
    entries[0] = ['chat model (models.chat.path)', local, 'file'];
  }
  for (const [what, path, kind] of entries) {
    if (path === undefined) {
      if (what.startsWith('chat') && chat) continue;
      add('warn', what, 'not configured: its command is off');
      continue;
    }
    try {
      const s = await stat(path);
      await access(path, constants.R_OK);
      if (kind === 'file' && !s.isFile()) throw new Error('not a file');
      if (kind === 'dir' && !s.isDirectory()) throw new Error('not a folder');
      add('ok', what, `${path}${kind === 'file' ? ` (${mb(s.size)})` : ''}`);
    } catch (e) {
      ok = false;
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      add('fail', what, `${path}: ${missing ? 'does not exist' : e instanceof Error ? e.message : String(e)}${what.startsWith('chat') && chat?.path.startsWith('hf:') ? ' — run `hearth models pull`' : ''}`);
    }
  }
  return ok;
}

async function checkFit(config: HearthConfig, budgetBytes: number, add: (l: Level, w: string, d: string) => void): Promise<void> {
  if (!config.models.chat && !config.models.image && !config.models.caption) return;
  // The worker describes a model it cannot size as 0 bytes (so the others still serve) and says why in
  // a warning: doctor must not call such a model a fit, so it keeps those warnings.
  const unsized: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        const { msg } = JSON.parse(chunk.toString()) as { msg?: unknown };
        if (typeof msg === 'string' && / cannot be estimated: /.test(msg)) unsized.push(msg);
      } catch {
        // Not a log line.
      }
      done();
    },
  });
  const worker = createGpuWorker(config, budgetBytes, createLogger('warn', sink));
  try {
    const models = await worker.describe({ signal: AbortSignal.timeout(120_000) });
    if (unsized.length > 0) {
      add('fail', 'VRAM fit', `${unsized.join('; ')} (fix the model, or give its size as models.<name>.vramMB)`);
      return;
    }
    const total = models.reduce((s, m) => s + m.vramBytes, 0);
    const list = models.map((m) => `${m.model} ${mb(m.vramBytes)}`).join(', ');
    const tooBig = models.filter((m) => m.vramBytes > budgetBytes).map((m) => m.model);
    if (tooBig.length > 0) add('warn', 'VRAM fit', `${tooBig.join(', ')} alone exceed(s) the budget of ${mb(budgetBytes)} (${list}): it loads partly on the CPU`);
    else if (total <= budgetBytes) add('ok', 'VRAM fit', `all models fit together: ${mb(total)} of ${mb(budgetBytes)} (${list})`);
    else add('warn', 'VRAM fit', `the models need ${mb(total)} together, more than ${mb(budgetBytes)} (${list}): hearth swaps them, preferring the loaded one within models.fairnessLagSeconds (${config.models.fairnessLagSeconds} s)`);
  } catch (e) {
    add('fail', 'VRAM fit', `the GPU worker could not estimate the models: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await worker.close();
  }
}
