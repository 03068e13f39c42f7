const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a over the UTF-16 code units of `text` (for ASCII text, such
 * as IP addresses and ids, the same as over its bytes). Pass the result of
 * an earlier call as `state` to continue hashing.
 *
 * @public
 */
export function fnv1a32(
  text: string,
  state: number = FNV_OFFSET_BASIS,
): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * Continues an FNV-1a state with the four bytes of a 32-bit integer, so a
 * virtual node `k` of an instance hashes without building a string.
 *
 * @public
 */
export function fnv1a32Int(state: number, value: number): number {
  let h = state;
  h = Math.imul(h ^ (value & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((value >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((value >>> 16) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (value >>> 24), FNV_PRIME);
  return h >>> 0;
}

/**
 * MurmurHash3's finalizer. FNV-1a alone barely changes the high bits when
 * only the last character differs (10.0.0.1 vs 10.0.0.2), and a hash ring
 * orders by the high bits, so every ring position goes through this.
 *
 * @public
 */
export function fmix32(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A well mixed, fast, non-cryptographic 32-bit hash of a string: FNV-1a
 * followed by {@link fmix32}.
 *
 * @public
 */
export function hash32(text: string): number {
  return fmix32(fnv1a32(text));
}
