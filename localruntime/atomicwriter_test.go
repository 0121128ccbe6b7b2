package localruntime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAtomicLayout(t *testing.T) {
	dir := t.TempDir()
	changed, err := WriteAtomic(dir, map[string]File{"tokens.json": {Data: []byte("v1"), Mode: 0o440}})
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	data, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(data, "..") {
		t.Fatalf("..data should link to a ..<timestamp> directory, got %q, %v", data, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "tokens.json")); l != filepath.Join("..data", "tokens.json") {
		t.Fatalf("tokens.json links to %q, want ..data/tokens.json", l)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "tokens.json")); string(got) != "v1" {
		t.Fatalf("read %q through the links, want v1", got)
	}

	changed, err = WriteAtomic(dir, map[string]File{"tokens.json": {Data: []byte("v1"), Mode: 0o440}})
	if err != nil || changed {
		t.Fatalf("same payload must be a no-op: changed=%v err=%v", changed, err)
	}

	// A new payload swaps ..data, removes the old generation and stale links.
	_, err = WriteAtomic(dir, map[string]File{"tenant.json": {Data: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "tokens.json")); !os.IsNotExist(err) {
		t.Fatalf("stale top-level link tokens.json survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, data)); err != nil {
		t.Fatalf("the generation just replaced must stay for readers in flight: %v", err)
	}
	if _, err := WriteAtomic(dir, map[string]File{"tenant.json": {Data: []byte("{\"a\":1}")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, data)); !os.IsNotExist(err) {
		t.Fatalf("old generation %s survived two swaps: %v", data, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 { // two ..<ts>, ..data, tenant.json
		t.Fatalf("entries %v, want two generations, ..data and tenant.json", names)
	}
}

// A reader resolves ..data once and reads through it: across a swap it must
// see the whole old generation or the whole new one, never a missing file.
func TestWriteAtomicSwapKeepsReadersInFlight(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("1")}, "b": {Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAtomic(dir, map[string]File{"a": {Data: []byte("2")}, "b": {Data: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b"} {
		if got, err := os.ReadFile(filepath.Join(resolved, f)); err != nil || string(got) != "1" {
			t.Fatalf("reader in flight: %s = %q, %v; want the old generation", f, got, err)
		}
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(got) != "2" {
			t.Fatalf("new reader: %s = %q, %v; want the new generation", f, got, err)
		}
	}
}

func TestWriteAtomicRefusesEscapes(t *testing.T) {
	for _, p := range []string{"../x", "/etc/passwd", "..data", "a/../../b", ""} {
		if _, err := WriteAtomic(t.TempDir(), map[string]File{p: {Data: nil}}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}
