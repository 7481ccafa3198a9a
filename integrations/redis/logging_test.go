package redis

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapPrintf(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	zapPrintf{log: zap.New(core)}.Printf(context.Background(), "failed to dial after %d attempts", 1)
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("got %d log entries, want 1", len(entries))
	}
	if got, want := entries[0].Message, "failed to dial after 1 attempts"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got := entries[0].Level; got != zapcore.WarnLevel {
		t.Errorf("level = %v, want warn", got)
	}
}
