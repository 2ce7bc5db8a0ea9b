/**
 * `hearth service`: a systemd unit for this install, printed for the user to save (nothing is
 * written or enabled: that needs root, and the user should read what they install).
 */
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ServiceUnitOptions {
  /** The node binary (absolute). */
  node: string;
  /** hearth's bin/hearth.js (absolute). */
  bin: string;
  /** The config file (absolute), or null for hearth's defaults. */
  config: string | null;
  /** Where relative paths in the config resolve (dataDir's default ./data among them). */
  workingDirectory: string;
  /** The file holding the tokens (DISCORD_TOKEN=…, one per line). */
  environmentFile: string;
  /** The account hearth runs as (not root). */
  user: string;
}

/** Quotes a path for a systemd command line when it holds spaces or quotes. */
function arg(s: string): string {
  return /[\s"'\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s;
}

/** The unit file's text. */
export function serviceUnit(o: ServiceUnitOptions): string {
  const exec = [o.node, o.bin, 'start', ...(o.config ? ['--config', o.config] : [])].map(arg).join(' ');
  return `# hearth as a systemd service. Save as /etc/systemd/system/hearth.service, then:
#   sudo systemctl daemon-reload && sudo systemctl enable --now hearth
#   journalctl -u hearth -f        # its log
# Tokens go in ${o.environmentFile} (chmod 600), one NAME=value a line, e.g.
#   DISCORD_TOKEN=…  DISCORD_APPLICATION_ID=…  SLACK_BOT_TOKEN=…  SLACK_APP_TOKEN=…  HEARTH_WEB_TOKEN=…
# and the config refers to them as \${DISCORD_TOKEN}.
[Unit]
Description=hearth: one GPU for Discord, Slack and the web console, shared fairly
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${o.user}
WorkingDirectory=${o.workingDirectory}
EnvironmentFile=-${o.environmentFile}
Environment=NODE_ENV=production
ExecStart=${exec}
Restart=on-failure
RestartSec=5
# On SIGTERM hearth stops the step under way and keeps every queued job for the next start.
TimeoutStopSec=60
# Hardening. The GPU's device files (/dev/nvidia*, /dev/dri) must stay visible: no PrivateDevices.
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full
ProtectControlGroups=true
ProtectKernelTunables=true
RestrictSUIDSGID=true
UMask=0077

[Install]
WantedBy=multi-user.target
`;
}

/** hearth's own folder: the nearest folder above this file whose package.json is hearth's. */
export function packageRoot(from = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'hearth') return dir;
      } catch {
        // not a readable package.json: keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`hearth's package.json was not found above ${from}`);
    dir = up;
  }
}

/**
 * Prints the unit for this install: this node, this hearth, the config named by `--config`,
 * $HEARTH_CONFIG or config/hearth.yaml. Returns the exit code.
 */
export function runService(opts: { config?: string; tokensFile?: string; user?: string }, env: NodeJS.ProcessEnv = process.env): number {
  const cwd = process.cwd();
  const named = opts.config ?? (env.HEARTH_CONFIG || undefined);
  const candidate = resolve(cwd, named ?? 'config/hearth.yaml');
  let config: string | null = candidate;
  if (!existsSync(candidate)) {
    if (named) {
      process.stderr.write(`hearth: the config file ${candidate} does not exist; the unit names it anyway: create it before starting the service.\n`);
    } else {
      config = null;
      process.stderr.write('hearth: no config/hearth.yaml here, so the unit runs hearth with its defaults (web console only). Pass --config FILE to name one.\n');
    }
  }
  const user = opts.user ?? userInfo().username;
  if (user === 'root' && !opts.user) process.stderr.write('hearth: you are root; the unit runs hearth as root. Pass --user NAME to run it as an ordinary account.\n');
  const environmentFile = resolve(cwd, opts.tokensFile ?? join(dirname(config ?? join(cwd, 'config', 'hearth.yaml')), 'hearth.env'));
  process.stdout.write(
    serviceUnit({ node: process.execPath, bin: join(packageRoot(), 'bin', 'hearth.js'), config, workingDirectory: cwd, environmentFile, user }),
  );
  return 0;
}
