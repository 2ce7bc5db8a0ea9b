/**
 * The GPU worker's built-in runners: one per configured model. Each model library is imported only
 * when its model is configured, so a chat-only hearth never loads ONNX Runtime.
 */
import { join } from 'node:path';
import type { Runner, RunnerFactory } from '../engine/runner.js';
import type { Json } from '../engine/types.js';
import type { BuiltinRunnerSettings } from './builtin-settings.js';

const factory: RunnerFactory = async (raw: Json) => {
  const s = raw as unknown as BuiltinRunnerSettings;
  const runners: Runner[] = [];
  const chat = s.models.chat;
  if (chat) {
    const { ChatRunner } = await import('./llm/chat-runner.js');
    const { resolveChatModelPath } = await import('./llm/pull.js');
    // An hf: model not pulled yet: keep the runner, so its jobs fail with MODEL_MISSING naming the
    // file (and `hearth models pull`), while the other models serve.
    const path = await resolveChatModelPath(chat.path, s.dataDir).catch(() => chat.path);
    runners.push(
      new ChatRunner({
        model: 'chat',
        path,
        threads: chat.threads,
        parallel: chat.parallel,
        contextSize: chat.contextSize,
        maxTokens: chat.maxTokens,
        temperature: chat.temperature,
        topP: chat.topP,
        repeatPenalty: chat.repeatPenalty,
        gpu: chat.gpu,
        gpuLayers: chat.gpuLayers,
        tokensPerStep: chat.tokensPerStep,
        promptTokensPerStep: chat.promptTokensPerStep,
        ...(chat.maxStepMs !== undefined ? { maxStepMs: chat.maxStepMs } : {}),
        ...(chat.cacheConversations !== undefined ? { cacheConversations: chat.cacheConversations } : {}),
        ...(chat.draft ? { draft: { ...chat.draft, path: await resolveChatModelPath(chat.draft.path, s.dataDir).catch(() => chat.draft?.path ?? '') } } : {}),
        ...(chat.adapters ? { adapters: chat.adapters } : {}),
        ...(chat.adapterContexts !== undefined ? { adapterContexts: chat.adapterContexts } : {}),
        vramBudgetBytes: s.vramBudgetBytes,
      }),
    );
    if (chat.vramMB !== undefined) runners[runners.length - 1] = withVram(runners.at(-1)!, chat.vramMB);
  }
  const image = s.models.image;
  if (image) {
    const { createImageRunner } = await import('./image/index.js');
    // A default size left out is the model's native one: absent, not undefined, across JSON.
    const { width, height, ...defaults } = image.defaults;
    runners.push(
      createImageRunner({
        model: 'image',
        dir: image.dir,
        providers: image.providers,
        defaults: { ...defaults, ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}) },
        limits: image.limits,
        previewEvery: image.previewEvery,
        kind: image.kind,
        ...(image.vramMB !== undefined ? { vramMB: image.vramMB } : {}),
        maxImageBytes: s.maxBytes,
        maxImagePixels: s.maxPixels,
      }),
    );
  }
  const caption = s.models.caption;
  if (caption) {
    const { createCaptionRunner } = await import('./caption/index.js');
    runners.push(
      createCaptionRunner({
        model: 'caption',
        dir: caption.dir,
        providers: caption.providers,
        maxNewTokens: caption.maxNewTokens,
        detailedMaxNewTokens: caption.detailedMaxNewTokens,
        cacheDir: join(s.dataDir, 'cache', 'transformers'),
        maxImagePixels: s.maxPixels,
        maxImageBytes: s.maxBytes,
      }),
    );
    if (caption.vramMB !== undefined) runners[runners.length - 1] = withVram(runners.at(-1)!, caption.vramMB);
  }
  const embedding = s.models.embedding;
  if (embedding) {
    const { EmbedRunner } = await import('./embed/embed-runner.js');
    runners.push(new EmbedRunner({ model: 'embedding', dir: embedding.dir, providers: embedding.providers, cacheDir: join(s.dataDir, 'cache', 'transformers') }));
    if (embedding.vramMB !== undefined) runners[runners.length - 1] = withVram(runners.at(-1)!, embedding.vramMB);
  }
  return runners;
};

/** A runner whose VRAM figure comes from config (`models.*.vramMB`) instead of its own estimate. */
function withVram(runner: Runner, mb: number): Runner {
  return {
    model: runner.model,
    kind: runner.kind,
    maxBatch: runner.maxBatch,
    vramBytes: async () => mb * 2 ** 20,
    load: (o) => runner.load(o),
    unload: () => runner.unload(),
    begin: (j, o) => runner.begin(j, o),
    step: (ids, o) => runner.step(ids, o),
    end: (id) => runner.end(id),
    dispose: () => runner.dispose(),
  };
}

export default factory;
