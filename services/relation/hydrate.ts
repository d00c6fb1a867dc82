// What the unpaged and the streamed lists share: the checks of a list request, the profiles' owner
// check, a page's stats, and the friend entries (newest message and its direction).
import { type Client, ClientError, Status } from "nice-grpc";
import { DomainError, invalidArgument as invalid, Reason } from "../../platform/errors.ts";
import type { Message, MessageServiceDefinition } from "../../proto/gen/dzug/message/v1/message.ts";
import {
  type Friend,
  MessageDirection,
  type RelatedUser,
  type RelationStats,
} from "../../proto/gen/dzug/relation/v1/relation.ts";
import type { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";

export type UserClient = Client<typeof UserServiceDefinition>;
export type MessageClient = Client<typeof MessageServiceDefinition>;

/** viewer_id 0 means "no viewer": is_follow is then false everywhere. */
export function checkViewer(id: number): void {
  if (!Number.isSafeInteger(id) || id < 0) throw invalid("viewer_id must be a non-negative integer");
}

export const userNotFound = () => new DomainError(Status.NOT_FOUND, Reason.USER_NOT_FOUND, "user not found");

/** NOT_FOUND (USER_NOT_FOUND) unless the user service knows `id`. */
export async function assertUserExists(users: UserClient, id: number, signal: AbortSignal): Promise<void> {
  try {
    await users.getUser({ id }, { signal });
  } catch (err) {
    if (err instanceof ClientError && err.code === Status.NOT_FOUND) throw userNotFound();
    throw err;
  }
}

export function toStats(
  userId: number,
  s: { followCount: number; followerCount: number; isFollow: boolean } | undefined,
): RelationStats {
  return {
    userId,
    followCount: s?.followCount ?? 0,
    followerCount: s?.followerCount ?? 0,
    isFollow: s?.isFollow ?? false,
  };
}

/**
 * Friend entries of `related` with the newest message of each conversation with `viewerId` (the
 * conversations are the viewer's: nobody reads the chats of the user whose list they view).
 */
export function toFriendEntries(related: RelatedUser[], latest: readonly Message[], viewerId: number): Friend[] {
  const byPeer = new Map(latest.map((m) => [m.fromUserId === viewerId ? m.toUserId : m.fromUserId, m]));
  return related.map((user) => {
    const m = byPeer.get(user.profile?.id ?? 0);
    const direction = !m
      ? MessageDirection.MESSAGE_DIRECTION_UNSPECIFIED
      : m.fromUserId === viewerId
        ? MessageDirection.MESSAGE_DIRECTION_SENT
        : MessageDirection.MESSAGE_DIRECTION_RECEIVED;
    return { user, message: m?.content ?? "", direction };
  });
}

/** The newest message of each of `peerIds`' conversations with `viewerId` (none without a viewer). */
export async function latestMessages(
  messages: MessageClient,
  viewerId: number,
  peerIds: number[],
  signal: AbortSignal,
): Promise<Message[]> {
  if (viewerId <= 0 || peerIds.length === 0) return [];
  return (await messages.getLatestMessages({ userId: viewerId, peerIds }, { signal })).messages;
}
