package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/surge-platform/surge/domain"
	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/infra/kafka"
	"github.com/surge-platform/surge/infra/messaging"
	"github.com/surge-platform/surge/infra/postgres"
	"github.com/surge-platform/surge/internal/correlation"
	"github.com/surge-platform/surge/internal/testenv"
)

type fixture struct {
	db     *sql.DB
	outbox *postgres.Outbox
	store  *postgres.EventStore
}

// testEvents is the topic the fixtures' events go to.
const testEvents = "test.events"

func newFixture(t *testing.T, shards int) fixture {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, testenv.Database(t), 16)
	testenv.Must(t, err, "open")
	t.Cleanup(func() { db.Close() })
	testenv.Must(t, postgres.Migrate(ctx, db), "migrate")
	testenv.Must(t, postgres.Migrate(ctx, db), "migrate twice")
	outbox, err := postgres.NewOutbox(postgres.OutboxConfig{Shards: shards, PollInterval: 5 * time.Millisecond}, watermill.NopLogger{})
	testenv.Must(t, err, "outbox")
	testenv.Must(t, outbox.InitTables(ctx, db), "outbox tables")
	return fixture{db: db, outbox: outbox, store: testenv.EventStore(t, db, outbox, testEvents, coupon.EventTypes()...)}
}

func (f fixture) outboxRows(t *testing.T) int {
	t.Helper()
	total := 0
	for i := 0; i < 4; i++ {
		var n int
		err := f.db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM "watermill_%s"`, postgres.OutboxTopic(i))).Scan(&n)
		if err == nil {
			total += n
		}
	}
	return total
}

func issued(user string) coupon.CouponIssued {
	return coupon.CouponIssued{CouponID: "id-" + user, CampaignID: "spring", UserID: user, IssuedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestAppendLoadAndReadAll(t *testing.T) {
	f := newFixture(t, 4)
	ctx := correlation.With(context.Background(), "corr-1")
	opened := coupon.CampaignOpened{CampaignID: "spring", Name: "Spring", Limit: 5, OpenedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r1, err := f.store.Append(ctx, "campaign/spring", 0, []domain.Event{opened})
	testenv.Must(t, err, "append 1")
	r2, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
	testenv.Must(t, err, "append 2")
	if r1[0].StreamVersion != 1 || r2[0].Position <= r1[0].Position || r1[0].CorrelationID != "corr-1" || r1[0].SchemaVersion != 1 {
		t.Fatalf("recorded %+v %+v", r1, r2)
	}

	history, err := f.store.Load(ctx, "campaign/spring")
	testenv.Must(t, err, "load")
	if len(history) != 1 || history[0] != domain.Event(opened) {
		t.Fatalf("history = %#v", history)
	}
	all, err := f.store.ReadAll(ctx, 0, 10)
	testenv.Must(t, err, "read all")
	if len(all) != 2 || all[0].Type != "coupon.campaign_opened.v1" || all[1].Type != "coupon.issued.v1" || all[1].StreamID != "coupon/spring/u1" {
		t.Fatalf("read all = %+v", all)
	}
	after, err := f.store.ReadAll(ctx, all[0].Position, 10)
	testenv.Must(t, err, "read after")
	if len(after) != 1 || after[0].EventID != all[1].EventID {
		t.Fatalf("read after first = %+v", after)
	}
	if n := f.outboxRows(t); n != 2 {
		t.Fatalf("outbox rows = %d, want 2 (one per stored event)", n)
	}
}

func TestAppendOfSeveralEventsStoresThemInOrderWithTheirOutboxRows(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	events := []domain.Event{issued("u1"), issued("u2"), issued("u3")}
	recorded, err := f.store.Append(ctx, "coupon/spring/multi", 0, events)
	testenv.Must(t, err, "append")
	more, err := f.store.Append(ctx, "coupon/spring/multi", 3, []domain.Event{issued("u4")})
	testenv.Must(t, err, "append at version 3")
	recorded = append(recorded, more...)
	all, err := f.store.ReadAll(ctx, 0, 10)
	testenv.Must(t, err, "read all")
	if len(all) != 4 || len(recorded) != 4 {
		t.Fatalf("stored %d, recorded %d; want 4 and 4", len(all), len(recorded))
	}
	for i, r := range all {
		if r.StreamVersion != i+1 || r.Position != recorded[i].Position || r.EventID != recorded[i].EventID {
			t.Fatalf("event %d: stored %+v, recorded %+v", i, r, recorded[i])
		}
	}
	if n := f.outboxRows(t); n != 4 {
		t.Fatalf("outbox rows = %d, want 4", n)
	}
	_, err = f.store.Append(ctx, "coupon/spring/multi", 2, []domain.Event{issued("u5"), issued("u6")})
	if !errors.Is(err, domain.ErrConcurrentModification) {
		t.Fatalf("append at stale version 2: err = %v, want a conflict", err)
	}
	if all, _ := f.store.ReadAll(ctx, 0, 10); len(all) != 4 || f.outboxRows(t) != 4 {
		t.Fatalf("after the conflict: %d events, %d outbox rows; want 4 and 4", len(all), f.outboxRows(t))
	}
}

func TestAppendAtWrongVersionIsAConflictAndWritesNothing(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	_, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
	testenv.Must(t, err, "first append")
	_, err = f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
	var conflict *postgres.VersionConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, domain.ErrConcurrentModification) {
		t.Fatalf("err = %v, want a version conflict", err)
	}
	all, _ := f.store.ReadAll(ctx, 0, 10)
	if len(all) != 1 || f.outboxRows(t) != 1 {
		t.Fatalf("events = %d, outbox rows = %d; want 1 and 1", len(all), f.outboxRows(t))
	}
}

func TestAppendRollsBackWhenAnExtraWriteFails(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	// The extra write is the last statement of the pipelined batch, after
	// the event and outbox rows: its failure must undo them.
	_, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")},
		postgres.Statement{SQL: `INSERT INTO issued_coupons (coupon_id, campaign_id, user_id, issued_at) VALUES (gen_random_uuid(), 'spring', 'u1', NULL)`})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23502" {
		t.Fatalf("err = %v, want the not-null violation of the extra write", err)
	}
	all, _ := f.store.ReadAll(ctx, 0, 10)
	if len(all) != 0 || f.outboxRows(t) != 0 {
		t.Fatalf("events = %d, outbox rows = %d after rollback; want 0 and 0", len(all), f.outboxRows(t))
	}
}

func TestConcurrentAppendsToOneStreamHaveOneWinner(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.store.Append(ctx, "coupon/spring/u1", 0, []domain.Event{issued("u1")})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, domain.ErrConcurrentModification):
				conflicts++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 19 {
		t.Fatalf("wins = %d conflicts = %d, want 1 and 19", wins, conflicts)
	}
}

func TestCouponRepositoryWritesTheRowWithTheEvent(t *testing.T) {
	f := newFixture(t, 4)
	ctx := context.Background()
	repo := postgres.NewCouponRepository(f.store)
	campaign := coupon.LoadCampaign(nil)
	testenv.Must(t, campaign.Open(coupon.OpenCampaign{CampaignID: "spring", Name: "Spring", Limit: 2}, time.Now()), "open")
	testenv.Must(t, repo.SaveCampaign(ctx, campaign), "save campaign")
	loaded, err := repo.LoadCampaign(ctx, "spring")
	testenv.Must(t, err, "load campaign")
	cp, err := repo.LoadCoupon(ctx, "spring", "u1")
	testenv.Must(t, err, "load coupon")
	testenv.Must(t, cp.Issue(loaded, coupon.IssueCoupon{CampaignID: "spring", UserID: "u1"}, "6f1c1f0e-5d5b-4c36-9a51-2a8f0b7c3e12", time.Now()), "issue")
	testenv.Must(t, repo.SaveCoupon(ctx, cp), "save coupon")
	n, err := repo.CountIssued(ctx, "spring")
	testenv.Must(t, err, "count")
	if n != 1 {
		t.Fatalf("issued rows = %d, want 1", n)
	}
	again, _ := repo.LoadCoupon(ctx, "spring", "u1")
	if !again.Issued || again.Version() != 1 {
		t.Fatalf("reloaded coupon = %+v", again)
	}
}

// The forwarders move committed outbox rows to Kafka with the envelope's
// metadata, keyed by stream id.
func TestForwarderMovesCommittedEventsToKafkaInStreamOrder(t *testing.T) {
	f := newFixture(t, 4)
	brokers := testenv.Kafka(t, kafka.Topic{Name: testEvents, Kind: kafka.Events, Partitions: 12, Retention: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := kafka.NewPublisher(brokers, watermill.NopLogger{})
	testenv.Must(t, err, "publisher")
	defer pub.Close()
	forwarders, err := f.outbox.NewForwarders(f.db, pub, 5*time.Second, nil)
	testenv.Must(t, err, "forwarders")
	for _, fw := range forwarders {
		go fw.Run(ctx) //nolint:errcheck
		defer fw.Close()
	}
	sub, err := kafka.NewSubscriber(brokers, "contract-test", watermill.NopLogger{})
	testenv.Must(t, err, "subscriber")
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, testEvents)
	testenv.Must(t, err, "subscribe")

	// 30 events: 3 streams x 10 versions, appended one at a time.
	const perStream = 10
	for v := 0; v < perStream; v++ {
		for s := 0; s < 3; s++ {
			e := coupon.CampaignOpened{CampaignID: fmt.Sprintf("c%d", s), Name: fmt.Sprintf("v%d", v), Limit: 1}
			_, err := f.store.Append(ctx, fmt.Sprintf("campaign/c%d", s), v, []domain.Event{e})
			testenv.Must(t, err, "append")
		}
	}
	lastVersion := map[string]int{}
	timeout := time.After(20 * time.Second)
	for got := 0; got < 3*perStream; got++ {
		select {
		case m := <-msgs:
			stream := m.Metadata.Get(messaging.StreamIDKey)
			var version int
			fmt.Sscan(m.Metadata.Get(messaging.StreamVersionKey), &version)
			if version != lastVersion[stream]+1 {
				t.Fatalf("stream %s: got version %d after %d", stream, version, lastVersion[stream])
			}
			lastVersion[stream] = version
			if m.Metadata.Get(kafka.PartitionKeyMetadata) != stream || m.Metadata.Get(messaging.NameKey) != "coupon.campaign_opened.v1" {
				t.Fatalf("metadata = %v", m.Metadata)
			}
			m.Ack()
		case <-timeout:
			t.Fatalf("only %d of %d events reached Kafka", got, 3*perStream)
		}
	}
	for s, v := range lastVersion {
		if v != perStream {
			t.Fatalf("stream %s ended at version %d", s, v)
		}
	}
}
