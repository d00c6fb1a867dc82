// Hot queries built and compiled once: Kysely's builder makes an operation tree and compiles it to SQL
// on every call otherwise. The compiled query is reused with new parameter values (in the order the
// builder placed them), and the SQLite driver's statement cache (sqlite.ts) reuses the prepared
// statement for the same SQL; PostgreSQL gets the same text each time.
import type { Compilable, Kysely } from "kysely";

export type CompiledRunner<R> = (...parameters: readonly unknown[]) => Promise<R[]>;

/**
 * `build` is called once with placeholder values; the runner executes its SQL with the given values.
 * Only for queries whose SQL does not depend on the values (no `in` lists of varying length).
 */
export function compileOnce<DB, R>(db: Kysely<DB>, build: (db: Kysely<DB>) => Compilable<R>): CompiledRunner<R> {
  const compiled = build(db).compile();
  const arity = compiled.parameters.length;
  return async (...parameters) => {
    if (parameters.length !== arity)
      throw new Error(`compiled query takes ${arity} parameters, got ${parameters.length}`);
    return (await db.executeQuery<R>({ ...compiled, parameters })).rows;
  };
}
