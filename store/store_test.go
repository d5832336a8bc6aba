package store

import "testing"

func TestHashKey(t *testing.T) {
	// SHA-256 of "abc".
	if got := HashKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashKey(abc) = %s", got)
	}
}
