// MessageService. Throw DomainError (platform/errors.ts) for business failures; anything else becomes INTERNAL.
import type { ServiceImplementation } from "nice-grpc";
import { checkId } from "../../platform/errors.ts";
import type { MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import type { MessageStore } from "./store.ts";

export function messageService(deps: { store: MessageStore }): ServiceImplementation<typeof MessageServiceDefinition> {
  const { store } = deps;
  return {
    async getItem({ id }) {
      checkId(id, "id");
      const row = await store.get(id);
      return { item: row && { id: row.id, content: row.content, createdAt: row.createdAt } };
    },
  };
}
