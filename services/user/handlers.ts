// UserService: accounts, credentials and token issue.
import { type CallContext, type ServiceImplementation, Status } from "nice-grpc";
import type { TokenService } from "../../platform/auth.ts";
import { type Bulkhead, BulkheadFullError } from "../../platform/bulkhead.ts";
import { loginProblem, normalizeUsername, passwordProblem, usernameProblem } from "../../platform/credentials.ts";
import { checkId, DomainError, invalidArgument as invalid, Reason } from "../../platform/errors.ts";
import { CLIENT_KEY_HEADER, DEVICE_PRIORITY_HEADER } from "../../platform/request-context.ts";
import type { UserProfile, UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { decoyHash, hashPassword, verifyPassword } from "./password.ts";
import { UsernameTakenError, type UserRow, type UserStore } from "./store.ts";

/** Upper bound of ids in one GetUsers call. */
export const GET_USERS_MAX = 10_000;

function checkCredentials(username: string, password: string): void {
  const u = usernameProblem(username);
  if (u) throw invalid(`username ${u}`);
  const p = passwordProblem(password);
  if (p) throw invalid(`password ${p}`);
}

export function toProfile(row: UserRow): UserProfile {
  return {
    id: row.id,
    name: row.username,
    avatar: row.avatar,
    backgroundImage: row.backgroundImage,
    signature: row.signature,
    totalFavorited: row.totalFavorited,
    workCount: row.workCount,
    favoriteCount: row.favoriteCount,
  };
}

export function userService(deps: {
  store: UserStore;
  tokens: TokenService;
  /** Bounds concurrent password hashes (config `passwords.*`). */
  hashing: Bulkhead;
}): ServiceImplementation<typeof UserServiceDefinition> {
  const { store, tokens, hashing } = deps;
  /**
   * `job` through the bulkhead, queued by the client the gateway names (fair turns; a device that
   * logged in before first): RESOURCE_EXHAUSTED when full; never started for a caller that gave up.
   */
  const hashed = async <T>(job: () => Promise<T>, ctx: CallContext): Promise<T> => {
    try {
      return await hashing.run(job, {
        signal: ctx.signal,
        key: ctx.metadata.get(CLIENT_KEY_HEADER) ?? "",
        priority: ctx.metadata.get(DEVICE_PRIORITY_HEADER) === "1",
      });
    } catch (err) {
      if (err instanceof BulkheadFullError)
        throw new DomainError(Status.RESOURCE_EXHAUSTED, Reason.OVERLOADED, "too many password checks in progress");
      throw err;
    }
  };
  let decoy: Promise<string> | undefined;
  const badCredentials = () =>
    new DomainError(Status.UNAUTHENTICATED, Reason.INVALID_CREDENTIALS, "wrong username or password");

  /**
   * The account named `username`: by its key (usernameKey: any case, width or normalization), else by
   * the exact name, for an old account whose key an older one took (never renamed).
   */
  async function findAccount(username: string) {
    return (await store.findByName(username)) ?? store.findByUsername(username);
  }

  return {
    async register({ username, password }, ctx) {
      checkCredentials(username, password);
      const hash = await hashed(() => hashPassword(password), ctx);
      try {
        const userId = await store.create(normalizeUsername(username), hash, ctx.signal);
        return { userId, token: await tokens.issue(userId) };
      } catch (err) {
        if (err instanceof UsernameTakenError)
          throw new DomainError(Status.ALREADY_EXISTS, Reason.USERNAME_TAKEN, "username is taken");
        throw err;
      }
    },

    async login({ username, password }, ctx) {
      if (loginProblem("username", username) || loginProblem("password", password)) throw badCredentials();
      const user = await findAccount(username);
      decoy ??= decoyHash();
      const phc = user?.passwordHash ?? (await decoy);
      const ok = await hashed(() => verifyPassword(password, phc), ctx);
      if (!user || !ok) throw badCredentials();
      return { userId: user.id, token: await tokens.issue(user.id) };
    },

    async getUser({ id }) {
      checkId(id, "id");
      const row = await store.getById(id);
      if (!row) throw new DomainError(Status.NOT_FOUND, Reason.USER_NOT_FOUND, "user not found");
      return { user: toProfile(row) };
    },

    async getUsers({ ids }, { signal }) {
      if (ids.length > GET_USERS_MAX) throw invalid(`at most ${GET_USERS_MAX} ids per call`);
      for (const id of ids) checkId(id, "ids");
      const rows = await store.getByIds(ids, signal);
      return { users: rows.map(toProfile) };
    },

    async verifyToken({ token }) {
      return { userId: await tokens.verify(token) };
    },
  };
}
