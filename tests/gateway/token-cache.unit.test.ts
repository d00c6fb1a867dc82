// The gateway's cache of verified tokens: hits until exp and never after, failures never cached, bounded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SignJWT } from "jose";
import { CachingTokenVerifier } from "../../gateway/token-cache.ts";
import { TokenService } from "../../platform/auth.ts";
import { DomainError } from "../../platform/errors.ts";

const SECRET = "0123456789abcdef0123456789abcdef-cache";

class CountingVerifier {
  calls = 0;
  readonly inner = new TokenService(SECRET, 3600);
  async verify(token: string): Promise<number> {
    this.calls++;
    return this.inner.verify(token);
  }
}

async function tokenFor(id: number, expSeconds: number): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(id))
    .setIssuer("dzug")
    .setAudience("dzug-api")
    .setIssuedAt()
    .setExpirationTime(expSeconds)
    .sign(new TextEncoder().encode(SECRET));
}

test("a verified token is answered from the cache until its exp, then verified again", async () => {
  const inner = new CountingVerifier();
  let now = Date.now();
  const cache = new CachingTokenVerifier(inner, { now: () => now });
  const exp = Math.floor(now / 1000) + 60;
  const token = await tokenFor(7, exp);
  assert.equal(await cache.verify(token), 7);
  assert.equal(await cache.verify(token), 7);
  assert.equal(inner.calls, 1);
  now = exp * 1000; // jose: expired when now >= exp; the cache must not answer any more
  await cache.verify(token).catch(() => {}); // (the real clock of jose still accepts it)
  assert.equal(inner.calls, 2);
});

test("failures are never cached", async () => {
  const inner = new CountingVerifier();
  const cache = new CachingTokenVerifier(inner);
  for (let i = 0; i < 3; i++) await assert.rejects(cache.verify("forged.token.value"), DomainError);
  assert.equal(inner.calls, 3);
});

test("bounded: the oldest entry goes first", async () => {
  const inner = new CountingVerifier();
  const cache = new CachingTokenVerifier(inner, { maxEntries: 2 });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const [a, b, c] = await Promise.all([tokenFor(1, exp), tokenFor(2, exp), tokenFor(3, exp)]);
  for (const t of [a, b, c]) await cache.verify(t as string);
  assert.equal(inner.calls, 3);
  await cache.verify(c as string);
  await cache.verify(b as string);
  assert.equal(inner.calls, 3, "b and c are cached");
  await cache.verify(a as string);
  assert.equal(inner.calls, 4, "a was evicted");
});
