package intern

import (
	"runtime"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

func TestInternSharesOneCopyPerIDAndVersion(t *testing.T) {
	var in Interner[client.Enterprise]
	a := &client.Enterprise{ID: "ent_1", Version: 3}
	b := &client.Enterprise{ID: "ent_1", Version: 3}
	newer := &client.Enterprise{ID: "ent_1", Version: 4}
	if got := in.Intern(a.ID, a.Version, a); got != a {
		t.Fatal("the first copy is not the one held")
	}
	if got := in.Intern(b.ID, b.Version, b); got != a {
		t.Fatal("a second copy of the same version was not replaced by the first")
	}
	if got := in.Intern(newer.ID, newer.Version, newer); got != newer {
		t.Fatal("a newer version was replaced by an older copy")
	}
	if got := in.Intern("", 3, b); got != b {
		t.Fatal("a record without an id was interned")
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(newer)
}

func TestInternLetsUnusedRecordsGo(t *testing.T) {
	var in Interner[client.Enterprise]
	for i := range 1000 {
		in.Intern("ent_"+string(rune('a'+i%26)), int64(i), &client.Enterprise{ID: "x", Version: int64(i)})
	}
	// Cleanups run on their own goroutine after a collection; give the
	// collector a bounded number of rounds to get to all of them.
	for i := 0; i < 200 && in.Len() > 0; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if n := in.Len(); n != 0 {
		t.Fatalf("%d slots still held for Records nothing uses", n)
	}
}
