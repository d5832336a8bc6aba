package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Channels a user texts Switchboard on, named as in the user's API shape.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
)

// User is one person who has texted a project: the sender address of its
// conversations (Conversation.UserID, the inbound From as Twilio gives it),
// summed up over every conversation of that address in the project,
// whichever of the project's numbers it texted. Switchboard keeps no user
// table: a user exists while a conversation of it does, so users need no
// writes and deleting a user's conversations forgets it.
type User struct {
	ProjectID string
	// Address is the sender address, e.g. "+15551234567" or
	// "whatsapp:+15551234567"; it is the user's ID.
	Address string
	// Channel is ChannelWhatsApp for a "whatsapp:" address, else ChannelSMS.
	Channel string
	// ConversationCount is how many conversations the user has.
	ConversationCount int
	// FirstContactAt is when the user's first conversation began;
	// LastContactAt is the latest update of any of its conversations.
	FirstContactAt time.Time
	LastContactAt  time.Time
	// ProfileName is the WhatsApp profile name the user's latest
	// conversation began with (Twilio's ProfileName, kept in the
	// conversation's metadata); "" for SMS or when WhatsApp sent none.
	ProfileName string
	// OptedOut reports whether the user has opted out (STOP) on any
	// channel provider it texted through in this project.
	OptedOut bool
}

// ChannelOf returns the channel of a sender address.
func ChannelOf(address string) string {
	if strings.HasPrefix(address, "whatsapp:") {
		return ChannelWhatsApp
	}
	return ChannelSMS
}

// UserStore reads users; both stores implement it (see Store).
type UserStore interface {
	// ListUsers returns a page of a project's users, newest (first
	// contact) first unless opts orders them otherwise, and how many there
	// are in all. opts.Search keeps the users whose address contains it
	// (the console's search box: "5551", "whatsapp:").
	ListUsers(ctx context.Context, projectID string, opts ListOptions) ([]*User, int, error)
	// GetUser returns the project's user with the address, else ENOTFOUND.
	// A user's conversations are ListConversations with a filter on
	// userId.
	GetUser(ctx context.Context, projectID, address string) (*User, error)
}

// ProfileNameOf returns the profileName of a conversation's metadata, as
// the engine writes it when the conversation starts; "" when there is
// none or the metadata is not a JSON object.
func ProfileNameOf(metadata json.RawMessage) string {
	var m struct {
		ProfileName string `json:"profileName"`
	}
	if json.Unmarshal(metadata, &m) != nil {
		return ""
	}
	return m.ProfileName
}
