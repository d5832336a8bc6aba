package actors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/providers/twilio"
)

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func TestTruncatePartsEndsWithEllipsisWithinPartSize(t *testing.T) {
	split := func(s string) []string { return twilio.Split(s, twilio.MaxBodyLength) }
	bodies := map[string]string{
		"words":        strings.Repeat("lorem ipsum dolor sit amet ", 4000),
		"no spaces":    strings.Repeat("x", 50*twilio.MaxBodyLength),
		"emoji":        strings.Repeat("😀", 20*twilio.MaxBodyLength),
		"exactly full": strings.Repeat("y", 12*twilio.MaxBodyLength),
	}
	for name, body := range bodies {
		parts := split(body)
		if len(parts) <= 10 {
			t.Fatalf("%s: only %d parts", name, len(parts))
		}
		got := truncateParts(parts, 10, split)
		if len(got) != 10 {
			t.Fatalf("%s: %d parts, want 10", name, len(got))
		}
		for i, p := range got[:9] {
			if p != parts[i] {
				t.Fatalf("%s: part %d changed", name, i+1)
			}
		}
		last := got[9]
		if !strings.HasSuffix(last, "…") || utf16Len(last) > twilio.MaxBodyLength || len(split(last)) != 1 {
			t.Fatalf("%s: last part (%d UTF-16 units) %q…", name, utf16Len(last), last[:40])
		}
		if !strings.HasPrefix(parts[9], strings.TrimSuffix(last, "…")) {
			t.Fatalf("%s: the last part is not a prefix of the original part", name)
		}
	}
	short := []string{"a", "b"}
	if got := truncateParts(short, 10, split); len(got) != 2 || got[1] != "b" {
		t.Fatalf("a reply within the cap changed: %q", got)
	}
	small := func(s string) []string { return twilio.Split(s, 10) }
	// "one two" "three four" "five six" ...: "three four…" is 11, so the
	// last kept part loses a word's letters until it fits.
	if got := truncateParts(small("one two three four five six seven eight"), 2, small); len(got) != 2 || got[0] != "one two" || got[1] != "three fou…" {
		t.Fatalf("small parts: %q", got)
	}
}

func TestCapReplyLogsAndCounts(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e := &Engine{
		opts:           Options{MaxReplyParts: 3, Split: func(s string) []string { return twilio.Split(s, 20) }},
		log:            slog.New(slog.NewTextHandler(&logs, nil)),
		replyTruncated: newReplyTruncatedCounter(reg),
	}
	parts := e.opts.Split(strings.Repeat("word ", 40))
	got := e.capReply("conv_1", parts)
	if len(got) != 3 || !strings.HasSuffix(got[2], "…") {
		t.Fatalf("capped = %q", got)
	}
	if v := counterValue(t, e.replyTruncated); v != 1 {
		t.Fatalf("switchboard_reply_truncated_total = %v", v)
	}
	if l := logs.String(); !strings.Contains(l, "conversation_id=conv_1") || !strings.Contains(l, "parts=10") {
		t.Fatalf("log: %s", l)
	}
	if got := e.capReply("conv_2", parts[:3]); len(got) != 3 || got[2] != parts[2] {
		t.Fatalf("a reply at the cap changed: %q", got)
	}
	if v := counterValue(t, e.replyTruncated); v != 1 {
		t.Fatalf("counted a reply within the cap: %v", v)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
