// Username and password rules (platform/credentials.ts): RFC 8265 UsernameCasePreserved as far as
// spoofing goes, and one length rule in code points. Table-driven: each bad input with its reason.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  codePoints,
  loginProblem,
  normalizeUsername,
  passwordProblem,
  usernameKey,
  usernameProblem,
} from "../../platform/credentials.ts";

test("usernames that display like another or hide characters are refused, with the reason", () => {
  const refused: Array<[string, string, RegExp]> = [
    ["zero-width space", "alice\u200b", /invisible or formatting/],
    ["zero-width joiner", "al\u200dice", /invisible or formatting/],
    ["soft hyphen", "ali\u00adce", /invisible or formatting/],
    ["word joiner", "alice\u2060", /invisible or formatting/],
    ["BOM", "\ufeffalice", /invisible or formatting/],
    ["hangul filler (default ignorable)", "alice\u3164", /invisible or formatting/],
    ["variation selector", "alice\ufe0f", /invisible or formatting/],
    ["right-to-left override", "\u202eecila", /bidirectional/],
    ["right-to-left isolate", "alice\u2067x", /bidirectional/],
    ["right-to-left mark", "alice\u200f", /bidirectional/],
    ["arabic letter mark", "alice\u061c", /bidirectional/],
    ["control character", "ali\u0007ce", /control/],
    ["newline", "alice\n", /control/],
    ["space", "alice smith", /spaces/],
    ["no-break space", "alice\u00a0", /spaces/],
    ["ideographic space", "alice\u3000", /spaces/],
    ["line separator", "alice\u2028", /spaces/],
    ["private use", "alice\ue000", /private-use/],
    ["unassigned", "alice\u0378", /unassigned/],
    ["lone high surrogate", "\ud800x", /unpaired surrogates/],
    ["lone low surrogate", "x\udbff", /unpaired surrogates/],
    ["empty", "", /1 to 32/],
    ["33 code points", "a".repeat(33), /1 to 32/],
    ["33 astral code points", "𝒜".repeat(33), /1 to 32/],
  ];
  for (const [what, name, why] of refused) assert.match(usernameProblem(name) ?? "accepted", why, what);
});

test("ordinary names in any script pass, case kept; one length rule in code points", () => {
  for (const name of [
    "alice",
    "Alice",
    "a.b-c_d",
    "ålice",
    "山田太郎",
    "Юлия",
    "محمد",
    "𝒜lice",
    "a".repeat(32),
    "𝒜".repeat(32),
  ])
    assert.equal(usernameProblem(name), undefined, name);
  assert.equal(codePoints("𝒜".repeat(32)), 32);
  assert.notEqual(normalizeUsername("Alice"), normalizeUsername("alice"), "the shown name keeps its case");
});

test("usernameKey (RFC 8265 UsernameCaseMapped): width, case and NFC variants are one key", () => {
  const key = usernameKey("émile");
  for (const spelling of ["e\u0301mile", "Émile", "E\u0301MILE", "ｅ\u0301ｍｉｌｅ", "ÉＭＩＬＥ"])
    assert.equal(usernameKey(spelling), key, JSON.stringify(spelling));
  assert.equal(usernameKey("ＡＬＩＣＥ"), "alice");
  assert.notEqual(usernameKey("alice"), usernameKey("alicé"));
  assert.equal(usernameKey("İstanbul"), usernameKey("i\u0307stanbul"), "locale-independent toLowerCase");
});

test("NFC and width mapping make one name of its spellings", () => {
  assert.equal(normalizeUsername("e\u0301mile"), "\u00e9mile");
  assert.equal(normalizeUsername("\u00e9mile"), "\u00e9mile");
  assert.equal(normalizeUsername("ａｌｉｃｅ"), "alice", "fullwidth letters are the ordinary ones");
  // 32 decomposed characters are 64 code points given, 32 once normalized: the normalized form counts.
  assert.equal(usernameProblem("e\u0301".repeat(32)), undefined);
});

test("passwords: 6 to 32 code points, well-formed; login fields only bounded", () => {
  assert.match(passwordProblem("12345") ?? "", /6 to 32/);
  assert.match(passwordProblem("x".repeat(33)) ?? "", /6 to 32/);
  assert.match(passwordProblem("secret\ud800") ?? "", /unpaired/);
  assert.equal(passwordProblem("sécret 𝒜 pass"), undefined);
  assert.equal(loginProblem("username", "old name with spaces"), undefined, "old accounts can still log in");
  assert.match(loginProblem("username", "x".repeat(33)) ?? "", /at most 32/);
  assert.match(loginProblem("password", "\udc00secret") ?? "", /unpaired/);
});
