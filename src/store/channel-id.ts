/**
 * Person channels are stored under one canonical id for both users ("a@b", the two uids in
 * lexicographic order), as WuKongIM does; clients address them by the peer's uid. Uids may
 * therefore not contain "@" (checked where uids enter: tokens, CONNECT, HTTP bodies).
 */
export const ChannelType = { Person: 1, Group: 2 } as const;
export type ChannelTypeValue = (typeof ChannelType)[keyof typeof ChannelType];

export const PERSON_SEPARATOR = "@";

export function personChannelId(a: string, b: string): string {
  return a < b ? `${a}${PERSON_SEPARATOR}${b}` : `${b}${PERSON_SEPARATOR}${a}`;
}

/** The other user of a canonical person channel, seen from `uid`. */
export function personPeer(canonical: string, uid: string): string {
  const at = canonical.indexOf(PERSON_SEPARATOR);
  const first = canonical.slice(0, at);
  const second = canonical.slice(at + 1);
  return first === uid ? second : first;
}

/** The canonical id the store uses for a channel addressed by `uid` as (channelId, channelType). */
export function storeChannelId(uid: string, channelId: string, channelType: number): string {
  return channelType === ChannelType.Person ? personChannelId(uid, channelId) : channelId;
}

/** The channel id a given user sees for a stored channel (the peer for person channels). */
export function viewChannelId(uid: string, storedChannelId: string, channelType: number): string {
  return channelType === ChannelType.Person ? personPeer(storedChannelId, uid) : storedChannelId;
}
