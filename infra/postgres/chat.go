package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/chat"
)

// ChatRepository stores rooms and messages as event streams and keeps each
// room's feed (messages, reactions, heat) in the same transactions.
type ChatRepository struct{ store *EventStore }

// NewChatRepository creates the repository on store.
func NewChatRepository(store *EventStore) *ChatRepository { return &ChatRepository{store: store} }

func roomFeed(roomID string) string { return "room/" + roomID }

// LoadRoom rebuilds a room (empty if it was never created).
func (r *ChatRepository) LoadRoom(ctx context.Context, roomID string) (*chat.Room, error) {
	history, err := r.store.Load(ctx, chat.RoomStreamID(roomID))
	if err != nil {
		return nil, err
	}
	return chat.LoadRoom(history), nil
}

// SaveRoom appends a room's new events (its heat changes go to its feed).
func (r *ChatRepository) SaveRoom(ctx context.Context, room *chat.Room) error {
	return r.store.AppendToFeed(ctx, chat.RoomStreamID(room.ID), room.Version(), roomFeed(room.ID), room.Changes(), placeChat(room.ID))
}

// LoadMessage rebuilds a message (empty if it was never posted).
func (r *ChatRepository) LoadMessage(ctx context.Context, roomID, messageID string) (*chat.Message, error) {
	history, err := r.store.Load(ctx, chat.MessageStreamID(roomID, messageID))
	if err != nil {
		return nil, err
	}
	return chat.LoadMessage(history), nil
}

// SaveMessage appends a message's new events to its room's feed.
func (r *ChatRepository) SaveMessage(ctx context.Context, m *chat.Message) error {
	return r.store.AppendToFeed(ctx, chat.MessageStreamID(m.RoomID, m.ID), m.Version(), roomFeed(m.RoomID), m.Changes(), placeChat(m.ID))
}

func placeChat(ref string) Positioner {
	return func(e domain.Event, position int64) (domain.Event, FeedRow, bool, error) {
		p, ok := e.(chat.Positioned)
		if !ok {
			return e, FeedRow{}, false, nil // RoomCreated: not told to clients
		}
		p = p.At(position)
		entry, err := chat.Entry(p)
		row := FeedRow{Kind: entry.Event, Ref: ref, Payload: entry.Data}
		switch e := p.(type) {
		case chat.MessagePosted:
			row.Ref = e.MessageID
		case chat.ReactionAdded:
			row.Ref, row.Tag = e.MessageID, e.Emoji
		}
		return p, row, true, err
	}
}

// Last is the last position of a room's feed (0 if empty).
func (r *ChatRepository) Last(ctx context.Context, roomID string) (int64, error) {
	return r.store.FeedLast(ctx, roomFeed(roomID))
}

// Feed returns up to limit events of a room's feed after position.
func (r *ChatRepository) Feed(ctx context.Context, roomID string, after int64, limit int) ([]chat.FeedEntry, error) {
	records, err := r.store.FeedAfter(ctx, roomFeed(roomID), after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]chat.FeedEntry, len(records))
	for i, rec := range records {
		out[i] = chat.FeedEntry{Position: rec.Position, Event: rec.Kind, Data: json.RawMessage(rec.Payload)}
	}
	return out, nil
}

// Messages returns up to limit messages of a room after position, with
// their reaction counts now: the fetch of what Redis no longer holds.
func (r *ChatRepository) Messages(ctx context.Context, roomID string, after int64, limit int) ([]chat.MessageView, error) {
	records, err := r.store.FeedAfter(ctx, roomFeed(roomID), after, limit, chat.EventMessage)
	if err != nil || len(records) == 0 {
		return nil, err
	}
	out := make([]chat.MessageView, len(records))
	index := map[string]int{}
	refs := make([]string, len(records))
	for i, rec := range records {
		if err := json.Unmarshal(rec.Payload, &out[i]); err != nil {
			return nil, fmt.Errorf("message at %d: %w", rec.Position, err)
		}
		out[i].Reactions = map[string]int{}
		index[rec.Ref], refs[i] = i, rec.Ref
	}
	rows, err := r.store.db.QueryContext(ctx, `
		SELECT ref, tag, count(*) FROM feeds
		WHERE feed = $1 AND kind = 'reaction' AND ref = ANY($2)
		GROUP BY ref, tag`, roomFeed(roomID), refs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ref, emoji string
		var n int
		if err := rows.Scan(&ref, &emoji, &n); err != nil {
			return nil, err
		}
		out[index[ref]].Reactions[emoji] = n
	}
	return out, rows.Err()
}
