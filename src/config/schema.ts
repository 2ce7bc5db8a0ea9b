/**
 * hearth's configuration: one zod schema, defaults applied on parse.
 *
 * Each field carries its own "expected" wording (the `error` of its checks), so a config error can
 * say what a key takes without a second table of descriptions drifting away from the schema.
 * Cross-field rules (a platform's credentials, web.token off loopback) are refinements that name
 * the key the user has to add.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { MAX_TOKENS_BOUNDS, SAMPLING_RANGES } from '../jobs/chat.js';
import { autoOr, bool, httpUrl, idList, intIn, nonEmpty, numIn, optionalId, positive, secret } from './fields.js';
import { knowledgeSchema } from './knowledge.js';
import {
  DEFAULT_IMAGE_DEFAULTS,
  DEFAULT_IMAGE_LIMITS,
  DEFAULT_IMAGE_STRENGTH,
  GUIDANCE,
  IMAGE_PROMPT_CHARS_BOUNDS,
  IMAGE_SIZE_BOUNDS,
  IMAGE_SIZE_MULTIPLE,
  IMAGE_STEPS_BOUNDS,
  SAMPLER_CHOICES,
  STRENGTH,
} from '../jobs/image.js';
import { IMAGE_MODEL_KINDS } from '../jobs/image-model.js';

/** The system prompt used when `models.chat.systemPrompt` is not set; short, because tiny contexts overflow. */
export const DEFAULT_SYSTEM_PROMPT =
  'You are a helpful assistant in a chat server. Answer clearly and concisely.';

/** File hosts attachments may come from when `files.allowedHosts` is not set: the platforms' own CDNs. */
export const DEFAULT_ALLOWED_HOSTS = ['cdn.discordapp.com', 'media.discordapp.net', 'files.slack.com'];

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

const discordSchema = z
  .strictObject({
    token: secret,
    applicationId: optionalId,
    guildIds: idList,
    // discord.js appends `/v10/...` itself, so a trailing slash would double up.
    apiBaseUrl: httpUrl('https://discord.com/api', (u) => u.replace(/\/+$/, '')),
    threadPerAsk: bool.default(false),
    allowedGuilds: idList,
    allowedChannels: idList,
    allowedRoles: idList,
    // Unset: DMs are open only while no allowlist (guilds, channels, roles) is set. Admins always may.
    allowDMs: bool.optional(),
    adminRoles: idList,
    adminUsers: idList,
    editIntervalMs: intIn(250, 60_000).default(1000),
  })
  .superRefine((d, ctx) => {
    if (d.token !== undefined && d.applicationId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['applicationId'],
        input: undefined,
        message: "the bot's application id whenever discord.token is set",
        params: { hint: 'Copy it from the Discord Developer Portal: your application → General Information → Application ID.' },
      });
    }
  });

const slackSchema = z
  .strictObject({
    botToken: secret,
    appToken: secret,
    signingSecret: secret,
    mode: z.enum(['socket', 'http']).default('socket'),
    port: intIn(0, 65_535).default(3000),
    // HTTP mode only: Slack (or the tunnel in front of it) must reach this address.
    host: nonEmpty('an address to listen on, e.g. 0.0.0.0 or 127.0.0.1').default('0.0.0.0'),
    // The Slack Web API client joins `apiUrl + method`, so the slash must be there.
    apiUrl: httpUrl('https://slack.com/api/', (u) => (u.endsWith('/') ? u : `${u}/`)),
    allowedTeams: idList,
    allowedChannels: idList,
    adminUsers: idList,
    updateIntervalMs: intIn(250, 60_000).default(1200),
  })
  .superRefine((s, ctx) => {
    const hidden = { hidden: true };
    if (s.botToken?.startsWith('xapp-')) {
      ctx.addIssue({
        code: 'custom', path: ['botToken'], input: s.botToken, params: { ...hidden, hint: 'That is the app-level token (xapp-); it belongs in slack.appToken. The bot token (xoxb-) is under OAuth & Permissions → Bot User OAuth Token.' },
        message: 'the bot token (it starts with xoxb-)',
      });
    }
    if (s.appToken?.startsWith('xox')) {
      ctx.addIssue({
        code: 'custom', path: ['appToken'], input: s.appToken, params: { ...hidden, hint: 'That is a bot or user token (xox…); the app-level token starts with xapp-: Slack app settings → Basic Information → App-Level Tokens.' },
        message: 'the app-level token (it starts with xapp-)',
      });
    }
    if (s.botToken === undefined) return;
    if (s.mode === 'socket' && s.appToken === undefined) {
      ctx.addIssue({
        code: 'custom', path: ['appToken'], input: undefined,
        message: 'the app-level token (it starts with xapp-) when slack.mode is socket',
        params: { hint: 'Create it in your Slack app settings → Basic Information → App-Level Tokens, with the connections:write scope (and enable Socket Mode). Or set slack.mode: http with slack.signingSecret.' },
      });
    }
    if (s.mode === 'http' && s.signingSecret === undefined) {
      ctx.addIssue({
        code: 'custom', path: ['signingSecret'], input: undefined,
        message: 'the signing secret when slack.mode is http',
        params: { hint: 'Copy it from your Slack app settings → Basic Information → App Credentials → Signing Secret.' },
      });
    }
  });

const HF_URI = /^hf:[\w.-]+\/[\w.-]+(?::[\w.-]+|\/[^\s#]+\.gguf)?(?:#[\w./-]+)?$/i;
const CHAT_PATH_EXPECTED =
  'a .gguf file path or an hf: URI (hf:user/repo:Q4_K_M or hf:user/repo/file.gguf)';

/** True for the model references node-llama-cpp can load: a local `.gguf` file or a Hugging Face URI. */
export function isChatModelPath(p: string): boolean {
  return p.startsWith('hf:') ? HF_URI.test(p) : /\.gguf$/i.test(p.trim());
}

const providers = z
  .array(z.enum(['cuda', 'cpu']), { error: 'a list of execution providers: cuda, cpu' })
  .min(1, { error: 'a list with at least one provider (cuda, cpu)' })
  .default(['cuda', 'cpu']);

const ADAPTER_NAME = /^[\w.-]{1,64}$/;
const ADAPTER_PATH_EXPECTED = 'the path of a GGUF LoRA adapter file (.gguf, made with llama.cpp\'s convert_lora_to_gguf.py)';

const vramMB = positive('a number of megabytes greater than 0').optional();

const chatSchema = z
  .strictObject({
    path: z
      .string({ error: CHAT_PATH_EXPECTED })
      .trim()
      .refine(isChatModelPath, { error: CHAT_PATH_EXPECTED }),
    threads: autoOr((e) => intIn(1, 1024, e), 'an integer from 1 to 1024').default('auto'),
    parallel: intIn(1, 64).default(4),
    contextSize: intIn(256, 131_072).default(4096),
    maxTokens: intIn(MAX_TOKENS_BOUNDS.min, MAX_TOKENS_BOUNDS.max).default(512),
    systemPrompt: z.string().default(DEFAULT_SYSTEM_PROMPT),
    channelSystemPrompts: z.record(z.string(), z.string(), { error: 'a mapping of channel id to prompt' }).default({}),
    // The ranges a job's own overrides are held to (the chat job contract), so the runner takes them.
    temperature: numIn(SAMPLING_RANGES.temperature.min, SAMPLING_RANGES.temperature.max).default(0.7),
    topP: numIn(SAMPLING_RANGES.topP.min, SAMPLING_RANGES.topP.max).default(0.9),
    repeatPenalty: numIn(SAMPLING_RANGES.repeatPenalty.min, SAMPLING_RANGES.repeatPenalty.max).default(1.1),
    gpu: z.enum(['auto', 'cuda', 'vulkan', 'cpu']).default('auto'),
    gpuLayers: autoOr((e) => intIn(0, undefined, e), 'an integer of 0 or more').default('auto'),
    tokensPerStep: intIn(1, 256).default(8),
    // Prompt tokens one chat may evaluate in one scheduling step; a longer prompt takes several steps.
    promptTokensPerStep: intIn(16, 8192).default(512),
    // Target length of a step that evaluates a prompt (ms): chunks are sized from the measured prompt
    // speed to fit it, never above promptTokensPerStep (src/runners/llm/chunk-budget.ts).
    maxStepMs: intIn(1, 60_000).default(250),
    // Conversations whose evaluated tokens idle sequences keep (0 = no cache); unset = parallel.
    // More than `parallel` adds sequences to the context, each `contextSize` tokens of KV memory.
    cacheConversations: intIn(0, 256).optional(),
    // Speculative decoding with a smaller model of the same tokenizer; off when unset.
    draft: z
      .strictObject({
        path: z.string({ error: CHAT_PATH_EXPECTED }).trim().refine(isChatModelPath, { error: CHAT_PATH_EXPECTED }),
        maxTokens: intIn(1, 64).default(16),
        minTokens: intIn(0, 64).default(0),
        minConfidence: numIn(0, 1).default(0.6),
      })
      .optional(),
    // LoRA adapters by name; each is applied in a context of its own (see src/runners/llm/adapters.ts).
    adapters: z
      .record(
        z.string().regex(ADAPTER_NAME, { error: 'adapter names of 1–64 letters, digits, _ . or -' }),
        z.strictObject({
          path: z.string({ error: ADAPTER_PATH_EXPECTED }).trim().refine((p) => /\.gguf$/i.test(p), { error: ADAPTER_PATH_EXPECTED }),
          scale: numIn(-10, 10).default(1),
        }),
        { error: 'a mapping of adapter name to { path, scale }' },
      )
      .default({}),
    // Adapter contexts alive at once (each `parallel` sequences of KV memory); unset = one per adapter, at most 4.
    adapterContexts: intIn(1, 64).optional(),
    channelAdapters: z.record(z.string(), z.string(), { error: 'a mapping of channel id to adapter name' }).default({}),
    vramMB,
  })
  .superRefine((c, ctx) => {
    for (const [channel, name] of Object.entries(c.channelAdapters)) {
      if (Object.hasOwn(c.adapters, name)) continue;
      const names = Object.keys(c.adapters);
      ctx.addIssue({
        code: 'custom', path: ['channelAdapters', channel], input: name,
        message: names.length === 0 ? 'the name of an adapter in models.chat.adapters (it names none)' : `the name of an adapter in models.chat.adapters: ${names.join(', ')}`,
        params: { hint: 'Add the adapter under models.chat.adapters (name: { path: file.gguf, scale: 1 }), or fix the name.' },
      });
    }
    if (c.maxTokens >= c.contextSize) {
      ctx.addIssue({
        code: 'custom', path: ['maxTokens'], input: c.maxTokens,
        message: `fewer tokens than models.chat.contextSize (${c.contextSize})`,
        params: { hint: 'The answer shares the context with the prompt; raise contextSize or lower maxTokens.' },
      });
    }
  });

const imageSchema = z
  .strictObject({
    dir: nonEmpty('the folder of a diffusers/optimum ONNX export (text_encoder/, unet/, vae_decoder/, tokenizer/)'),
    providers,
    // Bounds, defaults and the sampler list are the image job contract's (src/jobs/image.ts).
    defaults: z
      .strictObject({
        // Left out: the model's native size (unet/config.json: 512 for SD 1.5, 1024 for SDXL).
        width: intIn(IMAGE_SIZE_BOUNDS.min, IMAGE_SIZE_BOUNDS.max).optional(),
        height: intIn(IMAGE_SIZE_BOUNDS.min, IMAGE_SIZE_BOUNDS.max).optional(),
        steps: intIn(IMAGE_STEPS_BOUNDS.min, IMAGE_STEPS_BOUNDS.max).default(DEFAULT_IMAGE_DEFAULTS.steps),
        guidance: numIn(GUIDANCE.min, GUIDANCE.max).default(DEFAULT_IMAGE_DEFAULTS.guidance),
        scheduler: z.enum(SAMPLER_CHOICES, { error: `one of ${SAMPLER_CHOICES.join(', ')}` }).default(DEFAULT_IMAGE_DEFAULTS.scheduler),
        negativePrompt: z.string().default(DEFAULT_IMAGE_DEFAULTS.negativePrompt),
        // Image-to-image (an attached image, a Vary) without a strength of its own.
        strength: numIn(STRENGTH.min, STRENGTH.max).default(DEFAULT_IMAGE_STRENGTH),
      })
      .prefault({}),
    limits: z
      .strictObject({
        minSize: intIn(IMAGE_SIZE_BOUNDS.min, IMAGE_SIZE_BOUNDS.max).default(DEFAULT_IMAGE_LIMITS.minSize),
        maxSize: intIn(IMAGE_SIZE_BOUNDS.min, IMAGE_SIZE_BOUNDS.max).default(DEFAULT_IMAGE_LIMITS.maxSize),
        maxSteps: intIn(IMAGE_STEPS_BOUNDS.min, IMAGE_STEPS_BOUNDS.max).default(DEFAULT_IMAGE_LIMITS.maxSteps),
        maxPromptChars: intIn(IMAGE_PROMPT_CHARS_BOUNDS.min, IMAGE_PROMPT_CHARS_BOUNDS.max).default(DEFAULT_IMAGE_LIMITS.maxPromptChars),
      })
      .prefault({}),
    previewEvery: intIn(0, 1000).default(0),
    // What the model is, when its folder's names do not say (a Turbo model: 1–4 steps, no guidance).
    kind: z.enum(IMAGE_MODEL_KINDS, { error: `one of ${IMAGE_MODEL_KINDS.join(', ')}` }).default('auto'),
    vramMB,
  })
  .superRefine((img, ctx) => {
    const { defaults: d, limits: l } = img;
    const add = (path: (string | number)[], input: number, message: string) =>
      ctx.addIssue({ code: 'custom', path, input, message });
    if (l.minSize > l.maxSize) {
      add(['limits', 'minSize'], l.minSize, `at most models.image.limits.maxSize (${l.maxSize})`);
      return;
    }
    for (const side of ['width', 'height'] as const) {
      const v = d[side];
      if (v === undefined) continue;
      // Stable Diffusion works on latents an eighth of the image size.
      if (v % IMAGE_SIZE_MULTIPLE !== 0) add(['defaults', side], v, `a multiple of ${IMAGE_SIZE_MULTIPLE}`);
      else if (v < l.minSize || v > l.maxSize) add(['defaults', side], v, `a size within limits.minSize..limits.maxSize (${l.minSize}..${l.maxSize})`);
    }
    if (d.steps > l.maxSteps) add(['defaults', 'steps'], d.steps, `at most limits.maxSteps (${l.maxSteps})`);
    // Every /imagine without --no uses it, so it is held to the negative prompt's limit too.
    const negative = [...d.negativePrompt].length;
    if (negative > l.maxPromptChars) add(['defaults', 'negativePrompt'], negative, `at most limits.maxPromptChars (${l.maxPromptChars}) characters`);
  });

const captionSchema = z.strictObject({
  dir: nonEmpty('the folder of a transformers.js image-to-text model (config.json, onnx/)'),
  /** Where `hearth models pull` downloads the folder from when it is missing. */
  source: z
    .string({ error: 'an hf: model id such as hf:Xenova/vit-gpt2-image-captioning' })
    .regex(/^hf:[\w.-]+\/[\w.-]+$/, { error: 'an hf: model id such as hf:Xenova/vit-gpt2-image-captioning' })
    .default('hf:Xenova/vit-gpt2-image-captioning'),
  providers,
  maxNewTokens: intIn(1, 1024).default(40),
  detailedMaxNewTokens: intIn(1, 4096).default(120),
  vramMB,
});

/**
 * A transformers.js feature-extraction model (e.g. all-MiniLM-L6-v2) for workspace knowledge: with it,
 * indexed messages are embedded (GPU-worker jobs) and searched by meaning as well as by words.
 */
const embeddingSchema = z.strictObject({
  dir: nonEmpty('the folder of a transformers.js feature-extraction model (config.json, tokenizer.json, onnx/model.onnx)'),
  /** Where `hearth models pull` downloads the folder from when it is missing. */
  source: z
    .string({ error: 'an hf: model id such as hf:Xenova/all-MiniLM-L6-v2' })
    .regex(/^hf:[\w.-]+\/[\w.-]+$/, { error: 'an hf: model id such as hf:Xenova/all-MiniLM-L6-v2' })
    .default('hf:Xenova/all-MiniLM-L6-v2'),
  providers,
  /** Messages per embed job while the index catches up (each job is one short step on the GPU). */
  batchSize: intIn(1, 64).default(32),
  vramMB,
});

const modelsSchema = z.strictObject({
  vramBudgetMB: autoOr((e) => positive(e), 'a number of megabytes greater than 0').default('auto'),
  fairnessLagSeconds: numIn(0).default(30),
  chat: chatSchema.optional(),
  image: imageSchema.optional(),
  caption: captionSchema.optional(),
  embedding: embeddingSchema.optional(),
});

const HOST_EXPECTED = 'a bare host name like cdn.discordapp.com (no scheme, port, path or wildcard)';
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Why a host entry is not a bare host name, with the fix when one can be guessed; null when it is fine. */
function hostProblem(v: string): string | null {
  if (HOST_NAME.test(v) || isIP(v) === 6) return null;
  try {
    const u = new URL(v.includes('://') ? v : `http://${v}`);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (host && (HOST_NAME.test(host) || isIP(host) === 6)) return `Write just "${host}" (any port of a listed host is allowed).`;
  } catch {
    // Not URL-shaped either: the generic wording says what is expected.
  }
  return 'List each host by name, e.g. cdn.discordapp.com.';
}

const hostName = z
  .string({ error: HOST_EXPECTED })
  .trim()
  .superRefine((v, ctx) => {
    const hint = hostProblem(v);
    if (hint !== null) ctx.addIssue({ code: 'custom', input: v, message: HOST_EXPECTED, params: { hint } });
  })
  .transform((v) => v.toLowerCase());

const filesSchema = z.strictObject({
  allowedHosts: z.array(hostName, { error: 'a list of host names' }).default(DEFAULT_ALLOWED_HOSTS),
  maxBytes: intIn(1, 1024 * 1024 * 1024).default(10 * 1024 * 1024),
  maxPixels: intIn(1, 1_000_000_000).default(40_000_000),
});

/** True for hosts that only this machine can reach: 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** Shortest `web.token` accepted off loopback (and shortest `web.users` token anywhere). */
export const MIN_WEB_TOKEN_CHARS = 16;

const WEB_USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
/** Names the console uses for itself (`web:console` is everyone who has not signed in). */
const RESERVED_WEB_USERS = new Set(['console', 'dashboard']);

/** A person who signs in to the console with their own token, and so has their own limits. */
const webUserSchema = z.strictObject({
  name: z
    .string({ error: 'a name of letters, digits, ".", "_" or "-" (up to 32)' })
    .trim()
    .regex(WEB_USER_NAME, { error: 'a name of letters, digits, ".", "_" or "-" (up to 32)' })
    .refine((n) => !RESERVED_WEB_USERS.has(n.toLowerCase()), { error: 'a name other than "console" or "dashboard"' }),
  token: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim() : v),
    z.string({ error: 'a string' }).min(MIN_WEB_TOKEN_CHARS, { error: `a token of at least ${MIN_WEB_TOKEN_CHARS} characters` }),
  ),
});

const webSchema = z
  .strictObject({
    host: nonEmpty('a host name or IP address to listen on').default('127.0.0.1'),
    port: intIn(0, 65_535).default(8080),
    token: secret,
    users: z.array(webUserSchema, { error: 'a list of { name, token }' }).default([]),
    maxQueued: intIn(1, 10_000).default(20),
  })
  .superRefine((w, ctx) => {
    const hint = 'Set web.token (e.g. web.token: ${HEARTH_WEB_TOKEN}) to a long random string (openssl rand -base64 24 makes one), or set web.host: 127.0.0.1.';
    if (!isLoopbackHost(w.host) && w.token === undefined) {
      ctx.addIssue({
        code: 'custom', path: ['token'], input: undefined,
        message: `an access token, because web.host (${w.host}) is not a loopback address`,
        params: { hint },
      });
    } else if (!isLoopbackHost(w.host) && w.token !== undefined && [...w.token].length < MIN_WEB_TOKEN_CHARS) {
      ctx.addIssue({
        code: 'custom', path: ['token'], input: w.token,
        message: `an access token of at least ${MIN_WEB_TOKEN_CHARS} characters, because web.host (${w.host}) is not a loopback address`,
        params: { hidden: true, hint },
      });
    }
    const names = new Set<string>();
    const tokens = new Set<string>(w.token === undefined ? [] : [w.token]);
    w.users.forEach((u, i) => {
      if (names.has(u.name.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], input: u.name, message: 'a name no other web.users entry has' });
      }
      if (tokens.has(u.token)) {
        ctx.addIssue({ code: 'custom', path: ['users', i, 'token'], input: u.token, message: 'a token of its own (not web.token, nor another user\'s)', params: { hidden: true } });
      }
      names.add(u.name.toLowerCase());
      tokens.add(u.token);
    });
  });

const limitsSchema = z.strictObject({
  maxQueuedPerUser: intIn(1, 1000).default(5),
  dailyGpuSeconds: positive('a number of seconds greater than 0, or null for no limit').nullable().default(null),
  roleWeights: z.record(z.string(), positive('a weight greater than 0'), { error: 'a mapping of role id to weight' }).default({}),
  adminWeight: positive().default(1),
});

const monitoringSchema = z.strictObject({
  /** Seconds between two nvidia-smi readings (GPU telemetry on the dashboard, status and /metrics). */
  gpuPollSeconds: numIn(1, 3600).default(5),
});

const retentionSchema = z.strictObject({
  /** Days a finished job's result and images are kept; GPU-seconds totals are kept for ever. */
  days: numIn(1, 36_500).default(30),
});

const REDIS_URL_EXPECTED = 'a redis:// or rediss:// URL, e.g. redis://:PASSWORD@host:6379';

/**
 * Running past one GPU box (docs/cluster.md). With `redisUrl` set, `hearth start` is the coordinator
 * and `hearth worker` runs a GPU worker serving the models of its own config.
 */
const clusterSchema = z.strictObject({
  // `${VAR:-}` yields '' when VAR is unset: read as "not a cluster". The URL may hold a password.
  redisUrl: z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim()) : v),
    z
      .string({ error: REDIS_URL_EXPECTED })
      .regex(/^rediss?:\/\/[^\s]+$/, { error: REDIS_URL_EXPECTED })
      .refine((u) => URL.canParse(u), { error: REDIS_URL_EXPECTED })
      .optional(),
  ),
  // Default (applied by `hearth worker`): hostname-pid.
  workerName: z
    .string({ error: 'a worker name of letters, digits, ".", "_" or "-" (up to 64)' })
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { error: 'a worker name of letters, digits, ".", "_" or "-" (up to 64)' })
    .optional(),
  /** For `rediss://`: a PEM file of the CA that signed Redis's certificate (default: the system's CAs). */
  tlsCaFile: nonEmpty('a path to a PEM file of the CA that signed the Redis server\'s certificate').optional(),
  /** Jobs one worker runs at once (its steps take turns on its GPU). */
  capacity: intIn(1, 64).default(2),
  /** How often a worker says it is alive; one silent for 3 beats is taken as dead. */
  heartbeatSeconds: numIn(0.1, 60).default(2),
});

/** The whole configuration file. Every section may be left out; unknown keys are errors. */
export const configSchema = z.strictObject({
  dataDir: nonEmpty('a folder path').default('./data'),
  log: logSchema.prefault({}),
  discord: discordSchema.prefault({}),
  slack: slackSchema.prefault({}),
  models: modelsSchema.prefault({}),
  files: filesSchema.prefault({}),
  web: webSchema.prefault({}),
  limits: limitsSchema.prefault({}),
  monitoring: monitoringSchema.prefault({}),
  retention: retentionSchema.prefault({}),
  knowledge: knowledgeSchema.prefault({}),
  cluster: clusterSchema.prefault({}),
});

/** The configuration with defaults applied. */
export type HearthConfig = z.infer<typeof configSchema>;
export type DiscordConfig = HearthConfig['discord'];
export type SlackConfig = HearthConfig['slack'];
export type ChatModelConfig = NonNullable<HearthConfig['models']['chat']>;
export type ImageModelConfig = NonNullable<HearthConfig['models']['image']>;
export type CaptionModelConfig = NonNullable<HearthConfig['models']['caption']>;
export type EmbeddingModelConfig = NonNullable<HearthConfig['models']['embedding']>;
export type KnowledgeConfig = HearthConfig['knowledge'];
export type ClusterConfig = HearthConfig['cluster'];

/** The configuration hearth runs with when there is no file (web console only). */
export function defaultConfig(): HearthConfig {
  return configSchema.parse({});
}

/** Discord is started only when it has credentials; a token without an application id fails validation. */
export function discordEnabled(cfg: HearthConfig): boolean {
  return Boolean(cfg.discord.token && cfg.discord.applicationId);
}

/** Slack is started only when it has a bot token; the token its mode needs is checked by validation. */
export function slackEnabled(cfg: HearthConfig): boolean {
  return Boolean(cfg.slack.botToken);
}
