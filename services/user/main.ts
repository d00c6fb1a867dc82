// The user service process: accounts, credentials, tokens.
import { TokenService } from "../../platform/auth.ts";
import { Bulkhead } from "../../platform/bulkhead.ts";
import { runServiceMain } from "../../platform/service.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { userConfigSchema } from "./config.ts";
import { userService } from "./handlers.ts";
import { USER_MIGRATION_TABLE, userMigrations } from "./migrations.ts";
import { UserStore, type UserTables } from "./store.ts";

await runServiceMain({
  name: "user",
  configSchema: userConfigSchema,
  async setup({ config, openDatabase }) {
    const database = await openDatabase<UserTables>({
      migrations: userMigrations,
      migrationTable: USER_MIGRATION_TABLE,
    });
    const tokens = new TokenService(config.auth.jwtSecret, config.auth.tokenTtlSeconds);
    return {
      services: [
        {
          definition: UserServiceDefinition,
          implementation: userService({
            store: new UserStore(database.db),
            tokens,
            hashing: new Bulkhead({
              maxConcurrent: config.passwords.maxConcurrent,
              maxQueued: config.passwords.maxQueued,
              maxQueuedPerKey: config.passwords.maxQueuedPerClient,
            }),
          }),
        },
      ],
    };
  },
});
