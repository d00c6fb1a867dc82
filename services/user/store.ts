// The user service's table: accounts and profiles. Password hashing happens in the service (argon2id);
// this stores the resulting string as it is.
import type { Generated, Kysely } from "kysely";
import { usernameKey } from "../../platform/credentials.ts";
import { type CompiledRunner, compileOnce, IN_LIST_CHUNK, isUniqueViolation } from "../../platform/storage/index.ts";

export interface UsersTable {
  id: Generated<number>;
  username: string;
  /** usernameKey(username) (RFC 8265 UsernameCaseMapped), unique; NULL for an old row whose key an older one has. */
  username_key: string | null;
  password_hash: string;
  avatar: Generated<string>;
  background_image: Generated<string>;
  signature: Generated<string>;
  total_favorited: Generated<number>;
  work_count: Generated<number>;
  favorite_count: Generated<number>;
  /** Milliseconds since the epoch. */
  created_at: Generated<number>;
}

export interface UserTables {
  users: UsersTable;
}

export interface UserRow {
  id: number;
  username: string;
  passwordHash: string;
  avatar: string;
  backgroundImage: string;
  signature: string;
  totalFavorited: number;
  workCount: number;
  favoriteCount: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export class UsernameTakenError extends Error {
  readonly username: string;
  constructor(username: string) {
    super("username is taken");
    this.name = "UsernameTakenError";
    this.username = username;
  }
}

const COLUMNS = [
  "id",
  "username",
  "password_hash",
  "avatar",
  "background_image",
  "signature",
  "total_favorited",
  "work_count",
  "favorite_count",
  "created_at",
] as const;

type Selected = { [K in (typeof COLUMNS)[number]]: UsersTable[K] extends Generated<infer T> ? T : UsersTable[K] };

function toRow(r: Selected): UserRow {
  return {
    id: Number(r.id),
    username: r.username,
    passwordHash: r.password_hash,
    avatar: r.avatar,
    backgroundImage: r.background_image,
    signature: r.signature,
    totalFavorited: Number(r.total_favorited),
    workCount: Number(r.work_count),
    favoriteCount: Number(r.favorite_count),
    createdAt: Number(r.created_at),
  };
}

export class UserStore {
  readonly #db: Kysely<UserTables>;
  /** GetUser's query, compiled once (platform/storage/compiled.ts). */
  readonly #byId: CompiledRunner<Selected>;

  constructor(db: Kysely<UserTables>) {
    this.#db = db;
    this.#byId = compileOnce(db, (q) => q.selectFrom("users").select(COLUMNS).where("id", "=", 0));
  }

  /**
   * Inserts a user and returns its id; throws UsernameTakenError (nothing changed) when the name or
   * another spelling of it (same usernameKey: case, width, NFC) exists.
   * Nothing is written once `signal` aborted (the caller gave up: it must not find an account made).
   */
  async create(username: string, passwordHash: string, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    try {
      const row = await this.#db
        .insertInto("users")
        .values({
          username,
          username_key: usernameKey(username),
          password_hash: passwordHash,
          created_at: Date.now(),
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      return Number(row.id);
    } catch (err) {
      if (isUniqueViolation(err)) throw new UsernameTakenError(username);
      throw err;
    }
  }

  /** The account whose usernameKey is `name`'s (any case, width or normalization of it), or undefined. */
  async findByName(name: string): Promise<UserRow | undefined> {
    const r = await this.#db
      .selectFrom("users")
      .select(COLUMNS)
      .where("username_key", "=", usernameKey(name))
      .executeTakeFirst();
    return r ? toRow(r) : undefined;
  }

  /** Exact (case-sensitive) match of the stored name, or undefined (old rows without a key of their own). */
  async findByUsername(username: string): Promise<UserRow | undefined> {
    const r = await this.#db.selectFrom("users").select(COLUMNS).where("username", "=", username).executeTakeFirst();
    return r ? toRow(r) : undefined;
  }

  async getById(id: number): Promise<UserRow | undefined> {
    const [r] = await this.#byId(id);
    return r ? toRow(r) : undefined;
  }

  /** The users among `ids` that exist, in the order asked (a repeated id appears each time it is asked). */
  async getByIds(ids: readonly number[], signal?: AbortSignal): Promise<UserRow[]> {
    const unique = [...new Set(ids)];
    const found = new Map<number, UserRow>();
    for (let i = 0; i < unique.length; i += IN_LIST_CHUNK) {
      signal?.throwIfAborted(); // no further chunk for a caller that gave up
      const chunk = unique.slice(i, i + IN_LIST_CHUNK);
      const rows = await this.#db.selectFrom("users").select(COLUMNS).where("id", "in", chunk).execute();
      for (const r of rows) found.set(Number(r.id), toRow(r));
    }
    const out: UserRow[] = [];
    for (const id of ids) {
      const row = found.get(id);
      if (row) out.push(row);
    }
    return out;
  }
}
