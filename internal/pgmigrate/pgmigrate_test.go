package pgmigrate

import (
	"context"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow/taskflow-events/internal/testenv"
)

func TestApplyConcurrentReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pg := testenv.StartPostgres(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"001_items.sql": {Data: []byte("CREATE TABLE items (id int PRIMARY KEY)")},
		"002_seed.sql":  {Data: []byte("INSERT INTO items VALUES (1), (2)")},
	}
	// Four replicas start together: each migration must run exactly once.
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, pg.DSN)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			applied, err := Apply(ctx, pool, fsys, "test")
			counts[i], errs[i] = len(applied), err
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		if errs[i] != nil {
			t.Fatalf("replica %d: Apply() = %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != 2 {
		t.Errorf("migrations applied %d times across replicas, want 2", total)
	}
	pool, err := pgxpool.New(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil || n != 2 {
		t.Errorf("items rows = %d (%v), want 2", n, err)
	}
	// A failing migration leaves nothing behind and is retried next start.
	bad := fstest.MapFS{"003_bad.sql": {Data: []byte("CREATE TABLE half (id int); SELECT * FROM missing_table")}}
	if _, err := Apply(ctx, pool, bad, "test"); err == nil {
		t.Fatal("Apply(bad) = nil, want an error")
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'").Scan(&n); err != nil || n != 0 {
		t.Errorf("table from a failed migration exists (%d, %v), want rolled back", n, err)
	}
}
