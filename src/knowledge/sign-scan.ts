/**
 * The vectors' sign bits (as sqlite-vec's `vec_quantize_binary` writes them into the vec0 table) held
 * in memory per workspace, scanned by Hamming distance to find a question's candidates.
 *
 * Why not vec0's own KNN over the same bits: measured at 100,000 vectors (bench/knowledge.ts), its
 * cost grows with k (27 ms at k = 20, 137 ms at k = 200 on the loaded bench machine), while this scan
 * (12 popcounts a vector of 384 dimensions, then a counting selection) took 12 ms whatever k. It holds
 * 48 bytes a message (4.8 MB at 100,000). The vec0 table stays the durable copy: this is rebuilt from
 * it at start, and kept in step by {@link VectorIndex.save}. A message deleted or edited keeps its slot
 * until the next start (its candidates are dropped when they are ranked: the float vector is gone).
 */

interface ScopeBits {
  ids: number[];
  words: Uint32Array;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export class SignScan {
  /** 32-bit words a vector takes (its bytes padded with zeros, which change no distance). */
  readonly #width: number;
  readonly #scopes = new Map<string, ScopeBits>();
  readonly #slots = new Map<number, { scope: string; slot: number }>();

  constructor(bytesPerVector: number) {
    this.#width = Math.max(1, Math.ceil(bytesPerVector / 4));
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Adds or replaces a message's bits. */
  set(id: number, scope: string, bits: Uint8Array): void {
    const at = this.#slots.get(id);
    let s = this.#scopes.get(scope);
    if (!s) this.#scopes.set(scope, (s = { ids: [], words: new Uint32Array(this.#width * 64) }));
    let slot: number;
    if (at && at.scope === scope) slot = at.slot;
    else {
      if (at) this.#scopes.get(at.scope)!.ids[at.slot] = -1;
      slot = s.ids.length;
      s.ids.push(id);
      if (s.words.length < s.ids.length * this.#width) {
        const grown = new Uint32Array(s.words.length * 2);
        grown.set(s.words);
        s.words = grown;
      }
      this.#slots.set(id, { scope, slot });
    }
    s.words.set(this.#pack(bits), slot * this.#width);
  }

  /** The ids of the `k` nearest in the scope by Hamming distance (ties broken by slot), nearest first. */
  nearest(scope: string, query: Uint8Array, k: number): number[] {
    const s = this.#scopes.get(scope);
    if (!s || k <= 0) return [];
    const q = this.#pack(query);
    const w = this.#width;
    const n = s.ids.length;
    const dist = new Uint16Array(n);
    const histogram = new Uint32Array(w * 32 + 1);
    for (let r = 0; r < n; r++) {
      if (s.ids[r]! < 0) {
        dist[r] = w * 32;
        continue;
      }
      let d = 0;
      const o = r * w;
      for (let i = 0; i < w; i++) d += popcount(s.words[o + i]! ^ q[i]!);
      dist[r] = d;
      histogram[d]!++;
    }
    // The distance below which fewer than k lie: everything under it, then ties in slot order.
    let cut = 0;
    for (let seen = 0; cut < histogram.length && seen + histogram[cut]! < k; cut++) seen += histogram[cut]!;
    const byDistance: number[][] = Array.from({ length: Math.min(cut, histogram.length - 1) + 1 }, () => []);
    for (let r = 0; r < n; r++) if (s.ids[r]! >= 0 && dist[r]! <= cut) byDistance[dist[r]!]!.push(s.ids[r]!);
    return byDistance.flat().slice(0, k);
  }

  #pack(bits: Uint8Array): Uint32Array {
    const padded = new Uint8Array(this.#width * 4);
    padded.set(bits.subarray(0, padded.length));
    return new Uint32Array(padded.buffer);
  }
}
