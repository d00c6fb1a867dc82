// Signed, expiring tokens (HS256 JWT via jose). The user service issues them; callers verify locally.
import { errors, jwtVerify, SignJWT } from "jose";
import { Status } from "nice-grpc";
import { DomainError, Reason } from "./errors.ts";

const ISSUER = "dzug";

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
