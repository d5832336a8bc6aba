package store

import "testing"

// TestMatchLike: the API's evaluation of like (on the fields it derives)
// agrees with the stores': % any run, _ one character, \ escapes, ASCII
// case ignored and nothing else folded.
func TestMatchLike(t *testing.T) {
	for _, tc := range []struct {
		s, pattern string
		want       bool
	}{
		{"awaiting_user_input", "awaiting%", true},
		{"awaiting_user_input", "AWAITING%", true},
		{"finished", "%ish%", true},
		{"finished", "fin_shed", true},
		{"finished", "fin_hed", false},
		{"a_b", `a\_b`, true},
		{"axb", `a\_b`, false},
		{"100%", `100\%`, true},
		{"1000", `100\%`, false},
		{"", "%", true},
		{"x", "", false},
		{"Émile", "émile", false},
		{"abc", "%%c", true},
	} {
		if got := MatchLike(tc.s, tc.pattern); got != tc.want {
			t.Errorf("MatchLike(%q, %q) = %v, want %v", tc.s, tc.pattern, got, tc.want)
		}
	}
}
