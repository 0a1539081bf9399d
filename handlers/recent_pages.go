package handlers

import (
	"sync"
	"time"

	"github.com/surge-platform/surge/projections"
)

// RecentPages keeps the pages this process read from the Redis timeline for
// TTL: in a storm, hundreds of fetches a second ask for the same page of
// one room, and they cost one Redis read per TTL instead of one each. A
// page served from here is at most TTL old (a new message or reaction shows
// up to TTL later; the SSE stream is what is live). Each fetch it answers
// is counted by the tally, as Redis counts the ones it reads.
type RecentPages struct {
	ttl   time.Duration
	tally *FetchTally

	mu    sync.Mutex
	pages map[pageKey]recentPage
}

type pageKey struct {
	room  string
	after int64
	limit int
}

type recentPage struct {
	page projections.RoomPage
	at   time.Time
}

// recentPagesMax bounds the pages kept (a page is up to MaxFetch messages):
// past it, pages are not kept until the old ones expire.
const recentPagesMax = 256

// NewRecentPages keeps pages for ttl (0 or less: none, nil).
func NewRecentPages(ttl time.Duration, tally *FetchTally) *RecentPages {
	if ttl <= 0 {
		return nil
	}
	return &RecentPages{ttl: ttl, tally: tally, pages: map[pageKey]recentPage{}}
}

// Get is the page read within TTL before now, if any; a page it returns is
// counted as a fetch of the room.
func (p *RecentPages) Get(roomID string, after int64, limit int, now time.Time) (projections.RoomPage, bool) {
	if p == nil {
		return projections.RoomPage{}, false
	}
	p.mu.Lock()
	r, ok := p.pages[pageKey{roomID, after, limit}]
	p.mu.Unlock()
	if !ok || now.Sub(r.at) >= p.ttl {
		return projections.RoomPage{}, false
	}
	p.tally.Add(roomID)
	return r.page, true
}

// Put keeps a page read at now. Only a page Redis holds whole is kept (the
// others are read from the event store anyway); the page's messages are
// shared by every fetch that gets it, so nobody may change them.
func (p *RecentPages) Put(roomID string, after int64, limit int, page projections.RoomPage, now time.Time) {
	if p == nil || !page.Known || !page.Complete {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pages) >= recentPagesMax {
		for k, r := range p.pages {
			if now.Sub(r.at) >= p.ttl {
				delete(p.pages, k)
			}
		}
		if len(p.pages) >= recentPagesMax {
			return
		}
	}
	p.pages[pageKey{roomID, after, limit}] = recentPage{page: page, at: now}
}
