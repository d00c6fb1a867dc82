// The files `npm run new:service` writes for a service named `n`, following the repo's conventions
// (services/relation is the model): proto with one read-only example RPC, config, migrations on both
// backends, a store, handlers, main, the chart workload and a test through etcd discovery.
export interface Names {
  /** `comment`: directories, etcd key, metrics label, chart component, table prefix. */
  n: string;
  /** `Comment`: type names. */
  P: string;
  /** `COMMENT`: constants. */
  U: string;
}

export function namesOf(n: string): Names {
  return { n, P: n[0]!.toUpperCase() + n.slice(1), U: n.toUpperCase() };
}

const proto = ({ n, P }: Names) => `syntax = "proto3";

package dzug.${n}.v1;

// ${P}Service (made by \`npm run new:service\`): replace the example RPC with the service's own.
service ${P}Service {
  // GetItem answers the item with this id; \`item\` is absent when there is none.
  rpc GetItem(GetItemRequest) returns (GetItemResponse) {
    // Read-only: the balanced client may also retry it on another instance after UNAVAILABLE.
    option idempotency_level = NO_SIDE_EFFECTS;
  }
}

message Item {
  int64 id = 1;
  string content = 2;
  // Milliseconds since the epoch.
  int64 created_at = 3;
}

message GetItemRequest {
  int64 id = 1;
}

message GetItemResponse {
  Item item = 1;
}
`;

const config = ({ n }: Names) => `import { databaseSection, serviceBaseSchema } from "../../platform/config-schema.ts";

export const ${n}ConfigSchema = serviceBaseSchema.extend({ database: databaseSection });
`;

const migrations = ({
  n,
  U,
}: Names) => `// Schema of the ${n} service (migration table \`${n}_migrations\`). Never edit an applied migration:
// add a new one with a name that sorts after the last. Tables are prefixed \`${n}_\`: services may share
// one database (\`npm run up\` uses one SQLite file).
import type { Kysely, Migration } from "kysely";
import { dialectOf } from "../../platform/storage/index.ts";
import { epochMsDefault } from "../../platform/storage/schema.ts";

export const ${U}_MIGRATION_TABLE = "${n}_migrations";

export const ${n}Migrations: Record<string, Migration> = {
  "0001_items": {
    async up(db: Kysely<any>) {
      const pg = dialectOf(db) === "postgres";
      await db.schema
        .createTable("${n}_items")
        .addColumn("id", pg ? "bigint" : "integer", (c) =>
          pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn("content", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull().defaultTo(epochMsDefault(db)))
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("${n}_items").execute();
    },
  },
};
`;

const store = ({ n, P }: Names) => `// The ${n} service's tables.
import type { Generated, Kysely } from "kysely";

export interface ItemsTable {
  id: Generated<number>;
  content: string;
  /** Milliseconds since the epoch. */
  created_at: Generated<number>;
}

export interface ${P}Tables {
  ${n}_items: ItemsTable;
}

export interface ItemRow {
  id: number;
  content: string;
  createdAt: number;
}

export class ${P}Store {
  readonly #db: Kysely<${P}Tables>;

  constructor(db: Kysely<${P}Tables>) {
    this.#db = db;
  }

  async add(content: string): Promise<ItemRow> {
    const row = await this.#db
      .insertInto("${n}_items")
      .values({ content, created_at: Date.now() })
      .returning(["id", "content", "created_at"])
      .executeTakeFirstOrThrow();
    return { id: Number(row.id), content: row.content, createdAt: Number(row.created_at) };
  }

  async get(id: number, signal?: AbortSignal): Promise<ItemRow | undefined> {
    signal?.throwIfAborted(); // the caller gave up: no query
    const row = await this.#db
      .selectFrom("${n}_items")
      .select(["id", "content", "created_at"])
      .where("id", "=", id)
      .executeTakeFirst();
    return row && { id: Number(row.id), content: row.content, createdAt: Number(row.created_at) };
  }
}
`;

const handlers = ({
  n,
  P,
}: Names) => `// ${P}Service. Throw DomainError (platform/errors.ts) for business failures; anything else becomes INTERNAL.
import type { ServiceImplementation } from "nice-grpc";
import { checkId } from "../../platform/errors.ts";
import type { ${P}ServiceDefinition } from "../../proto/gen/dzug/${n}/v1/${n}.ts";
import type { ${P}Store } from "./store.ts";

export function ${n}Service(deps: { store: ${P}Store }): ServiceImplementation<typeof ${P}ServiceDefinition> {
  const { store } = deps;
  return {
    async getItem({ id }, ctx) {
      checkId(id, "id");
      const row = await store.get(id, ctx.signal);
      return { item: row && { id: row.id, content: row.content, createdAt: row.createdAt } };
    },
  };
}
`;

const main = ({ n, P, U }: Names) => `// The ${n} service process.
import { runServiceMain } from "../../platform/service.ts";
import { ${P}ServiceDefinition } from "../../proto/gen/dzug/${n}/v1/${n}.ts";
import { ${n}ConfigSchema } from "./config.ts";
import { ${n}Service } from "./handlers.ts";
import { ${U}_MIGRATION_TABLE, ${n}Migrations } from "./migrations.ts";
import { ${P}Store, type ${P}Tables } from "./store.ts";

await runServiceMain({
  name: "${n}",
  configSchema: ${n}ConfigSchema,
  async setup({ openDatabase }) {
    // The platform opens it from config.database (every timeout), follows it for readiness, closes it.
    const database = await openDatabase<${P}Tables>({ migrations: ${n}Migrations, migrationTable: ${U}_MIGRATION_TABLE });
    return {
      services: [{ definition: ${P}ServiceDefinition, implementation: ${n}Service({ store: new ${P}Store(database.db) }) }],
    };
  },
});
`;

const chart = ({ n }: Names) => `{{ include "dzug.workload" (dict "ctx" $ "component" "${n}") }}
`;

const test = ({
  n,
  P,
  U,
}: Names) => `// The ${n} service as real processes (2 instances, real etcd, SQLite), called by name through etcd
// discovery as the gateway calls it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Client, ClientError, Status } from "nice-grpc";
import { pino } from "pino";
import { openDatabase } from "../../platform/storage/index.ts";
import { ${P}ServiceDefinition } from "../../proto/gen/dzug/${n}/v1/${n}.ts";
import { ${U}_MIGRATION_TABLE, ${n}Migrations } from "../../services/${n}/migrations.ts";
import { ${P}Store, type ${P}Tables } from "../../services/${n}/store.ts";
import { type DiscoveryCaller, discoveryCaller } from "../harness/discovery.ts";
import { DzugSystem } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

let sys: DzugSystem;
let caller: DiscoveryCaller;
let client: Client<typeof ${P}ServiceDefinition>;

before(async () => {
  sys = await DzugSystem.start({ replicas: { ${n}: 2 }, gateway: false });
  caller = discoveryCaller(sys.etcd.endpoint);
  client = caller.discovery.client("${n}", ${P}ServiceDefinition);
  const registered = () => caller.discovery.watch("${n}").instances().length;
  await waitFor(() => registered() === 2, { message: "2 ${n} instances in etcd" });
});

after(async () => {
  await caller?.close();
  await sys?.destroy();
});

test("GetItem answers a stored item through discovery (both instances), and no item for an unknown id", async () => {
  const database = await openDatabase<${P}Tables>({
    url: sys.databaseUrl,
    logger: pino({ level: "warn" }),
    migrations: ${n}Migrations,
    migrationTable: ${U}_MIGRATION_TABLE,
  });
  try {
    const stored = await new ${P}Store(database.db).add("hello");
    for (let i = 0; i < 4; i++) {
      const { item } = await client.getItem({ id: stored.id });
      assert.deepEqual(item, { id: stored.id, content: "hello", createdAt: stored.createdAt });
    }
    assert.equal((await client.getItem({ id: stored.id + 1000 })).item, undefined);
  } finally {
    await database.close();
  }
});

test("GetItem refuses an invalid id with INVALID_ARGUMENT", async () => {
  await assert.rejects(client.getItem({ id: 0 }), (err: unknown) => {
    assert.ok(err instanceof ClientError);
    assert.equal(err.code, Status.INVALID_ARGUMENT);
    return true;
  });
});
`;

/** Every new file, by path relative to the repository root. */
export function serviceFiles(names: Names): Record<string, string> {
  const { n } = names;
  return {
    [`proto/dzug/${n}/v1/${n}.proto`]: proto(names),
    [`services/${n}/config.ts`]: config(names),
    [`services/${n}/migrations.ts`]: migrations(names),
    [`services/${n}/store.ts`]: store(names),
    [`services/${n}/handlers.ts`]: handlers(names),
    [`services/${n}/main.ts`]: main(names),
    [`charts/dzug/templates/${n}.yaml`]: chart(names),
    [`tests/services/${n}.test.ts`]: test(names),
  };
}
