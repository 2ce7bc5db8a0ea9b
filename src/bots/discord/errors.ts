import { DiscordAPIError, HTTPError, RESTJSONErrorCodes } from 'discord.js';

/** The interaction token no longer works (older than 15 minutes, or revoked): answer in the channel instead. */
export function isTokenGone(e: unknown): boolean {
  if (!(e instanceof DiscordAPIError)) return false;
  return e.code === RESTJSONErrorCodes.InvalidWebhookToken || e.code === RESTJSONErrorCodes.UnknownWebhook || e.status === 401;
}

/** The message (or its channel) is gone: the user deleted or dismissed it, so stop updating it. */
export function isMessageGone(e: unknown): boolean {
  if (!(e instanceof DiscordAPIError)) return false;
  return e.code === RESTJSONErrorCodes.UnknownMessage || e.code === RESTJSONErrorCodes.UnknownChannel || e.status === 404;
}

/** The interaction was already answered, or is too old to answer (3 s for the first response). */
export function isInteractionGone(e: unknown): boolean {
  if (!(e instanceof DiscordAPIError)) return false;
  return e.code === RESTJSONErrorCodes.UnknownInteraction || e.code === RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged;
}

/** Interaction and webhook tokens sit in request paths: never let one reach a log line. */
export function redactPath(text: string): string {
  return text
    .replace(/(\/webhooks\/\d+\/)[^/?\s]+/g, '$1***')
    .replace(/(\/interactions\/\d+\/)[^/?\s]+/g, '$1***');
}

/** An error for `reportError`: what hearth was doing and what Discord said, with no token in it. */
export function discordFailure(e: unknown, doing: string): Error {
  if (e instanceof DiscordAPIError) {
    const out = new Error(`${doing}: Discord answered ${e.status} (code ${String(e.code)}): ${redactPath(e.message)} [${e.method.toUpperCase()} ${redactPath(new URL(e.url).pathname)}]`);
    out.stack = `${out.message}\n${redactPath(e.stack?.split('\n').slice(1).join('\n') ?? '')}`;
    return out;
  }
  if (e instanceof HTTPError) {
    return new Error(`${doing}: HTTP ${e.status} from Discord [${e.method.toUpperCase()} ${redactPath(new URL(e.url).pathname)}]`);
  }
  if (e instanceof Error) {
    const out = new Error(`${doing}: ${redactPath(e.message)}`);
    out.stack = redactPath(e.stack ?? out.message);
    return out;
  }
  return new Error(`${doing}: ${redactPath(String(e))}`);
}
