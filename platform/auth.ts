// Signed, expiring tokens (HS256 JWT via jose). The user service issues them; callers verify locally.
import { errors, jwtVerify, SignJWT } from "jose";
import { Status } from "nice-grpc";
import { DomainError, Reason } from "./errors.ts";

const ISSUER = "dzug";
/** Tokens are for the dzug API only; a JWT signed with the same key for anything else is refused. */
const AUDIENCE = "dzug-api";

/** The longest token lifetime the config accepts (and the rule of thumb for a bearer token). */
export const MAX_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

/** Words that mark a value copied from an example instead of generated. */
const PLACEHOLDER = /change-?me|replace-?me|placeholder|example|your-?secret/i;

/** Bits a JWT secret must carry at least by `secretBits`' estimate. */
const MIN_SECRET_BITS = 128;
/** Repeats and runs shorter than this are counted as ordinary characters. */
const MIN_RUN = 3;
/** Bits charged for a whole repeat or run (where it starts and how long it is, roughly). */
const RUN_BITS = 8;

/** The longest prefix of s[i..] that repeats text starting earlier (overlap allowed) or is a run of code points with a constant step of -2..2. */
function patternLength(cps: readonly number[], i: number): number {
  let best = 0;
  for (let j = 0; j < i; j++) {
    let k = 0;
    while (i + k < cps.length && cps[j + k] === cps[i + k]) k++;
    best = Math.max(best, k);
  }
  const step = (cps[i + 1] ?? Number.NaN) - (cps[i] ?? 0);
  if (Math.abs(step) <= 2) {
    let k = 2;
    while (i + k < cps.length && (cps[i + k] ?? 0) - (cps[i + k - 1] ?? 0) === step) k++;
    best = Math.max(best, k);
  }
  return best >= MIN_RUN ? best : 0;
}

/**
 * A rough lower estimate of a secret's entropy in bits: each character that starts no pattern costs
 * the Shannon entropy of the secret's character frequencies; a repeat of earlier text or a run with a
 * constant step (abc, 123, aaa, zyx, aceg) costs RUN_BITS whatever its length. A random base64 string
 * has almost no such patterns, so it scores about length × 5.5–6 bits; "0123456789abcdef" twice or
 * "Secret1!Secret1!…" score little.
 */
export function secretBits(secret: string): number {
  const cps = Array.from(secret, (ch) => ch.codePointAt(0) ?? 0).slice(0, 1024);
  const counts = new Map<number, number>();
  for (const cp of cps) counts.set(cp, (counts.get(cp) ?? 0) + 1);
  let perChar = 0;
  for (const c of counts.values()) perChar -= (c / cps.length) * Math.log2(c / cps.length);
  let bits = 0;
  for (let i = 0; i < cps.length && bits < 4 * MIN_SECRET_BITS; ) {
    const run = patternLength(cps, i);
    bits += run > 0 ? RUN_BITS : perChar;
    i += run > 0 ? run : 1;
  }
  return bits;
}

/**
 * Why `secret` must not sign tokens, or undefined. Anyone who knows or guesses it can forge a token
 * for any user, so: no placeholder from an example, and at least 128 bits by `secretBits` (repeated
 * or sequential patterns and few distinct characters count for little; a random base64 string of 32+
 * characters passes).
 */
export function jwtSecretProblem(secret: string): string | undefined {
  const fix = "generate one (e.g. openssl rand -base64 48)";
  if (PLACEHOLDER.test(secret)) return `is a placeholder from an example; ${fix}`;
  const bits = secretBits(secret);
  if (bits < MIN_SECRET_BITS)
    return `is too predictable (about ${Math.floor(bits)} bits by its repeats, runs and character mix; at least ${MIN_SECRET_BITS} needed); ${fix}`;
  return undefined;
}

export class TokenService {
  readonly #key: Uint8Array;
  readonly #ttlSeconds: number;

  constructor(secret: string, ttlSeconds: number) {
    this.#key = new TextEncoder().encode(secret);
    this.#ttlSeconds = ttlSeconds;
  }

  issue(userId: number): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(String(userId))
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.#ttlSeconds)
      .sign(this.#key);
  }

  /** The token's user id; DomainError UNAUTHENTICATED (TOKEN_EXPIRED / TOKEN_INVALID) otherwise. */
  async verify(token: string): Promise<number> {
    if (token === "" || token.length > 4096) throw invalid();
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ["HS256"],
        requiredClaims: ["sub", "exp"],
      });
      const id = Number(payload.sub);
      if (!Number.isSafeInteger(id) || id <= 0) throw invalid();
      return id;
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        throw new DomainError(Status.UNAUTHENTICATED, Reason.TOKEN_EXPIRED, "token expired");
      if (err instanceof DomainError) throw err;
      throw invalid();
    }
  }
}

function invalid(): DomainError {
  return new DomainError(Status.UNAUTHENTICATED, Reason.TOKEN_INVALID, "token invalid");
}
