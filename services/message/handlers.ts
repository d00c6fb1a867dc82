// MessageService: chat between friends. Friendship is asked of the relation service, user existence
// of the user service, both through discovery; content follows platform/message-content.ts.
import { type Client, ClientError, type ServiceImplementation, Status } from "nice-grpc";
import { checkId, DomainError, invalidArgument, Reason } from "../../platform/errors.ts";
import { contentProblem } from "../../platform/message-content.ts";
import type { Message, MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import type { RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import type { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import type { MessageRow, MessageStore } from "./store.ts";

/** Messages one ListMessages answers: the latest ones for a first read, the next ones when polling. */
export const PAGE = 200;
/** Upper bound of peer_ids in one GetLatestMessages call: a whole friend list (relation's lists.maxLength at most). */
export const LATEST_MAX = 1_000_000;

export function messageService(deps: {
  store: MessageStore;
  relations: Client<typeof RelationServiceDefinition>;
  users: Client<typeof UserServiceDefinition>;
}): ServiceImplementation<typeof MessageServiceDefinition> {
  const { store, relations, users } = deps;

  /** USER_NOT_FOUND when `id` has no account, else NOT_FRIENDS: why a message to `id` is refused. */
  async function notFriendsOrUnknown(id: number, signal: AbortSignal): Promise<DomainError> {
    try {
      await users.getUser({ id }, { signal });
    } catch (err) {
      if (err instanceof ClientError && err.code === Status.NOT_FOUND)
        return new DomainError(Status.NOT_FOUND, Reason.USER_NOT_FOUND, "user not found");
      throw err;
    }
    return new DomainError(Status.FAILED_PRECONDITION, Reason.NOT_FRIENDS, "you can send messages only to friends");
  }

  return {
    async sendMessage({ fromUserId, toUserId, content }, ctx) {
      checkId(fromUserId, "from_user_id");
      checkId(toUserId, "to_user_id");
      const problem = contentProblem(content);
      if (problem) throw invalidArgument(`content ${problem}`);
      if (fromUserId === toUserId)
        throw new DomainError(Status.INVALID_ARGUMENT, Reason.MESSAGE_SELF, "you cannot send a message to yourself");
      const { isFriend } = await relations.isFriend({ userId: fromUserId, otherId: toUserId }, { signal: ctx.signal });
      if (!isFriend) throw await notFriendsOrUnknown(toUserId, ctx.signal);
      ctx.signal.throwIfAborted(); // the caller gave up: store nothing
      return { message: toMessage(await store.send(fromUserId, toUserId, content)) };
    },

    async listMessages({ userId, peerId, afterTime }) {
      checkId(userId, "user_id");
      checkId(peerId, "peer_id");
      if (!Number.isSafeInteger(afterTime) || afterTime < 0) throw invalidArgument("after_time must be >= 0");
      return { messages: (await store.list(userId, peerId, afterTime, PAGE)).map(toMessage) };
    },

    async getLatestMessages({ userId, peerIds }, ctx) {
      checkId(userId, "user_id");
      if (peerIds.length > LATEST_MAX) throw invalidArgument(`at most ${LATEST_MAX} peer_ids per call`);
      for (const id of peerIds) checkId(id, "peer_ids");
      return { messages: (await store.latest(userId, peerIds, ctx.signal)).map(toMessage) };
    },
  };
}

function toMessage(r: MessageRow): Message {
  return { id: r.id, fromUserId: r.fromUserId, toUserId: r.toUserId, content: r.content, createTime: r.createTime };
}
