package minitime

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
)

func TestFollowExpiresKeysInRealTime(t *testing.T) {
	m := miniredis.RunT(t)
	stop := Follow(m)
	defer stop()
	if err := m.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	m.SetTTL("k", 30*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for m.Exists("k") {
		if time.Now().After(deadline) {
			t.Fatal("a key with a 30ms TTL still exists after 5s: the store's clock does not follow the wall clock")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
