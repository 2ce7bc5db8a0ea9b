/**
 * The `hearth` command: start, worker, doctor, models pull, service, slack-manifest. Exit codes in ./exit-codes.ts.
 */
import { Command, CommanderError } from 'commander';
import { formatConfigError, loadConfig, type LoadedConfig } from '../config/load.js';
import { EXIT } from './exit-codes.js';
import { runDoctor } from './doctor.js';
import { runModelsPull } from './models-pull.js';
import { runService } from './service.js';
import { runStart } from './start.js';
import { runWorker } from './worker.js';

async function config(path: string | undefined): Promise<LoadedConfig> {
  const loaded = await loadConfig(path ? { path } : {});
  if (!loaded.ok) {
    process.stderr.write(`${formatConfigError(loaded.error)}\n`);
    process.exit(EXIT.config);
  }
  return loaded.value;
}

const program = new Command()
  .name('hearth')
  .description('One home GPU for a Discord server and a Slack workspace: /ask, /imagine, /caption, shared fairly.')
  .showHelpAfterError('(run `hearth --help` for usage)')
  .addHelpText(
    'after',
    `
Config: --config FILE, else $HEARTH_CONFIG, else config/hearth.yaml (start from config/hearth.example.yaml).
Exit codes: 0 ok, 1 failure, 2 invalid config, 3 doctor found problems, 64 bad usage.`,
  )
  .exitOverride();

program
  .command('start')
  .description('run the bot: the platforms that have credentials, and the web console')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .action(async (opts: { config?: string }) => {
    process.exitCode = await runStart(await config(opts.config));
  });

program
  .command('worker')
  .description('run a GPU worker of a cluster: serve the models of its config to the coordinator at cluster.redisUrl')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .action(async (opts: { config?: string }) => {
    process.exitCode = await runWorker(await config(opts.config));
  });

program
  .command('doctor')
  .description('check the GPU (llama.cpp and ONNX Runtime), the configured models, and whether they fit in VRAM together')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .action(async (opts: { config?: string }) => {
    process.exitCode = await runDoctor(await config(opts.config));
  });

program
  .command('models')
  .description('manage model files')
  .command('pull')
  .description('download the models the config names (hf: URIs) into dataDir/models, resumably, with progress')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .option('--endpoint <url>', 'a Hugging Face compatible endpoint to download from (default: $HF_ENDPOINT or huggingface.co)')
  .option('--defaults', 'download the recommended models for what the config does not name (sizes first), and record them for the next start')
  .action(async (opts: { config?: string; endpoint?: string; defaults?: boolean }) => {
    process.exitCode = await runModelsPull(await config(opts.config), opts.endpoint, { defaults: opts.defaults === true });
  });

program
  .command('service')
  .description('print a systemd unit that runs this hearth as a service (restart on failure, tokens from an environment file)')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .option('--tokens-file <file>', 'the file holding the tokens (default: hearth.env beside the config)')
  .option('--user <name>', 'the account to run hearth as (default: you)')
  .action((opts: { config?: string; tokensFile?: string; user?: string }) => {
    process.exitCode = runService(opts);
  });

program
  .command('slack-manifest')
  .description('print the Slack app manifest (scopes, events, slash commands) to paste at api.slack.com/apps → Create New App → From a manifest')
  .option('-c, --config <file>', 'config file (default: $HEARTH_CONFIG or config/hearth.yaml)')
  .option('--request-url <url>', 'HTTP mode: the public URL of /slack/events')
  .action(async (opts: { config?: string; requestUrl?: string }) => {
    const { config: cfg } = await config(opts.config);
    const { slackAppManifest } = await import('../bots/slack/manifest.js');
    try {
      const manifest = slackAppManifest({ mode: cfg.slack.mode, knowledge: cfg.knowledge.slackChannels.length > 0, ...(opts.requestUrl ? { requestUrl: opts.requestUrl } : {}) });
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    } catch (e) {
      process.stderr.write(`hearth: ${e instanceof Error ? e.message : String(e)} (pass --request-url)\n`);
      process.exitCode = EXIT.usage;
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; unknown commands and options are usage errors.
    process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    process.stderr.write(`hearth: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.failure;
  }
}
