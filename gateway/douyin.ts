// The contract's response shapes (docs/api/douyin-http.md) as zod schemas — the OpenAPI document is
// generated from them and their types are what handlers return — and the mapping from the services'
// messages to them.
import type { Logger } from "pino";
import { z } from "zod";
import type { Message } from "../proto/gen/dzug/message/v1/message.ts";
import {
  type Friend,
  MessageDirection,
  type RelatedUser,
  type RelationStats,
} from "../proto/gen/dzug/relation/v1/relation.ts";
import type { UserProfile } from "../proto/gen/dzug/user/v1/user.ts";

const int64 = z.number().int();
const int32 = z.number().int().min(-2147483648).max(2147483647);

/** status_code / status_msg: on every answer, success or failure. */
export const statusFields = {
  status_code: int32.meta({ description: "0 success; any other value a failure (docs/gateway.md lists them)" }),
  status_msg: z.string().meta({ description: "human-readable outcome" }),
};

export const userSchema = z
  .strictObject({
    id: int64,
    name: z.string(),
    follow_count: int64,
    follower_count: int64,
    is_follow: z.boolean(),
    avatar: z.string(),
    background_image: z.string(),
    signature: z.string(),
    total_favorited: int64,
    work_count: int64,
    favorite_count: int64,
  })
  .meta({ id: "User" });

export const friendUserSchema = userSchema
  .extend({
    message: z.string().meta({ description: 'the newest chat message with this friend, "" when none' }),
    msgType: int64.meta({ description: "0 the caller received it, 1 the caller sent it" }),
  })
  .meta({ id: "FriendUser" });

export const messageSchema = z
  .strictObject({
    id: int64,
    to_user_id: int64,
    from_user_id: int64,
    content: z.string(),
    create_time: int64.meta({ description: "when it was sent, ms since the epoch; unique within a conversation" }),
  })
  .meta({ id: "Message" });

export type DouyinUser = z.infer<typeof userSchema>;
export type DouyinMessage = z.infer<typeof messageSchema>;

export function toMessages(messages: readonly Message[]): DouyinMessage[] {
  return messages.map((m) => ({
    id: m.id,
    to_user_id: m.toUserId,
    from_user_id: m.fromUserId,
    content: m.content,
    create_time: m.createTime,
  }));
}
export type DouyinFriendUser = z.infer<typeof friendUserSchema>;

export function toUser(profile: UserProfile, stats: RelationStats | undefined): DouyinUser {
  return {
    id: profile.id,
    name: profile.name,
    follow_count: stats?.followCount ?? 0,
    follower_count: stats?.followerCount ?? 0,
    is_follow: stats?.isFollow ?? false,
    avatar: profile.avatar,
    background_image: profile.backgroundImage,
    signature: profile.signature,
    total_favorited: profile.totalFavorited,
    work_count: profile.workCount,
    favorite_count: profile.favoriteCount,
  };
}

export function toUsers(users: readonly RelatedUser[], logger: Logger): DouyinUser[] {
  const out: DouyinUser[] = [];
  for (const r of users) {
    if (r.profile) out.push(toUser(r.profile, r.stats));
    else logger.warn({ stats: r.stats }, "relation returned a list entry without a profile; skipped");
  }
  return out;
}

export function toFriends(friends: readonly Friend[], logger: Logger): DouyinFriendUser[] {
  const out: DouyinFriendUser[] = [];
  for (const f of friends) {
    if (!f.user?.profile) {
      logger.warn("relation returned a friend without a profile; skipped");
      continue;
    }
    out.push({
      ...toUser(f.user.profile, f.user.stats),
      message: f.message,
      msgType: f.direction === MessageDirection.MESSAGE_DIRECTION_SENT ? 1 : 0,
    });
  }
  return out;
}
