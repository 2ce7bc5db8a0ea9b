/**
 * Which ONNX Runtime execution providers this install can use. onnxruntime-node loads its CUDA
 * provider from a shared library next to the binding; without it, asking for `cuda` fails session
 * creation (there is no automatic CPU fallback), so we look before we ask.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface OrtProviderReport {
  /** Folder of onnxruntime_binding.node, where provider libraries must sit; null if onnxruntime-node is not installed. */
  bindingDir: string | null;
  /** libonnxruntime_providers_cuda.so (or .dll) is present (CUDA and cuDNN themselves are checked only by creating a session). */
  cudaLibrariesPresent: boolean;
  /** libonnxruntime_providers_tensorrt is present (not used by hearth; reported for the doctor). */
  tensorrtLibrariesPresent: boolean;
  /** Provider library files found in bindingDir. */
  libraries: string[];
  /** What to run to get the CUDA provider when it is missing. */
  cudaInstallHint: string;
}

export const CUDA_INSTALL_HINT =
  'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node (on a machine with internet access; needs CUDA 12 and cuDNN 9)';

function bindingDir(): string | null {
  try {
    const root = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const bin = join(root, 'bin');
    for (const napi of existsSync(bin) ? readdirSync(bin).filter((d) => d.startsWith('napi-v')).sort().reverse() : []) {
      const dir = join(bin, napi, process.platform, process.arch);
      if (existsSync(join(dir, 'onnxruntime_binding.node'))) return dir;
    }
    return null;
  } catch {
    return null;
  }
}

/** Looks for ONNX Runtime's provider libraries beside its Node binding (for `hearth doctor` and the image runner). */
export function detectOrtProviders(): OrtProviderReport {
  const dir = bindingDir();
  const libraries = dir ? readdirSync(dir).filter((f) => /onnxruntime_providers_/.test(f)) : [];
  const has = (name: string): boolean => libraries.some((f) => f.includes(`providers_${name}`));
  return {
    bindingDir: dir,
    cudaLibrariesPresent: has('cuda'),
    tensorrtLibrariesPresent: has('tensorrt'),
    libraries,
    cudaInstallHint: CUDA_INSTALL_HINT,
  };
}
