// The relation service process: the follow graph; calls the user service (profiles) and the message
// service (friend lists' newest messages) through etcd discovery.
import { runServiceMain } from "../../platform/service.ts";
import { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import { RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { relationConfigSchema } from "./config.ts";
import { relationService } from "./handlers.ts";
import { RelationListPages } from "./list-pages.ts";
import { RELATION_MIGRATION_TABLE, relationMigrations } from "./migrations.ts";
import { RelationStore, type RelationTables } from "./store.ts";

await runServiceMain({
  name: "relation",
  configSchema: relationConfigSchema,
  async setup({ config, discovery, openDatabase }) {
    const database = await openDatabase<RelationTables>({
      migrations: relationMigrations,
      migrationTable: RELATION_MIGRATION_TABLE,
    });
    const users = discovery.client("user", UserServiceDefinition);
    return {
      services: [
        {
          definition: RelationServiceDefinition,
          implementation: relationService({
            store: new RelationStore(database.db),
            users,
            messages: discovery.client("message", MessageServiceDefinition),
            pages: new RelationListPages(database.db),
            maxListLength: config.lists.maxLength,
            pageSize: config.lists.pageSize,
            maxConcurrentStreams: config.lists.maxConcurrentStreams,
          }),
        },
      ],
    };
  },
});
