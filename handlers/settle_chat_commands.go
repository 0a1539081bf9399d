package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/surge-platform/surge/domain/chat"
)

// PendingChatCommands is the record of chat commands sent whose event has
// not been projected yet (Redis, infra/redis.ChatPending).
type PendingChatCommands interface {
	Add(ctx context.Context, key string, command []byte, at time.Time) error
	Done(ctx context.Context, key string) error
	Stale(ctx context.Context, before time.Time, limit int) (map[string][]byte, error)
	Retried(ctx context.Context, key string, at time.Time) error
}

// pendingChatCommand is a pending command as recorded: one of the two.
type pendingChatCommand struct {
	Post  *chat.PostMessage `json:"post,omitempty"`
	React *chat.AddReaction `json:"react,omitempty"`
}

// SettleChatCommands closes the window a 202 for a message leaves open: the
// command is in Kafka, nowhere else, until PostMessageHandler records it.
// A broker that lost it (restarted empty, a topic recreated) would lose the
// message. Every Interval it looks at the commands sent longer than Grace
// ago whose event was not projected: one the event store holds is only
// forgotten (its event is on its way to the projection, or the projection
// ran before Redis came back), one it does not hold is sent again, and the
// handlers record it once (a message at version 0, one reaction per user
// and emoji). One instance at a time makes a pass (a lease).
type SettleChatCommands struct {
	Pending   PendingChatCommands
	Rooms     ChatRepository
	Commands  CommandSender
	Exclusive Exclusive
	Grace     time.Duration
	Interval  time.Duration
	Resent    func() // metrics hook; may be nil
	Clock     Clock
	Logger    *slog.Logger
}

// Once settles the commands pending longer than Grace and returns how many
// it sent again.
func (s SettleChatCommands) Once(ctx context.Context) (int, error) {
	now := s.Clock.Now()
	stale, err := s.Pending.Stale(ctx, now.Add(-s.Grace), settleBatch)
	if err != nil {
		return 0, err
	}
	sent := 0
	for key, body := range stale {
		var p pendingChatCommand
		if err := json.Unmarshal(body, &p); err != nil || (p.Post == nil) == (p.React == nil) {
			s.Logger.Error("a pending chat command cannot be read; forgotten", "key", key, "err", err)
			if err := s.Pending.Done(ctx, key); err != nil {
				return sent, err
			}
			continue
		}
		recorded, err := s.recorded(ctx, p)
		if err != nil {
			return sent, err
		}
		if recorded {
			if err := s.Pending.Done(ctx, key); err != nil {
				return sent, err
			}
			continue
		}
		var cmd any = p.Post
		if p.React != nil {
			cmd = p.React
		}
		if err := s.Commands.Send(ctx, cmd); err != nil {
			return sent, err
		}
		sent++
		if s.Resent != nil {
			s.Resent()
		}
		s.Logger.Warn("re-sent a chat command its event never came for", "key", key, "waited_over", s.Grace.String())
		if err := s.Pending.Retried(ctx, key, now); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// recorded says whether the event store holds what the command records.
func (s SettleChatCommands) recorded(ctx context.Context, p pendingChatCommand) (bool, error) {
	if p.Post != nil {
		m, err := s.Rooms.LoadMessage(ctx, p.Post.RoomID, p.Post.MessageID)
		return err == nil && m.Exists(), err
	}
	m, err := s.Rooms.LoadMessage(ctx, p.React.RoomID, p.React.MessageID)
	if err != nil {
		return false, err
	}
	// A message that does not exist cannot take a reaction: nothing to send.
	return !m.Exists() || m.HasReaction(p.React.UserID, p.React.Emoji), nil
}

// Run makes a pass every Interval until ctx is done, when no other instance
// is making one.
func (s SettleChatCommands) Run(ctx context.Context) {
	leasedEvery(ctx, s.Exclusive, "chat-command-settler", s.Interval, s.Logger, func(ctx context.Context) error {
		_, err := s.Once(ctx)
		return err
	})
}
