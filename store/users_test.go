package store

import (
	"encoding/json"
	"testing"
)

func TestProfileNameOf(t *testing.T) {
	for _, tt := range []struct{ meta, want string }{
		{`{"channel":"whatsapp","profileName":"Ann"}`, "Ann"},
		{`{"channel":"sms","profileName":""}`, ""},
		{`{"a":1}`, ""},
		{``, ""},
		{`[1]`, ""},
		{`{"profileName":7}`, ""},
	} {
		if got := ProfileNameOf(json.RawMessage(tt.meta)); got != tt.want {
			t.Errorf("ProfileNameOf(%s) = %q, want %q", tt.meta, got, tt.want)
		}
	}
}

func TestChannelOf(t *testing.T) {
	if ChannelOf("whatsapp:+15551234567") != ChannelWhatsApp || ChannelOf("+15551234567") != ChannelSMS {
		t.Fatal("ChannelOf")
	}
}
