package config

import (
	"os"
	"strings"
	"testing"
)

// TestEveryOptionDocumented: each setting has its row in the README's
// configuration table, and each row names a setting that exists, so the
// README stays true as settings come and go.
func TestEveryOptionDocumented(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	known := map[string]bool{}
	for _, name := range Names() {
		known[name] = true
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README.md has no configuration row for %s", name)
		}
	}
	for _, line := range strings.Split(readme, "\n") {
		name, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		name, _, ok = strings.Cut(name, "` |")
		if ok && name == strings.ToUpper(name) && strings.Contains(name, "_") && !known[name] {
			t.Errorf("README.md documents %s, which is not a setting", name)
		}
	}
}
