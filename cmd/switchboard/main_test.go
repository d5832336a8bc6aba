package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// Every command the help lists is one run dispatches: given an unknown
// flag (so that nothing runs), none answers "unknown command", while an
// unlisted name does.
func TestListedCommandsExist(t *testing.T) {
	dispatched := func(name string) bool {
		var errb bytes.Buffer
		run([]string{name, "--no-such-flag"}, io.Discard, &errb)
		return !strings.Contains(errb.String(), "unknown command")
	}
	for _, c := range commands {
		if !dispatched(c.name) {
			t.Errorf("the help lists %q, which run does not know", c.name)
		}
	}
	if dispatched("frobnicate") {
		t.Fatal("an unknown command was dispatched")
	}
}
