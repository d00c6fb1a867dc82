// The list answers (follow, follower, friend lists) written as the relation service streams them:
// the same JSON as res.json would send — {"status_code":0,"status_msg":"success","user_list":[…]} —
// but page by page, so the gateway holds one page of a list, never the list.
//
// - Before the first byte: the first page is awaited before anything is written, so a failure known
//   at once (a bad token, USER_NOT_FOUND, relation busy or unreachable) is an ordinary error answer.
// - Backpressure: the next page is asked of the stream only once the socket took the previous one
//   (res.write returned true, or 'drain'); meanwhile the gRPC stream is not read and HTTP/2 flow
//   control stops the relation service.
// - After the first byte (status 200 and part of the list are sent), a failure can no longer become an
//   error answer: the connection is destroyed without ending the chunked body, so the client sees a
//   truncated answer (a transport error), never a well-formed partial list.
// - At most `max` lists stream at once in this process (config `lists.maxConcurrentStreams`); one more
//   is answered the busy error (503, 50302) before anything is asked of the relation service.
import type { Response } from "express";
import type { Logger } from "pino";
import { overloaded } from "./errors.ts";
import { OK } from "./respond.ts";

/** What a list route's handler returns: the answer's list field and its pages, in order. */
export class StreamedList {
  readonly field: string;
  readonly pages: AsyncIterable<readonly unknown[]>;
  constructor(field: string, pages: AsyncIterable<readonly unknown[]>) {
    this.field = field;
    this.pages = pages;
  }
}

/** Maps each page of `source` with `map` (a page of gRPC entries to a page of the contract's). */
export async function* mapPages<P, T>(
  source: AsyncIterable<P>,
  map: (page: P) => readonly T[],
): AsyncIterable<readonly T[]> {
  for await (const page of source) yield map(page);
}

/** Resolves once `res` can take more, rejects when the connection closed first. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      res.off("close", gone);
      resolve();
    };
    const gone = () => {
      res.off("drain", done);
      reject(new Error("the HTTP client disconnected"));
    };
    res.once("drain", done);
    res.once("close", gone);
  });
}

/** A page's entries as JSON, each preceded by a comma unless it is the list's first. */
function pageJson(page: readonly unknown[], first: boolean): string {
  let out = "";
  for (let i = 0; i < page.length; i++) out += (first && i === 0 ? "" : ",") + JSON.stringify(page[i]);
  return out;
}

export type ListStreamer = (res: Response, list: StreamedList) => Promise<void>;

export function listStreamer(max: number, logger: Logger): ListStreamer {
  let streaming = 0;
  return async function send(res: Response, list: StreamedList): Promise<void> {
    if (streaming >= max) throw overloaded();
    streaming++;
    const it = list.pages[Symbol.asyncIterator]();
    try {
      let r = await it.next(); // failures up to here are ordinary error answers
      res.status(200).type("application/json");
      res.write(`${JSON.stringify(OK).slice(0, -1)},${JSON.stringify(list.field)}:[`);
      let first = true;
      try {
        while (!r.done) {
          if (r.value.length > 0) {
            const ok = res.write(pageJson(r.value, first));
            first = false;
            if (!ok) await drained(res);
          }
          r = await it.next();
        }
      } catch (err) {
        if (!res.destroyed) logger.error({ err }, "list stream failed after the answer began; connection aborted");
        res.destroy();
        Promise.resolve(it.return?.()).catch(() => {}); // ends the gRPC stream if it is still open
        return;
      }
      res.end("]}");
    } finally {
      streaming--;
    }
  };
}
