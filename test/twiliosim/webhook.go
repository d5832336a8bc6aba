package twiliosim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"switchboard/providers/twilio"
)

// DefaultAccountSID is the AccountSid InboundParams fills in.
const DefaultAccountSID = "AC00000000000000000000000000000000"

// NewMessageSID returns a fresh message SID: "SM" and 32 hex digits.
func NewMessageSID() string { return newSID("SM") }

// newSID returns prefix followed by 32 random hex digits.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var out [34]byte
	copy(out[:], prefix)
	hex.Encode(out[2:], b[:])
	return string(out[:])
}

// NewSignedRequest builds the form POST Twilio would make to rawURL with
// params: Content-Type application/x-www-form-urlencoded, Twilio's
// User-Agent, and X-Twilio-Signature computed with authToken over rawURL
// exactly as given (query string included) and params. Callers may add
// headers (for example I-Twilio-Idempotency-Token) before sending it.
func NewSignedRequest(ctx context.Context, rawURL, authToken string, params url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, fmt.Errorf("twiliosim: build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", twilio.Signature(authToken, rawURL, params))
	return req, nil
}

// SignedWebhook posts params to rawURL as Twilio does, signed with
// authToken, using client (http.DefaultClient when nil). The caller closes
// the response body.
func SignedWebhook(ctx context.Context, client *http.Client, rawURL, authToken string, params url.Values) (*http.Response, error) {
	req, err := NewSignedRequest(ctx, rawURL, authToken, params)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("twiliosim: post webhook: %w", err)
	}
	return resp, nil
}

// InboundParams returns the form Twilio posts to a number's "A message comes
// in" webhook for an inbound text from `from` to `to`, with AccountSid
// DefaultAccountSID (use InboundParamsFor to choose it). A sender with the
// whatsapp: prefix gets WhatsApp's fields (ProfileName, WaId, MessageType)
// instead of SMS geography.
func InboundParams(from, to, body, messageSid string) url.Values {
	return InboundParamsFor(DefaultAccountSID, from, to, body, messageSid)
}

// InboundParamsFor is InboundParams for the account accountSid.
func InboundParamsFor(accountSid, from, to, body, messageSid string) url.Values {
	_, segments := twilio.Segments(body)
	p := url.Values{
		"AccountSid":    {accountSid},
		"ApiVersion":    {"2010-04-01"},
		"Body":          {body},
		"From":          {from},
		"MessageSid":    {messageSid},
		"NumMedia":      {"0"},
		"NumSegments":   {strconv.Itoa(segments)},
		"SmsMessageSid": {messageSid},
		"SmsSid":        {messageSid},
		"SmsStatus":     {"received"},
		"To":            {to},
	}
	if a, err := twilio.ParseAddress(from); err == nil && a.IsWhatsApp() {
		p.Set("ProfileName", "Simulated User")
		p.Set("WaId", strings.TrimPrefix(a.Number, "+"))
		p.Set("MessageType", "text")
		p.Set("ReferralNumMedia", "0")
		return p
	}
	for _, side := range []struct{ prefix, number string }{{"From", from}, {"To", to}} {
		country := ""
		if strings.HasPrefix(side.number, "+1") {
			country = "US"
		}
		p.Set(side.prefix+"Country", country)
		p.Set(side.prefix+"State", "")
		p.Set(side.prefix+"City", "")
		p.Set(side.prefix+"Zip", "")
	}
	return p
}
