package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPostgresStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pg := StartPostgres(t)
	query := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.DSN)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var one int
		return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	if err := query(); err != nil {
		t.Fatalf("SELECT 1 on a fresh cluster: %v", err)
	}
	if pg.Port == 0 {
		return // DATABASE_URL: no cluster of ours to restart
	}
	pg.Stop(t)
	if err := query(); err == nil {
		t.Fatal("SELECT 1 succeeded on a stopped cluster")
	}
	pg.Start(t)
	if err := query(); err != nil {
		t.Fatalf("SELECT 1 after restart: %v", err)
	}
	other := pg.CreateDatabase(t, "second")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatalf("connect to created database: %v", err)
	}
	conn.Close(ctx)
}
