// RFC 6238 TOTP (HMAC-SHA-1, 30 s steps), written here so the tests depend on nothing but node:crypto.
import { createHmac } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32; spaces, '=' padding and case are ignored (apps show secrets in groups). */
export function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = ALPHABET.indexOf(ch);
    if (idx < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** HOTP (RFC 4226) of a raw key at a counter. */
function hotp(key, counter, digits) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const bin = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The code for a raw key at a Unix time in seconds. */
export function totpRaw(key, unixSeconds, digits = 6, step = 30) {
  return hotp(key, Math.floor(unixSeconds / step), digits);
}

/** The 6-digit code for a base32 secret, at `unixSeconds` (default: now). */
export function totp(secretBase32, unixSeconds = Date.now() / 1000) {
  return totpRaw(base32Decode(secretBase32), unixSeconds);
}

// Self-check against RFC 6238 appendix B (SHA-1, T=59 -> 94287082) and a base32 round trip, so a broken
// helper fails loudly here instead of as a puzzling "wrong code" from the server.
{
  const rfcKey = Buffer.from('12345678901234567890', 'ascii');
  const got8 = totpRaw(rfcKey, 59, 8);
  const got6 = totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59); // base32 of the same ASCII key
  if (got8 !== '94287082' || got6 !== '287082') {
    throw new Error(`TOTP self-check failed: got ${got8} / ${got6}, want 94287082 / 287082`);
  }
}
