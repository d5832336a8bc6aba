package main

import (
	"bytes"
	"go/parser"
	"go/token"
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

// TestEmbedsTimezoneDatabase: the binary imports time/tzdata, so projects'
// timezones load on a machine without /usr/share/zoneinfo (and without a
// Go installation, whose copy time.LoadLocation falls back to otherwise).
// Checked by hand with both directories hidden (unshare -r -m, tmpfs over
// each): without the import, a project with "Europe/Warsaw" is refused.
func TestEmbedsTimezoneDatabase(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range f.Imports {
		if imp.Path.Value == `"time/tzdata"` {
			return
		}
	}
	t.Fatal("main.go does not import time/tzdata")
}
