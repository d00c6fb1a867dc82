// The one place for the rules of usernames and passwords, used by the gateway (400 before any RPC)
// and by the user service (which must not trust its callers). Lengths count Unicode code points, as
// the contract says, never UTF-16 units.
//
// Usernames follow RFC 8265's UsernameCasePreserved profile as far as a name can be spoofed:
// fullwidth/halfwidth forms are mapped to their ordinary forms, the result is NFC-normalised (so
// "é" typed as e + combining accent and as one code point is one name), and characters that are
// invisible or change how the rest is displayed are refused: controls, format characters (zero-width
// joiners, bidi overrides and isolates, soft hyphen…), other default-ignorable code points, spaces
// and separators, private-use, unassigned and unpaired surrogate code points. Case is kept in the name
// shown (UsernameCasePreserved), but an account is identified by `usernameKey` (RFC 8265
// UsernameCaseMapped: width mapping, case mapping, NFC): the user service's unique key, the gateway's
// per-username rate limits and the device tokens all use that one function, so "Alice", "ａｌｉｃｅ"
// and "ALICE" are one account with one guess budget. (Not applied: RFC 5893's bidi rule for mixing
// right-to-left and left-to-right text.)

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

/** RFC 8265 width mapping (U+FF01..U+FFEF to their decompositions), then NFC. */
export function normalizeUsername(raw: string): string {
  return raw.replace(/[\uFF01-\uFFEF]/g, (ch) => ch.normalize("NFKC")).normalize("NFC");
}

/**
 * The one key of a username everywhere (store, rate limits, device tokens): RFC 8265
 * UsernameCaseMapped — width mapping, then Unicode toLowerCase (locale-independent), then NFC.
 */
export function usernameKey(raw: string): string {
  return normalizeUsername(raw).toLowerCase().normalize("NFC");
}

/** What a username must not contain, with the reason a client is told. */
const REFUSED: ReadonlyArray<[RegExp, string]> = [
  [/\p{Cc}/u, "must not contain control characters"],
  [/[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u, "must not contain bidirectional control characters"],
  [/[\p{Cf}\p{Default_Ignorable_Code_Point}]/u, "must not contain invisible or formatting characters"],
  [/[\p{Z}]/u, "must not contain spaces or separators"],
  [/[\p{Co}\p{Cn}]/u, "must not contain private-use or unassigned characters"],
];

/** Why `username` (as given) cannot be registered, or undefined when it can (after normalizeUsername). */
export function usernameProblem(username: string): string | undefined {
  if (!username.isWellFormed()) return "must be valid Unicode (no unpaired surrogates)";
  const name = normalizeUsername(username);
  const n = codePoints(name);
  if (n < USERNAME_MIN || n > USERNAME_MAX) return `must be ${USERNAME_MIN} to ${USERNAME_MAX} characters`;
  for (const [re, why] of REFUSED) if (re.test(name)) return why;
  return undefined;
}

/** Why `password` cannot be set, or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
  if (!password.isWellFormed()) return "must be valid Unicode (no unpaired surrogates)";
  const n = codePoints(password);
  if (n < PASSWORD_MIN || n > PASSWORD_MAX) return `must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`;
  return undefined;
}

/**
 * Why a login attempt is malformed (a 400), or undefined. Only length and encoding: an account made
 * before the character rules keeps its name and can still log in with it.
 */
export function loginProblem(field: "username" | "password", value: string): string | undefined {
  if (!value.isWellFormed()) return "must be valid Unicode (no unpaired surrogates)";
  const max = field === "username" ? USERNAME_MAX : PASSWORD_MAX;
  if (codePoints(value) > max) return `must be at most ${max} characters`;
  return undefined;
}
