// The message service process: chat between friends; asks the relation and user services through etcd discovery.
import { runServiceMain } from "../../platform/service.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { messageConfigSchema } from "./config.ts";
import { messageService } from "./handlers.ts";
import { MESSAGE_MIGRATION_TABLE, messageMigrations } from "./migrations.ts";
import { MessageStore, type MessageTables } from "./store.ts";

await runServiceMain({
  name: "message",
  configSchema: messageConfigSchema,
  async setup({ discovery, openDatabase }) {
    const database = await openDatabase<MessageTables>({
      migrations: messageMigrations,
      migrationTable: MESSAGE_MIGRATION_TABLE,
    });
    const implementation = messageService({
      store: new MessageStore(database.db),
      relations: discovery.client("relation", RelationServiceDefinition),
      users: discovery.client("user", UserServiceDefinition),
    });
    return {
      services: [{ definition: MessageServiceDefinition, implementation }],
    };
  },
});
