package twiliosim

import (
	"net/http"
	"sort"
	"strings"
)

// numberResource is Twilio's IncomingPhoneNumber JSON, the fields a
// client reads.
type numberResource struct {
	AccountSID          string  `json:"account_sid"`
	SID                 string  `json:"sid"`
	PhoneNumber         string  `json:"phone_number"`
	FriendlyName        string  `json:"friendly_name"`
	SmsURL              string  `json:"sms_url"`
	SmsMethod           string  `json:"sms_method"`
	StatusCallback      string  `json:"status_callback"`
	APIVersion          string  `json:"api_version"`
	URI                 string  `json:"uri"`
	Capabilities        any     `json:"capabilities"`
	EmergencyAddressSID *string `json:"emergency_address_sid"`
}

// numbersPage is Twilio's list JSON for incoming phone numbers.
type numbersPage struct {
	IncomingPhoneNumbers []numberResource `json:"incoming_phone_numbers"`
	pageMeta
}

// number is an incoming phone number of an account.
type number struct {
	sid, smsURL string
}

// SetNumberWebhook registers number (E.164) as an incoming phone number of
// account sid whose inbound messages Twilio posts to smsURL (its sms_url),
// as the Twilio console's "A message comes in" setting does. An empty
// smsURL removes the number.
func (s *Server) SetNumberWebhook(sid, e164, smsURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.numbers == nil {
		s.numbers = map[string]map[string]number{}
	}
	if smsURL == "" {
		delete(s.numbers[sid], e164)
		return
	}
	if s.numbers[sid] == nil {
		s.numbers[sid] = map[string]number{}
	}
	n := s.numbers[sid][e164]
	if n.sid == "" {
		n.sid = newSID("PN")
	}
	n.smsURL = smsURL
	s.numbers[sid][e164] = n
}

// NumberCalls returns how many incoming phone number list calls were made,
// answered or not.
func (s *Server) NumberCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.numberCalls
}

// listNumbers handles GET IncomingPhoneNumbers.json: the account's numbers,
// filtered by PhoneNumber (Twilio matches a pattern; the simulator any
// number containing its digits), in one page.
func (s *Server) listNumbers(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	s.numberCalls++
	s.changedLocked()
	s.mu.Unlock()
	if _, ok := s.authenticate(w, r, sid); !ok {
		return
	}
	want := strings.TrimPrefix(r.URL.Query().Get("PhoneNumber"), "+")
	uri := apiPrefix + sid + "/IncomingPhoneNumbers.json"
	page := numbersPage{IncomingPhoneNumbers: []numberResource{}, pageMeta: pageMeta{FirstPageURI: uri + "?Page=0&PageSize=50", PageSize: 50, URI: uri}}
	s.mu.Lock()
	for e164, n := range s.numbers[sid] {
		if want != "" && !strings.Contains(e164, want) {
			continue
		}
		page.IncomingPhoneNumbers = append(page.IncomingPhoneNumbers, numberResource{
			AccountSID: sid, SID: n.sid, PhoneNumber: e164, FriendlyName: e164,
			SmsURL: n.smsURL, SmsMethod: http.MethodPost, APIVersion: "2010-04-01",
			URI:          apiPrefix + sid + "/IncomingPhoneNumbers/" + n.sid + ".json",
			Capabilities: map[string]bool{"sms": true, "mms": true, "voice": true},
		})
	}
	s.mu.Unlock()
	sort.Slice(page.IncomingPhoneNumbers, func(i, j int) bool {
		return page.IncomingPhoneNumbers[i].PhoneNumber < page.IncomingPhoneNumbers[j].PhoneNumber
	})
	page.End = max(0, len(page.IncomingPhoneNumbers)-1)
	s.writeJSON(w, http.StatusOK, page)
}
