/**
 * What the pipeline feeds each ONNX session, read from the sessions' metadata: input names, dtypes
 * (int32/int64 ids, float/int64 timestep, fp32/fp16 tensors) and the shapes that must agree.
 * A session that does not match gets MODEL_INVALID naming its file and what was expected.
 */
import { HearthError } from '../../engine/types.js';

export interface TensorInfo {
  name: string;
  /** ONNX Runtime's type name: float32, float16, int32, int64, float64… */
  type: string;
  /** Numbers for fixed dimensions, names for symbolic ones; empty when unknown. */
  shape: Array<number | string>;
}

export interface SessionInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

export type FloatType = 'float32' | 'float16';
export type IdsType = 'int32' | 'int64';
export type TimestepType = 'float32' | 'float16' | 'float64' | 'int32' | 'int64';

export interface PipelineIo {
  /** `hidden` is last_hidden_state, or for SDXL the penultimate layer (`hidden_states.{n−2}`). */
  textEncoder: { ids: string; idsType: IdsType; hidden: string; hiddenType: FloatType };
  /** SDXL's second text encoder: its penultimate layer and its pooled, projected `text_embeds`. */
  textEncoder2?: { ids: string; idsType: IdsType; hidden: string; hiddenType: FloatType; pooled: string; pooledType: FloatType };
  unet: {
    sample: string;
    sampleType: FloatType;
    timestep: string;
    timestepType: TimestepType;
    /** Shape of the timestep tensor: [] for a scalar, else [n] (1 unless the export fixed it). */
    timestepDims: number[];
    hidden: string;
    hiddenType: FloatType;
    out: string;
    outType: FloatType;
    /** Dimensions the export fixed (static-shape exports): batch and latent size the UNet accepts. */
    fixed: { batch?: number; height?: number; width?: number };
    /** SDXL's added conditions: the pooled text embeddings and the six size/crop ids. */
    textEmbeds?: { name: string; type: FloatType };
    timeIds?: { name: string; type: FloatType };
  };
  vae: { latent: string; latentType: FloatType; out: string; outType: FloatType };
  /** The VAE encoder (image-to-image): `sample` [b,3,H,W] in, latents (4 channels) or their distribution (8) out. */
  vaeEncoder?: { sample: string; sampleType: FloatType; out: string; outType: FloatType };
}

export interface ModelFiles {
  textEncoder: string;
  /** SDXL's text_encoder_2/model.onnx. */
  textEncoder2?: string;
  unet: string;
  vaeDecoder: string;
  /** vae_encoder/model.onnx, for image-to-image. */
  vaeEncoder?: string;
}

const FLOATS: readonly string[] = ['float32', 'float16'];
const TIMESTEP_TYPES: readonly string[] = ['float32', 'float16', 'float64', 'int32', 'int64'];

function invalid(file: string, message: string, expected: string, given: string): HearthError {
  return new HearthError('MODEL_INVALID', `${file}: ${message}`, { file, expected, given });
}

function describe(t: TensorInfo): string {
  return `${t.name} ${t.type} [${t.shape.join(', ')}]`;
}

function input(info: SessionInfo, file: string, name: string, types: readonly string[], what: string): TensorInfo {
  const t = info.inputs.find((i) => i.name === name);
  const have = info.inputs.map(describe).join('; ') || 'none';
  if (!t) throw invalid(file, `expected an input named ${name} (${what}); the model has ${have}`, `input ${name}`, have);
  if (!types.includes(t.type)) {
    throw invalid(file, `input ${name} must be ${types.join(' or ')}; it is ${t.type}`, `${name}: ${types.join(' or ')}`, describe(t));
  }
  return t;
}

function output(info: SessionInfo, file: string, preferred: string, what: string): TensorInfo {
  const t = info.outputs.find((o) => o.name === preferred) ?? info.outputs[0];
  if (!t) throw invalid(file, `expected an output ${preferred} (${what}); the model has none`, `output ${preferred}`, 'none');
  if (!FLOATS.includes(t.type)) {
    throw invalid(file, `output ${t.name} must be float32 or float16; it is ${t.type}`, `${t.name}: float32 or float16`, describe(t));
  }
  return t;
}

function onlyInputs(info: SessionInfo, file: string, names: string[]): void {
  const extra = info.inputs.filter((i) => !names.includes(i.name));
  if (extra.length > 0) {
    const list = extra.map(describe).join('; ');
    throw invalid(
      file,
      `has inputs this pipeline does not feed (${list}); it feeds ${names.join(', ')} ` +
        '(an SDXL UNet needs text_encoder_2/ beside it; inpainting and guidance-embedding UNets are not supported)',
      `inputs ${names.join(', ')}`,
      list,
    );
  }
}

function dim(t: TensorInfo, i: number): number | undefined {
  const d = t.shape[i];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

function channels(t: TensorInfo, file: string, want: number): void {
  if (t.shape.length > 0 && t.shape.length !== 4) {
    throw invalid(file, `${t.name} must have 4 dimensions [batch, channels, height, width]`, `${t.name}: rank 4`, describe(t));
  }
  const c = dim(t, 1);
  if (c !== undefined && c !== want) {
    throw invalid(file, `${t.name} has ${c} channels; this pipeline gives it ${want}`, `${t.name}: ${want} channels`, describe(t));
  }
}

function fixedDims(t: TensorInfo): PipelineIo['unet']['fixed'] {
  const out: PipelineIo['unet']['fixed'] = {};
  const [batch, height, width] = [dim(t, 0), dim(t, 2), dim(t, 3)];
  if (batch !== undefined) out.batch = batch;
  if (height !== undefined) out.height = height;
  if (width !== undefined) out.width = width;
  return out;
}

/** SDXL takes CLIP's penultimate layer: optimum exports every layer as `hidden_states.0` … `hidden_states.n`. */
function penultimate(info: SessionInfo, file: string): TensorInfo {
  const layers = info.outputs.filter((o) => /^hidden_states\.\d+$/.test(o.name)).sort((a, b) => layerOf(a) - layerOf(b));
  const t = layers[layers.length - 2];
  if (!t) {
    const have = info.outputs.map(describe).join('; ') || 'none';
    throw invalid(file, `an SDXL text encoder must output its hidden layers (hidden_states.0 … hidden_states.n); the model has ${have}`, 'outputs hidden_states.*', have);
  }
  if (!FLOATS.includes(t.type)) throw invalid(file, `output ${t.name} must be float32 or float16; it is ${t.type}`, `${t.name}: float32 or float16`, describe(t));
  return t;
}

function layerOf(t: TensorInfo): number {
  return Number(t.name.slice('hidden_states.'.length));
}

function width(t: TensorInfo): number | undefined {
  return dim(t, t.shape.length - 1);
}

/** Checks the sessions (SDXL: with the second text encoder) against what the pipeline feeds them and how they connect. */
export function resolvePipelineIo(te: SessionInfo, unet: SessionInfo, vae: SessionInfo, files: ModelFiles, te2?: SessionInfo): PipelineIo {
  const ids = input(te, files.textEncoder, 'input_ids', ['int32', 'int64'], 'the token ids');
  onlyInputs(te, files.textEncoder, ['input_ids']);
  const teOut = te2 ? penultimate(te, files.textEncoder) : output(te, files.textEncoder, 'last_hidden_state', 'the token embeddings');
  let textEncoder2: PipelineIo['textEncoder2'];
  let condWidth = width(teOut);
  if (te2) {
    const file2 = files.textEncoder2 ?? 'text_encoder_2/model.onnx';
    const ids2 = input(te2, file2, 'input_ids', ['int32', 'int64'], 'the token ids');
    onlyInputs(te2, file2, ['input_ids']);
    const hidden2 = penultimate(te2, file2);
    const pooled = te2.outputs.find((o) => o.name === 'text_embeds');
    if (!pooled || !FLOATS.includes(pooled.type)) {
      const have = te2.outputs.map(describe).join('; ') || 'none';
      throw invalid(file2, `expected a float output text_embeds (the pooled, projected prompt embedding); the model has ${have}`, 'output text_embeds', have);
    }
    const w2 = width(hidden2);
    condWidth = condWidth !== undefined && w2 !== undefined ? condWidth + w2 : undefined;
    textEncoder2 = { ids: ids2.name, idsType: ids2.type as IdsType, hidden: hidden2.name, hiddenType: hidden2.type as FloatType, pooled: pooled.name, pooledType: pooled.type as FloatType };
  }

  const sample = input(unet, files.unet, 'sample', FLOATS, 'the noisy latents');
  const timestep = input(unet, files.unet, 'timestep', TIMESTEP_TYPES, 'the diffusion timestep');
  const hidden = input(unet, files.unet, 'encoder_hidden_states', FLOATS, "the text encoder's output");
  const names = ['sample', 'timestep', 'encoder_hidden_states'];
  let added: Pick<PipelineIo['unet'], 'textEmbeds' | 'timeIds'> = {};
  if (te2) {
    const textEmbeds = input(unet, files.unet, 'text_embeds', FLOATS, "text_encoder_2's pooled embedding");
    const timeIds = input(unet, files.unet, 'time_ids', FLOATS, 'the original size, crop and target size');
    names.push('text_embeds', 'time_ids');
    added = { textEmbeds: { name: textEmbeds.name, type: textEmbeds.type as FloatType }, timeIds: { name: timeIds.name, type: timeIds.type as FloatType } };
  }
  onlyInputs(unet, files.unet, names);
  channels(sample, files.unet, 4);
  const unetOut = output(unet, files.unet, 'out_sample', 'the predicted noise');

  const teWidth = condWidth;
  const unetWidth = dim(hidden, hidden.shape.length - 1);
  if (teWidth !== undefined && unetWidth !== undefined && teWidth !== unetWidth) {
    throw invalid(
      files.unet,
      `encoder_hidden_states takes width ${unetWidth} but the text encoder (${files.textEncoder}) gives ${teWidth}: the parts come from different models`,
      `encoder_hidden_states width ${teWidth}`,
      describe(hidden),
    );
  }

  const latent = input(vae, files.vaeDecoder, 'latent_sample', FLOATS, 'the latents to decode');
  onlyInputs(vae, files.vaeDecoder, ['latent_sample']);
  channels(latent, files.vaeDecoder, 4);
  const vaeOut = output(vae, files.vaeDecoder, 'sample', 'the decoded image');

  const first = timestep.shape[0];
  return {
    textEncoder: { ids: ids.name, idsType: ids.type as IdsType, hidden: teOut.name, hiddenType: teOut.type as FloatType },
    ...(textEncoder2 ? { textEncoder2 } : {}),
    unet: {
      sample: sample.name,
      sampleType: sample.type as FloatType,
      timestep: timestep.name,
      timestepType: timestep.type as TimestepType,
      // Exports declare [1], ["steps"] or ["batch"]; a single value broadcasts in all of them.
      timestepDims: timestep.shape.length === 0 ? [] : [typeof first === 'number' && first > 0 ? first : 1],
      hidden: hidden.name,
      hiddenType: hidden.type as FloatType,
      out: unetOut.name,
      outType: unetOut.type as FloatType,
      fixed: fixedDims(sample),
      ...added,
    },
    vae: { latent: latent.name, latentType: latent.type as FloatType, out: vaeOut.name, outType: vaeOut.type as FloatType },
  };
}

/**
 * Checks a VAE encoder against what image-to-image feeds it: `sample`, a float [batch, 3, H, W]
 * image, and one float output, `latent_sample` (optimum ≤ 1.23) or `latent_parameters` (≥ 1.24),
 * else its first output (whether it holds latents or their distribution is read from its channels).
 */
export function resolveVaeEncoderIo(info: SessionInfo, file: string): NonNullable<PipelineIo['vaeEncoder']> {
  const sample = input(info, file, 'sample', FLOATS, 'the image, in [-1, 1]');
  onlyInputs(info, file, ['sample']);
  channels(sample, file, 3);
  const named = info.outputs.find((o) => o.name === 'latent_sample' || o.name === 'latent_parameters');
  const out = output(info, file, named?.name ?? 'latent_sample', 'the latents');
  return { sample: sample.name, sampleType: sample.type as FloatType, out: out.name, outType: out.type as FloatType };
}
