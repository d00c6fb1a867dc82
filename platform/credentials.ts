// The one place for the rules of usernames and passwords, used by the gateway (400 before any RPC)
// and by the user service (which must not trust its callers). Lengths count Unicode code points, as
// the contract says, never UTF-16 units.

export const USERNAME_MIN = 1;
export const USERNAME_MAX = 32;
export const PASSWORD_MIN = 6;
export const PASSWORD_MAX = 32;

/** Length in code points ("𝒜" is one, not two). */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Why `username` cannot be registered, or undefined when it can. */
export function usernameProblem(username: string): string | undefined {
  const n = codePoints(username);
  if (n < USERNAME_MIN || n > USERNAME_MAX) return `must be ${USERNAME_MIN} to ${USERNAME_MAX} characters`;
  if (/\p{Cc}/u.test(username)) return "must not contain control characters";
  return undefined;
}

/** Why `password` cannot be set, or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
  const n = codePoints(password);
  if (n < PASSWORD_MIN || n > PASSWORD_MAX) return `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`;
  return undefined;
}

/**
 * A login attempt that can never match an account (no hash is computed for it): a username that could
 * not have been registered, or a password longer than any that could have been set.
 */
export function loginCannotMatch(username: string, password: string): boolean {
  return usernameProblem(username) !== undefined || codePoints(password) > PASSWORD_MAX;
}
