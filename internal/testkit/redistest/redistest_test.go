package redistest

import "testing"

func TestServerKillRestart(t *testing.T) {
	s := Start(t)
	if r, err := do(s.Addr(), "PING"); err != nil || r != "PONG" {
		t.Fatalf("PING after Start: %q, %v", r, err)
	}
	s.Kill()
	if _, err := do(s.Addr(), "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if r, err := do(s.Addr(), "PING"); err != nil || r != "PONG" {
		t.Fatalf("PING after Restart: %q, %v", r, err)
	}
}
