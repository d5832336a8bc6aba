package replyfmt

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestExtractMedia(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxMediaURLLength)
	var eleven strings.Builder
	var ten []string
	for i := range 11 {
		fmt.Fprintf(&eleven, "![i](https://example.com/%d.png)\n", i)
		if i < 10 {
			ten = append(ten, fmt.Sprintf("https://example.com/%d.png", i))
		}
	}
	cases := []struct {
		name, in, text string
		media          []string
	}{
		{"no image", "Hello **there**", "Hello **there**", nil},
		{"one image", "Here is the map:\n\n![Map](https://example.com/map.png)\n\nSee you!",
			"Here is the map:\n\nSee you!", []string{"https://example.com/map.png"}},
		{"inline with title", "Look ![cat](https://x.io/c.jpg \"A cat\") now", "Look now", []string{"https://x.io/c.jpg"}},
		{"angle brackets", "![a](<https://x.io/a.png>)", "", []string{"https://x.io/a.png"}},
		{"media only", "![a](https://x.io/a.png)\n![b](http://x.io/b.png?s=1&t=2)", "",
			[]string{"https://x.io/a.png", "http://x.io/b.png?s=1&t=2"}},
		{"other scheme stays", "![a](ftp://x.io/a.png) and ![b](data:image/png;base64,AAAA)",
			"![a](ftp://x.io/a.png) and ![b](data:image/png;base64,AAAA)", nil},
		{"relative stays", "![a](/a.png)", "![a](/a.png)", nil},
		{"credentials stay", "![a](https://u:p@x.io/a.png)", "![a](https://u:p@x.io/a.png)", nil},
		{"link is not an image", "[site](https://x.io/a.png)", "[site](https://x.io/a.png)", nil},
		{"inline code stays", "Write `![a](https://x.io/a.png)` to embed", "Write `![a](https://x.io/a.png)` to embed", nil},
		{"fenced code stays", "```\n![a](https://x.io/a.png)\n```\n![b](https://x.io/b.png)", "```\n![a](https://x.io/a.png)\n```",
			[]string{"https://x.io/b.png"}},
		{"too long stays", "![a](" + long + ")", "![a](" + long + ")", nil},
		{"at most ten", eleven.String(), "![i](https://example.com/10.png)", ten},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, media := ExtractMedia(tc.in)
			if text != tc.text || !slices.Equal(media, tc.media) {
				t.Fatalf("ExtractMedia(%q) = %q, %q; want %q, %q", tc.in, text, media, tc.text, tc.media)
			}
		})
	}
}

func FuzzExtractMedia(f *testing.F) {
	f.Add("Here ![a](https://x.io/a.png) `![b](https://x.io/b.png)`")
	f.Fuzz(func(t *testing.T, s string) {
		text, media := ExtractMedia(s)
		if len(media) > MaxMedia || len(text) > len(s) {
			t.Fatalf("%q → %q, %d media", s, text, len(media))
		}
		for _, u := range media {
			if !validMediaURL(u) || len(u) > MaxMediaURLLength {
				t.Fatalf("bad media URL %q", u)
			}
		}
	})
}

func TestMediaFromMetadata(t *testing.T) {
	for md, want := range map[string]bool{``: true, `{}`: true, `{"replyMedia":null}`: true, `{"replyMedia":true}`: true, `{"replyMedia":false}`: false} {
		if got, err := MediaFromMetadata([]byte(md)); err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", md, got, err, want)
		}
	}
	for _, md := range []string{`{"replyMedia":"false"}`, `{"replyMedia":0}`, `{"replyMedia":{}}`} {
		if _, err := MediaFromMetadata([]byte(md)); err == nil {
			t.Errorf("%s accepted", md)
		}
	}
}
