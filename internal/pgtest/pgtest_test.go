package pgtest

import (
	"strings"
	"testing"
)

func TestStartQueryRestart(t *testing.T) {
	s := Start(t)
	dsn := s.CreateDB("t1")
	if !strings.Contains(dsn, "127.0.0.1") {
		t.Fatalf("DSN %q not on loopback", dsn)
	}
	s.Psql("t1", "-c", "CREATE TABLE x (id int primary key); INSERT INTO x VALUES (1),(2)")
	s.Restart()
	if got := strings.TrimSpace(s.Psql("t1", "-c", "SELECT count(*) FROM x")); got != "2" {
		t.Fatalf("after restart count = %q, want 2", got)
	}
	if got := strings.TrimSpace(s.Psql("postgres", "-c", "SHOW listen_addresses")); got != "127.0.0.1" {
		t.Fatalf("listen_addresses = %q", got)
	}
}
