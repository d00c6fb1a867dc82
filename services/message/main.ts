// The message service process.
import { runServiceMain } from "../../platform/service.ts";
import { watchDatabaseHealth } from "../../platform/storage/health.ts";
import { openDatabase } from "../../platform/storage/index.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { messageConfigSchema } from "./config.ts";
import { messageService } from "./handlers.ts";
import { MESSAGE_MIGRATION_TABLE, messageMigrations } from "./migrations.ts";
import { MessageStore, type MessageTables } from "./store.ts";

await runServiceMain({
  name: "message",
  configSchema: messageConfigSchema,
  async setup({ config, logger }) {
    const database = await openDatabase<MessageTables>({
      url: config.database.url,
      logger,
      migrations: messageMigrations,
      migrationTable: MESSAGE_MIGRATION_TABLE,
    });
    const health = watchDatabaseHealth(database);
    return {
      services: [
        {
          definition: MessageServiceDefinition,
          implementation: messageService({ store: new MessageStore(database.db) }),
        },
      ],
      notReadyReason: health.notReadyReason,
      close: async () => {
        health.stop();
        await database.close();
      },
    };
  },
});
