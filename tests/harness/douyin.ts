// Field sets of the douyin HTTP contract (docs/api/douyin-http.md), shared by the gateway's unit
// tests and the end-to-end tests.

/** The eleven fields every User carries, sorted. */
export const USER_FIELDS = [
  "id",
  "name",
  "follow_count",
  "follower_count",
  "is_follow",
  "avatar",
  "background_image",
  "signature",
  "total_favorited",
  "work_count",
  "favorite_count",
].sort();

/** A FriendUser: all User fields plus the latest message and its direction, sorted. */
export const FRIEND_USER_FIELDS = [...USER_FIELDS, "message", "msgType"].sort();
