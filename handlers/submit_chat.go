package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/surge-platform/surge/domain/chat"
)

// ChatFastPath is what Redis knows of rooms and messages: known says Redis
// holds it; unknown means ask the event store (never "not found" from Redis
// alone).
type ChatFastPath interface {
	RoomKnown(ctx context.Context, roomID string) (bool, error)
	MessageKnown(ctx context.Context, roomID, messageID string) (bool, error)
}

// SubmitChatHandler takes a message or a reaction off the request path:
// it checks the room (and message) exist and sends the command, which is
// stored in Kafka when it answers; PostMessageHandler and
// AddReactionHandler record it at the database's pace.
type SubmitChatHandler struct {
	FastPath ChatFastPath
	Rooms    ChatRepository
	Known    *KnownRooms
	Commands CommandSender
	// Pending records each command until its event is projected (nil: no
	// record): SettleChatCommands sends again what Kafka lost.
	Pending PendingChatCommands
	Logger  *slog.Logger // may be nil
}

// SubmitMessage is a user's message to a room.
type SubmitMessage struct {
	RoomID, UserID, Text string
}

// Message sends PostMessage and returns the message id it minted.
func (h SubmitChatHandler) Message(ctx context.Context, m SubmitMessage) (string, error) {
	user, err := chat.NormalizeUserID(m.UserID)
	if err != nil {
		return "", err
	}
	text, err := chat.NormalizeText(m.Text)
	if err != nil {
		return "", err
	}
	if err := h.roomExists(ctx, m.RoomID); err != nil {
		return "", err
	}
	cmd := chat.PostMessage{RoomID: m.RoomID, MessageID: uuid.NewString(), UserID: user, Text: text}
	return cmd.MessageID, h.send(ctx, cmd.Key(), pendingChatCommand{Post: &cmd}, cmd)
}

// SubmitReaction is a user's reaction to a message.
type SubmitReaction struct {
	RoomID, MessageID, UserID, Emoji string
}

// Reaction sends AddReaction for a message that exists.
func (h SubmitChatHandler) Reaction(ctx context.Context, r SubmitReaction) error {
	user, err := chat.NormalizeUserID(r.UserID)
	if err != nil {
		return err
	}
	emoji, err := chat.NormalizeEmoji(r.Emoji)
	if err != nil {
		return err
	}
	if err := h.roomExists(ctx, r.RoomID); err != nil {
		return err
	}
	if !chat.ValidMessageID(r.MessageID) {
		return chat.ErrMessageNotFound
	}
	known, err := h.FastPath.MessageKnown(ctx, r.RoomID, r.MessageID)
	if err != nil {
		return err
	}
	if !known { // older than the timeline, or Redis lost it
		m, err := h.Rooms.LoadMessage(ctx, r.RoomID, r.MessageID)
		if err != nil {
			return err
		}
		if !m.Exists() {
			return chat.ErrMessageNotFound
		}
	}
	cmd := chat.AddReaction{RoomID: r.RoomID, MessageID: r.MessageID, UserID: user, Emoji: emoji}
	return h.send(ctx, cmd.Key(), pendingChatCommand{React: &cmd}, cmd)
}

// send records the command as pending, then sends it. A record Redis did
// not take does not stop the command: Kafka is where it is kept, the
// record only guards against Kafka losing it, and Redis is never what the
// write path waits for. A message not sent is forgotten again: the client
// was told 503 and posts it anew (under a new id), so it must not be
// posted later as well. A reaction not sent stays pending: its key is the
// same for every request of it, so the record may be a retry's that went
// through; sent again later, it is still recorded once, which is what the
// user asked for.
func (h SubmitChatHandler) send(ctx context.Context, key string, pending pendingChatCommand, cmd any) error {
	recorded := false
	if h.Pending != nil {
		body, err := json.Marshal(pending)
		if err != nil {
			return err
		}
		if err := h.Pending.Add(ctx, key, body, time.Now()); err != nil {
			h.logger().Warn("a chat command is sent without its pending record (Redis did not take it): if Kafka loses it, nothing sends it again",
				"key", key, "error", err)
		} else {
			recorded = true
		}
	}
	if err := h.Commands.Send(ctx, cmd); err != nil {
		if recorded && pending.Post != nil {
			h.Pending.Done(context.WithoutCancel(ctx), key) //nolint:errcheck // at worst it is posted later as well
		}
		return err
	}
	return nil
}

func (h SubmitChatHandler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h SubmitChatHandler) roomExists(ctx context.Context, roomID string) error {
	return roomExists(ctx, h.Known, h.FastPath, h.Rooms, roomID)
}

func roomExists(ctx context.Context, seen *KnownRooms, fast ChatFastPath, rooms ChatRepository, roomID string) error {
	if !chat.ValidRoomID(roomID) {
		return chat.ErrRoomNotFound
	}
	if seen.Has(roomID) {
		return nil
	}
	// Redis first; if it does not answer, the store does (a reconnecting
	// crowd of streams is not turned away because Redis is busy).
	if known, err := fast.RoomKnown(ctx, roomID); err == nil && known {
		seen.Add(roomID, nil)
		return nil
	}
	room, err := rooms.LoadRoom(ctx, roomID)
	if err != nil {
		return err
	}
	if !room.Exists() {
		return chat.ErrRoomNotFound
	}
	seen.Add(roomID, room)
	return nil
}

// RoomChecker says whether a room exists: Redis first, the event store when
// Redis does not hold it (chat.ErrRoomNotFound if neither does).
type RoomChecker struct {
	FastPath ChatFastPath
	Rooms    ChatRepository
	Known    *KnownRooms
}

// Exists implements api.RoomExistence.
func (c RoomChecker) Exists(ctx context.Context, roomID string) error {
	return roomExists(ctx, c.Known, c.FastPath, c.Rooms, roomID)
}
