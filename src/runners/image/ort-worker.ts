/**
 * The worker thread that owns the image model's ONNX Runtime sessions. onnxruntime-node's
 * `session.run` blocks its thread for the whole inference, so it runs here and the GPU worker's
 * event loop stays free for IPC, progress events and other runners. Calls are handled one at a time.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { HearthError, toErrorInfo } from '../../engine/types.js';
import { floatsToHalf, halfToFloats, toHalfBits } from './fp16.js';
import { guide } from './guidance.js';
import { resolvePipelineIo, resolveVaeEncoderIo, type FloatType, type PipelineIo, type SessionInfo, type TensorInfo } from './model-io.js';
import type { CallMessage, DecodeResult, LoadCall, LoadResult, ReplyMessage, Shape4, VaeEncodeResult, WorkerCall, WorkerResults, XlEncode } from './protocol.js';
import type { ImageProvider } from './settings.js';
import { vaeOutputToRgbChecked } from './vae-rgb.js';

type Session = ort.InferenceSession;

interface Loaded {
  te: Session;
  unet: Session;
  vae: Session;
  /** SDXL's second text encoder. */
  te2?: Session;
  /** The VAE encoder, for image-to-image. */
  vaeEnc?: Session;
  io: PipelineIo;
}

/** A job's conditioning: the prompt embeddings, and for SDXL the UNet's added inputs. */
interface Conditioning {
  hidden: ort.Tensor;
  added?: Record<string, ort.Tensor>;
}

let loaded: Loaded | undefined;
const embeddings = new Map<string, Conditioning>();

function sessionOptions(provider: ImageProvider, threads: number | undefined): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(threads !== undefined ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  };
}

function info(session: Session): SessionInfo {
  const tensor = (m: ort.InferenceSession.ValueMetadata): TensorInfo =>
    m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'non-tensor', shape: [] };
  return { inputs: session.inputMetadata.map(tensor), outputs: session.outputMetadata.map(tensor) };
}

async function createAll(call: LoadCall, provider: ImageProvider): Promise<Session[]> {
  const opts = sessionOptions(provider, call.threads);
  const created: Session[] = [];
  const { textEncoder, textEncoder2, unet, vaeDecoder } = call.files;
  try {
    // By path, never as one buffer: an SDXL UNet keeps its weights in model.onnx_data beside model.onnx.
    for (const file of [textEncoder, unet, vaeDecoder, ...(textEncoder2 !== undefined ? [textEncoder2] : [])]) {
      try {
        created.push(await ort.InferenceSession.create(file, opts));
      } catch (e) {
        throw Object.assign(new Error((e as Error).message), { file });
      }
    }
  } catch (e) {
    await Promise.all(created.map((s) => s.release().catch(() => undefined)));
    throw e;
  }
  return created;
}

async function load(call: LoadCall): Promise<LoadResult> {
  const warnings: string[] = [];
  let lastError: (Error & { file?: string }) | undefined;
  for (const provider of call.providers) {
    let sessions: Session[];
    try {
      sessions = await createAll(call, provider);
    } catch (e) {
      lastError = e as Error & { file?: string };
      if (provider !== 'cpu') warnings.push(`the ${provider} execution provider failed (${lastError.message}); trying the next one`);
      continue;
    }
    const [te, unet, vae, te2] = sessions as [Session, Session, Session, Session | undefined];
    try {
      const io = resolvePipelineIo(info(te), info(unet), info(vae), call.files, te2 ? info(te2) : undefined);
      const encoder = call.files.vaeEncoder !== undefined ? await loadVaeEncoder(call.files.vaeEncoder, call, provider) : undefined;
      if (encoder?.session) io.vaeEncoder = encoder.io;
      loaded = { te, unet, vae, io, ...(te2 ? { te2 } : {}), ...(encoder?.session ? { vaeEnc: encoder.session } : {}) };
      return { provider, io, warnings, ...(encoder?.problem !== undefined ? { vaeEncoderProblem: encoder.problem } : {}) };
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
      throw e;
    }
  }
  const file = lastError?.file ?? call.files.unet;
  const reason = lastError?.message ?? 'no execution provider was given';
  if (call.providers.includes('cpu')) {
    // The CPU provider runs any valid model, so its failure is the model's.
    throw new HearthError('MODEL_INVALID', `${file} could not be loaded by ONNX Runtime: ${reason}`, {
      file,
      expected: 'an ONNX model ONNX Runtime can load',
      given: reason,
    });
  }
  throw new HearthError('RUNNER_FAILED', `${file} could not be loaded with the ${call.providers.join(', ')} execution provider: ${reason}`, {
    file,
    providers: call.providers,
    given: reason,
  });
}

/**
 * The VAE encoder, on the provider the rest runs on. Only image-to-image needs it, so one that does
 * not load or does not fit is a problem for those jobs (said when one comes), not a failed model.
 */
async function loadVaeEncoder(
  file: string,
  call: LoadCall,
  provider: ImageProvider,
): Promise<{ session: Session; io: NonNullable<PipelineIo['vaeEncoder']>; problem?: undefined } | { session?: undefined; problem: string }> {
  let session: Session;
  try {
    session = await ort.InferenceSession.create(file, sessionOptions(provider, call.threads));
  } catch (e) {
    return { problem: `${file} could not be loaded by ONNX Runtime: ${(e as Error).message}` };
  }
  try {
    return { session, io: resolveVaeEncoderIo(info(session), file) };
  } catch (e) {
    await session.release().catch(() => undefined);
    return { problem: (e as Error).message };
  }
}

function need(): Loaded {
  if (!loaded) throw new HearthError('RUNNER_FAILED', 'the image model is not loaded in its worker thread');
  return loaded;
}

function floatTensor(type: FloatType, data: Float32Array, dims: readonly number[]): ort.Tensor {
  return type === 'float16' ? new ort.Tensor('float16', floatsToHalf(data), dims) : new ort.Tensor('float32', data, dims);
}

/** A fresh float32 copy of an output (fp16 converted), safe to transfer. */
function toFloats(t: ort.Tensor): Float32Array {
  const data = t.data;
  if (data instanceof Uint16Array) return halfToFloats(data);
  if (data instanceof Float32Array) return new Float32Array(data);
  throw new HearthError('RUNNER_FAILED', `unexpected output type ${t.type}`);
}

function timestepTensor(io: PipelineIo['unet'], t: number): ort.Tensor {
  const dims = io.timestepDims;
  const n = dims[0] ?? 1;
  switch (io.timestepType) {
    case 'int64':
      return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.round(t))), dims);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(n).fill(Math.round(t)), dims);
    case 'float16':
      return new ort.Tensor('float16', new Uint16Array(n).fill(toHalfBits(t)), dims);
    case 'float64':
      return new ort.Tensor('float64', new Float64Array(n).fill(t), dims);
    case 'float32':
      return new ort.Tensor('float32', new Float32Array(n).fill(t), dims);
  }
}

function idsTensor(type: PipelineIo['textEncoder']['idsType'], ids: Int32Array, dims: number[]): ort.Tensor {
  return type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), dims) : new ort.Tensor('int32', ids, dims);
}

async function encode(key: string, ids: Int32Array, batch: number, xl: XlEncode | undefined): Promise<null> {
  const { te, te2, io } = need();
  const dims = [batch, ids.length / batch];
  const out = await te.run({ [io.textEncoder.ids]: idsTensor(io.textEncoder.idsType, ids, dims) }, [io.textEncoder.hidden]);
  const hidden = out[io.textEncoder.hidden] as ort.Tensor;
  if (!xl || !te2 || !io.textEncoder2 || !io.unet.textEmbeds || !io.unet.timeIds) {
    // Keep the embeddings in the dtype the UNet takes, converted once per job rather than per step.
    const stored = io.textEncoder.hiddenType === io.unet.hiddenType ? hidden : floatTensor(io.unet.hiddenType, toFloats(hidden), hidden.dims);
    embeddings.set(key, { hidden: stored });
    return null;
  }
  const io2 = io.textEncoder2;
  const out2 = await te2.run({ [io2.ids]: idsTensor(io2.idsType, xl.ids2, dims) }, [io2.hidden, io2.pooled]);
  const h1 = toFloats(hidden);
  const h2 = toFloats(out2[io2.hidden] as ort.Tensor);
  const pooled = toFloats(out2[io2.pooled] as ort.Tensor);
  // prompt_embeds = concat(penultimate layer of text_encoder, of text_encoder_2) along the width.
  const rows = batch * (dims[1] as number);
  const w1 = h1.length / rows;
  const w2 = h2.length / rows;
  const cat = new Float32Array(rows * (w1 + w2));
  for (let r = 0; r < rows; r++) {
    cat.set(h1.subarray(r * w1, (r + 1) * w1), r * (w1 + w2));
    cat.set(h2.subarray(r * w2, (r + 1) * w2), r * (w1 + w2) + w1);
  }
  if (xl.zeroUncond && batch === 2) {
    // force_zeros_for_empty_prompt: the unconditional row is zeros, not the encoded empty prompt.
    cat.fill(0, 0, cat.length / 2);
    pooled.fill(0, 0, pooled.length / 2);
  }
  embeddings.set(key, {
    hidden: floatTensor(io.unet.hiddenType, cat, [batch, dims[1] as number, w1 + w2]),
    added: {
      [io.unet.textEmbeds.name]: floatTensor(io.unet.textEmbeds.type, pooled, [batch, pooled.length / batch]),
      [io.unet.timeIds.name]: floatTensor(io.unet.timeIds.type, xl.timeIds, [batch, 6]),
    },
  });
  return null;
}

async function unet(key: string, sample: Float32Array, shape: Shape4, timestep: number, guidance: number | undefined): Promise<Float32Array> {
  const { unet: session, io } = need();
  const cond = embeddings.get(key);
  if (!cond) throw new HearthError('RUNNER_FAILED', `no text embeddings for ${key}: encode first`);
  const batch = cond.hidden.dims[0] ?? 1;
  let input = sample;
  if (batch > 1) {
    input = new Float32Array(sample.length * batch);
    for (let b = 0; b < batch; b++) input.set(sample, b * sample.length);
  }
  const feeds = {
    [io.unet.sample]: floatTensor(io.unet.sampleType, input, [batch, shape[1], shape[2], shape[3]]),
    [io.unet.timestep]: timestepTensor(io.unet, timestep),
    [io.unet.hidden]: cond.hidden,
    ...cond.added,
  };
  const out = await session.run(feeds, [io.unet.out]);
  const t = out[io.unet.out] as ort.Tensor;
  // Guided here, reading the output in place: no copy of the whole batch is made or sent.
  if (guidance !== undefined && batch === 2 && (t.data instanceof Float32Array || t.data instanceof Uint16Array)) return guide(t.data, guidance);
  return toFloats(t);
}

/**
 * Decodes and converts to RGB here, reading ONNX Runtime's output in place: no float copy of the
 * image (12 bytes a pixel) is made or sent to the main thread, only the 3-byte pixels.
 */
async function decode(latents: Float32Array, shape: Shape4): Promise<DecodeResult> {
  const { vae, io } = need();
  const out = await vae.run({ [io.vae.latent]: floatTensor(io.vae.latentType, latents, shape) }, [io.vae.out]);
  const t = out[io.vae.out] as ort.Tensor;
  const dims = [...t.dims];
  const [, channels, height, width] = dims;
  // The runner names a wrong shape; only a [1, 3, H, W] output is an image.
  if (dims.length !== 4 || dims[0] !== 1 || channels !== 3 || height === undefined || width === undefined) return { rgb: new Uint8Array(0), shape: dims };
  const data = t.data;
  if (!(data instanceof Float32Array) && !(data instanceof Uint16Array)) throw new HearthError('RUNNER_FAILED', `unexpected output type ${t.type}`);
  const { rgb, nonFinite } = vaeOutputToRgbChecked(data, width, height);
  return { rgb, shape: dims, ...(nonFinite !== undefined ? { nonFinite } : {}) };
}

async function vaeEncode(pixels: Float32Array, shape: Shape4): Promise<VaeEncodeResult> {
  const { vaeEnc, io } = need();
  if (!vaeEnc || !io.vaeEncoder) throw new HearthError('RUNNER_FAILED', 'the image model has no usable VAE encoder loaded');
  const enc = io.vaeEncoder;
  const out = await vaeEnc.run({ [enc.sample]: floatTensor(enc.sampleType, pixels, shape) }, [enc.out]);
  const t = out[enc.out] as ort.Tensor;
  return { latents: toFloats(t), shape: [...t.dims] };
}

async function close(): Promise<null> {
  embeddings.clear();
  const l = loaded;
  loaded = undefined;
  if (l) await Promise.all([l.te, l.unet, l.vae, ...(l.te2 ? [l.te2] : []), ...(l.vaeEnc ? [l.vaeEnc] : [])].map((s) => s.release().catch(() => undefined)));
  return null;
}

async function handle(call: WorkerCall): Promise<WorkerResults[WorkerCall['type']]> {
  switch (call.type) {
    case 'load':
      return load(call);
    case 'encode':
      return encode(call.key, call.ids, call.batch, call.xl);
    case 'unet':
      return unet(call.key, call.sample, call.shape, call.timestep, call.guidance);
    case 'decode':
      return decode(call.latents, call.shape);
    case 'vaeEncode':
      return vaeEncode(call.pixels, call.shape);
    case 'release':
      embeddings.delete(call.key);
      return null;
    case 'close':
      return close();
  }
}

function transferables(value: WorkerResults[WorkerCall['type']]): ArrayBuffer[] {
  if (value instanceof Float32Array) return [value.buffer as ArrayBuffer];
  if (value && typeof value === 'object' && 'rgb' in value) return [value.rgb.buffer as ArrayBuffer];
  if (value && typeof value === 'object' && 'latents' in value) return [value.latents.buffer as ArrayBuffer];
  return [];
}

const port = parentPort;
if (!port) throw new Error('ort-worker must run as a worker thread');

// One call at a time: onnxruntime-node's run blocks anyway, and session creation must not interleave with runs.
let queue: Promise<void> = Promise.resolve();
port.on('message', (msg: CallMessage) => {
  queue = queue.then(async () => {
    let reply: ReplyMessage;
    let transfer: ArrayBuffer[] = [];
    try {
      const value = await handle(msg.call);
      reply = { id: msg.id, ok: true, value };
      transfer = transferables(value);
    } catch (e) {
      // A foreign error (not a HearthError) comes from ONNX Runtime itself: its message says so.
      reply = { id: msg.id, ok: false, error: toErrorInfo(e, { source: 'ONNX Runtime' }) };
    }
    port.postMessage(reply, transfer);
  });
});
