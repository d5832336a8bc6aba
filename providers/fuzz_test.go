package providers

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"switchboard/store"
)

// FuzzValidateConfig validates arbitrary config JSON for every apiType.
// It never panics; an accepted config re-validates to itself (the
// normalised form is a fixed point) and is a JSON object; a refused one
// is an EINVALID FieldError naming "apiType" or a "config…" field.
func FuzzValidateConfig(f *testing.F) {
	seeds := []string{
		`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"abc123","fromNumber":"+15550001000"}`,
		`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"abc123","fromNumber":"whatsapp:+15550001000","apiBaseUrl":"http://127.0.0.1:1"}`,
		`{"apiKey":"sk-x","baseUrl":"https://api.openai.com/v1","organizationId":""}`,
		`{"baseUrl":"http://localhost:11434","apiKey":null}`,
		`{"rules":[{"match":"(?i)^hi","reply":"Hello {{.From}}"}],"defaultReply":"R{{.Turn}}: {{.Text}}"}`,
		`{"rules":[null]}`, `{"rules":[{"match":"(","reply":"x"}]}`, `{"defaultReply":"{{"}`, `{"rules":{}}`,
		`{"apiKey":"k","extra":1,"other":2}`, `null`, ``, `[]`, `"x"`, `{"apiKey":"k","apiKey":"j"}`,
		`{"baseUrl":"javascript:alert(1)"}`, `{"baseUrl":"http://"}`, `{"apiKey":" "}`, "{\"apiKey\":\"\xff\"}",
	}
	for _, s := range seeds {
		for _, at := range APITypes() {
			f.Add(at, []byte(s))
		}
	}
	f.Add("bogus", []byte(`{}`))
	f.Add("", []byte(`{}`))
	f.Fuzz(func(t *testing.T, apiType string, raw []byte) {
		out, err := ValidateConfig(apiType, raw)
		if err != nil {
			if store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("%s %q: %v is not EINVALID", apiType, raw, err)
			}
			d, _ := store.ErrorDetails(err).(map[string]string)
			if field := d["field"]; field != "apiType" && field != "config" && !strings.HasPrefix(field, "config.") {
				t.Fatalf("%s %q: error %v names field %q", apiType, raw, err, field)
			}
			if _, known := ProviderTypeOf(apiType); known == (d["field"] == "apiType") {
				t.Fatalf("%s: apiType error %v for a known type, or none for an unknown one", apiType, err)
			}
			return
		}
		if len(out) == 0 || out[0] != '{' || !json.Valid(out) {
			t.Fatalf("%s %q: normalised to %q", apiType, raw, out)
		}
		again, err := ValidateConfig(apiType, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("%s: %q normalises to %q, which re-validates to %q, %v", apiType, raw, out, again, err)
		}
	})
}

// FuzzCheckURL checks arbitrary base URLs under the default policy and an
// allow-list. It never panics, and a URL it accepts has a host that is
// either a standard IP address outside the refused set, however an IPv4
// address is wrapped in it (IPv4-mapped, NAT64, IPv4-compatible), or a
// name that does not end in a number. The oracle here works on bytes, not
// with the code under test.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://api.openai.com/v1", "http://127.0.0.1:11434", "http://[::1]:11434", "http://10.1.2.3:8000/v1",
		"http://169.254.169.254/latest/meta-data", "http://[fe80::1%25eth0]:80", "http://[fd00:ec2::254]",
		"http://[::ffff:169.254.169.254]", "http://[64:ff9b::a9fe:a9fe]", "http://[::a9fe:a9fe]",
		"http://100.100.100.200/latest/meta-data", "http://[64:ff9b::6464:64c8]",
		"http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/", "http://169.254.43518/",
		"http://169.254.169.254./", "http://[::]:80", "https://user:pw@h/", "http://h/?q", "//x", "",
	} {
		f.Add(s)
	}
	listed, err := ParseAllowlist("api.openai.com,*.example.com,10.0.0.0/8,[::1]:11434,64:ff9b::a00:0/104")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range []*DestinationPolicy{nil, listed} {
			if p.CheckURL(raw) != nil {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("%q accepted but does not parse: %v", raw, err)
			}
			host := u.Hostname()
			if a, err := netip.ParseAddr(host); err == nil {
				if oracleRefused(a) {
					t.Fatalf("%q accepted: %s is a refused address", raw, host)
				}
				continue
			}
			h := strings.TrimSuffix(host, ".")
			last := strings.ToLower(h[strings.LastIndex(h, ".")+1:])
			if last != "" && (strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "") {
				t.Fatalf("%q accepted: host %q ends in a number but is not a standard IP address", raw, host)
			}
		}
	})
}

// oracleRefused reports whether a connection to a may reach a metadata
// service: 169.254.0.0/16 or 100.100.100.200, also inside ::ffff:0:0/96,
// 64:ff9b::/96 or ::/96 (but :: and ::1), or fe80::/10 or fd00:ec2::254.
func oracleRefused(a netip.Addr) bool {
	b := a.As16()
	v4 := func(x [4]byte) bool { return x[0] == 169 && x[1] == 254 || x == [4]byte{100, 100, 100, 200} }
	last := [4]byte(b[12:])
	var head [12]byte
	copy(head[:], b[:12])
	mapped := [12]byte{10: 0xff, 11: 0xff}
	nat64 := [12]byte{1: 0x64, 2: 0xff, 3: 0x9b}
	if head == mapped || head == nat64 || head == [12]byte{} && last != [4]byte{} && last != [4]byte{3: 1} {
		return v4(last)
	}
	fd00ec2 := netip.MustParseAddr("fd00:ec2::254").As16()
	return b[0] == 0xfe && b[1]&0xc0 == 0x80 || b == fd00ec2
}
