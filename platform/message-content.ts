// The one rule for chat message content, used by the gateway (400 before any RPC) and by the message
// service (which must not trust its callers): 1–500 code points, well-formed Unicode, line breaks
// (\n, \r) allowed, no other control character (tabs, NUL, escape sequences…).
import { codePoints } from "./credentials.ts";

export const CONTENT_MIN = 1;
export const CONTENT_MAX = 500;

const OTHER_CONTROLS = /[^\P{Cc}\n\r]/u;

/** Why `content` cannot be sent, or undefined when it can. */
export function contentProblem(content: string): string | undefined {
  if (!content.isWellFormed()) return "must be valid Unicode (no unpaired surrogates)";
  const n = codePoints(content);
  if (n < CONTENT_MIN || n > CONTENT_MAX) return `must be ${CONTENT_MIN} to ${CONTENT_MAX} characters`;
  if (OTHER_CONTROLS.test(content)) return "must not contain control characters other than line breaks";
  return undefined;
}
