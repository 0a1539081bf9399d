// Package chat is the hot-chat domain (seed 003): rooms where users post
// messages and react to them, and a room that runs hot (a storm of fetches)
// while its fetch rate stays high.
//
// A room is a stream (its creation and its heat); each message is a stream
// of its own (the message and its reactions, so a user's second identical
// reaction is seen and dropped). What clients are told is a feed per room:
// every message, reaction and change of heat takes the next position of the
// room's feed, so a client that reconnects resumes after the last position
// it saw, with no gap and no duplicate.
package chat
