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

/**
 * Why `secret` must not sign tokens, or undefined. Anyone who knows or guesses it can forge a token
 * for any user, so: no placeholder from an example, and at least 128 bits by a character-frequency
 * estimate (length × Shannon entropy of its characters; a random base64 string of 32+ characters passes).
 */
export function jwtSecretProblem(secret: string): string | undefined {
  if (PLACEHOLDER.test(secret)) return "is a placeholder from an example; generate one (e.g. openssl rand -base64 48)";
  const counts = new Map<string, number>();
  for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...secret].length;
  let bitsPerChar = 0;
  for (const c of counts.values()) bitsPerChar -= (c / n) * Math.log2(c / n);
  if (n * bitsPerChar < 128) return "is too predictable (under 128 bits); generate one (e.g. openssl rand -base64 48)";
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
