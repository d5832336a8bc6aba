package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command the help lists is one run knows: asking for its help
// succeeds and never answers "unknown command".
func TestListedCommandsExist(t *testing.T) {
	for _, c := range commands {
		var out, errb bytes.Buffer
		if code := run([]string{c.name, "--help"}, &out, &errb); code != 0 || strings.Contains(errb.String(), "unknown command") {
			t.Errorf("%s --help: exit %d, %s", c.name, code, errb.String())
		}
	}
}
