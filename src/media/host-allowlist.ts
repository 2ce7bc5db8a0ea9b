/**
 * Host names that attachments may be downloaded from. An entry is a host name without a port (any
 * port of that host matches); `*.example.com` matches every subdomain of example.com but not
 * example.com itself. Matching is exact otherwise: `cdn.discordapp.com` does not allow
 * `cdn.discordapp.com.evil.net`.
 */

/** Lower-cases, drops a trailing dot and IPv6 brackets, so `[::1]` and `::1` compare equal. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

export function isHostAllowed(hostname: string, allowedHosts: readonly string[]): boolean {
  const host = normalizeHost(hostname);
  if (host === '') return false;
  for (const entry of allowedHosts) {
    const allowed = normalizeHost(entry);
    if (allowed.startsWith('*.')) {
      const suffix = allowed.slice(1);
      if (host.endsWith(suffix) && host.length > suffix.length) return true;
    } else if (allowed === host) {
      return true;
    }
  }
  return false;
}

/** Loopback names and addresses: plain http to them never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = normalizeHost(hostname);
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
