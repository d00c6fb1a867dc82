// No credential reaches a log line: pino's redaction of fields named password/token/authorization,
// token=/password= query values and Bearer credentials scrubbed from any logged string (URLs, error
// messages and stacks), and a body a parser attached to an error dropped.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger, scrubSecrets } from "../../platform/logger.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: "debug", service: "t", instance: "t", destination }) };
}

test("scrubSecrets replaces token=/password= query values and Bearer credentials, nothing else", () => {
  assert.equal(
    scrubSecrets("/douyin/user/?user_id=7&token=eyJ.a.b&x=1"),
    "/douyin/user/?user_id=7&token=[redacted]&x=1",
  );
  assert.equal(
    scrubSecrets("POST /login/?username=al&PASSWORD=hunter22 HTTP/1.1"),
    "POST /login/?username=al&PASSWORD=[redacted] HTTP/1.1",
  );
  assert.equal(scrubSecrets("authorization: Bearer abc.def"), "authorization: Bearer [redacted]");
  assert.equal(
    scrubSecrets(`Unexpected token 'x', "{"password":"hunter22" is not valid JSON`),
    `Unexpected token 'x', "{"password":"[redacted]" is not valid JSON`,
  );
  assert.equal(scrubSecrets("tokens=3&passwords=ok, token invalid"), "tokens=3&passwords=ok, token invalid");
});

test("log lines never carry a password or token, in fields, URLs, messages, stacks or parser bodies", () => {
  const { lines, logger } = capture();
  const secret = "s3cr3t-V4lue";
  logger.info({ password: secret, token: secret, user: { password: secret } }, "fields");
  logger.info({ req: { headers: { authorization: `Bearer ${secret}` }, query: { token: secret } } }, "nested");
  logger.warn({ url: `/douyin/user/?token=${secret}`, route: "/douyin/user/" }, "url");
  const err = Object.assign(new Error(`GET /douyin/user/?token=${secret} failed`), {
    body: `{"password":"${secret}"`,
  });
  logger.error({ err }, "request failed");
  logger.debug(`login of ?username=a&password=${secret}`);
  const out = lines.join("");
  assert.equal(lines.length, 5);
  assert.doesNotMatch(out, new RegExp(secret));
  assert.match(out, /\[redacted\]/);
  assert.match(out, /"route":"\/douyin\/user\/"/, "other fields stay");
  assert.match(out, /failed/, "the error is still logged");
});
