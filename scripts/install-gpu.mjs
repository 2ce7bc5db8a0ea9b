// Postinstall: give an NVIDIA machine ONNX Runtime's CUDA provider, and let every other machine
// (or one that cannot reach the provider's download host) finish `npm install` anyway.
//
// .npmrc sets `onnxruntime-node-install=skip` because onnxruntime-node's own install script
// downloads the CUDA provider libraries on linux-x64 and fails the whole install when it can't.
// Here we run that same script ourselves, only where a GPU is present, and never fail the install.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function nvidiaPresent() {
  if (process.env.HEARTH_GPU_INSTALL === '0') return false;
  if (process.env.HEARTH_GPU_INSTALL === '1') return true;
  if (existsSync('/proc/driver/nvidia/version')) return true;
  const smi = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 5000 });
  return smi.status === 0 && /GPU \d+/.test(smi.stdout ?? '');
}

function ortRoot() {
  try {
    return dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return undefined;
  }
}

function cudaProviderPresent(root) {
  const dir = join(root, 'bin', 'napi-v6', process.platform, process.arch);
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((f) => f.includes('providers_cuda'));
}

const root = ortRoot();
if (process.platform !== 'linux' || process.arch !== 'x64' || !root) process.exit(0);
if (!nvidiaPresent()) process.exit(0);
if (cudaProviderPresent(root)) process.exit(0);

console.log('hearth: NVIDIA GPU found; fetching the ONNX Runtime CUDA provider (onnxruntime-node install script)…');
const run = spawnSync(process.execPath, [join(root, 'script', 'install.js')], {
  stdio: 'inherit',
  env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12', npm_config_onnxruntime_node_install: 'cuda12' },
  timeout: 15 * 60 * 1000,
});
if (run.status !== 0) {
  console.warn(
    'hearth: could not fetch the ONNX Runtime CUDA provider; image and caption models will run on the CPU.\n' +
      '        On a machine with internet access, run: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node\n' +
      '        (it also needs CUDA 12 and cuDNN 9). `npx hearth doctor` shows which provider is active.',
  );
}
process.exit(0);
