package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"switchboard/internal/clientip"
	"switchboard/internal/testutil"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// An IPv6 client is counted by its /64 (it holds the whole prefix and
// could rotate through it), an IPv4 client by its address, and an
// IPv4-mapped peer as the IPv4 address it is.
func TestConnKey(t *testing.T) {
	key := func(s string) netip.Prefix {
		_, p, ok := connKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
		if !ok {
			t.Fatalf("connKey(%s) failed", s)
		}
		return p
	}
	for _, tc := range []struct{ a, b string }{
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2000"},
		{"10.0.0.1:1000", "[::ffff:10.0.0.1]:2000"},
	} {
		if key(tc.a) != key(tc.b) {
			t.Errorf("%s and %s count separately (%v, %v)", tc.a, tc.b, key(tc.a), key(tc.b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:3::1]:1000"},
		{"10.0.0.1:1000", "10.0.0.2:1000"},
	} {
		if key(tc.a) == key(tc.b) {
			t.Errorf("%s and %s share a budget (%v)", tc.a, tc.b, key(tc.a))
		}
	}
}

// perIPListener: within the cap connections are handed to the server;
// over it the connection is closed at once and counted; a closed
// connection frees its place; an exempt peer is never counted.
func TestPerIPListener(t *testing.T) {
	for _, exempt := range []bool{false, true} {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused_total", Help: "test"})
		logs := &testutil.SyncBuffer{}
		ln := limitPerIP(tcp, 2, func(netip.Addr) bool { return exempt }, refused, slog.New(slog.NewTextHandler(logs, nil)))
		accepted := make(chan net.Conn, 8)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- c
			}
		}()
		dial := func() net.Conn {
			c, err := net.Dial("tcp", tcp.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			c.SetDeadline(time.Now().Add(10 * time.Second))
			return c
		}
		next := func() net.Conn {
			select {
			case c := <-accepted:
				return c
			case <-time.After(10 * time.Second):
				t.Fatal("no connection accepted")
				return nil
			}
		}
		dial()
		dial()
		first, _ := next(), next()
		third := dial()
		if exempt {
			next()
			if got := counterValue(t, refused); got != 0 {
				t.Fatalf("exempt peer: %v refused", got)
			}
			ln.Close()
			continue
		}
		if _, err := third.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("third connection: %v, want it closed", err)
		}
		testutil.CheckFor(t, 10*time.Second, func() error {
			if counterValue(t, refused) != 1 {
				return errors.New("the refused connection was not counted")
			}
			return nil
		})
		if got := logs.String(); strings.Count(got, "MAX_CONNECTIONS_PER_IP") != 1 || !strings.Contains(got, "client_ip=127.0.0.1") {
			t.Fatalf("want one warning naming MAX_CONNECTIONS_PER_IP and the address, got %q", got)
		}
		first.Close()
		first.Close() // a second Close frees nothing more
		dial()
		next()
		over := dial()
		if _, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("connection over the cap after one was freed: %v, want it closed", err)
		}
		testutil.CheckFor(t, 10*time.Second, func() error {
			if counterValue(t, refused) != 2 {
				return errors.New("the second refusal was not counted")
			}
			return nil
		})
		if n := strings.Count(logs.String(), "MAX_CONNECTIONS_PER_IP"); n != 1 {
			t.Fatalf("%d warnings for two refusals within a minute, want 1", n)
		}
		ln.Close()
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// forwardedCheck warns (once an hour) and counts forwarded requests from
// an untrusted private or loopback peer, and leaves everything else alone.
func TestForwardedCheck(t *testing.T) {
	trusted, err := clientip.Parse("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	served := 0
	f := newForwardedCheck(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }),
		trusted, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	send := func(peer string, xff bool) {
		r := httptest.NewRequest(http.MethodPost, "/api/twilio/messaging/webhook", nil)
		r.RemoteAddr = peer
		if xff {
			r.Header.Set("X-Forwarded-For", "203.0.113.7")
		}
		f.ServeHTTP(httptest.NewRecorder(), r)
	}
	warnings := func() int { return strings.Count(logs.String(), "not in TRUSTED_PROXIES") }

	send("10.0.0.1:5000", true)      // a trusted proxy
	send("192.168.1.9:5000", false)  // no header
	send("203.0.113.9:5000", true)   // a public client writing the header itself
	send("[2001:db8::1]:5000", true) // the same over IPv6
	if counterValue(t, f.count) != 0 || warnings() != 0 {
		t.Fatalf("counted %v, warned %d times for requests that are not an untrusted proxy's: %s", counterValue(t, f.count), warnings(), logs.String())
	}

	send("192.168.1.9:5000", true)
	send("[::1]:5000", true)
	send("[fd00::5]:5000", true)
	if counterValue(t, f.count) != 3 || warnings() != 1 {
		t.Fatalf("counted %v, warned %d times, want 3 and 1: %s", counterValue(t, f.count), warnings(), logs.String())
	}
	line := strings.TrimSpace(logs.String())
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "peer=192.168.1.9") {
		t.Fatalf("warning %q does not name the peer at warn level", line)
	}
	now = now.Add(59 * time.Minute)
	send("127.0.0.1:5000", true)
	if warnings() != 1 {
		t.Fatalf("warned again within the hour: %s", logs.String())
	}
	now = now.Add(time.Minute)
	send("127.0.0.1:5000", true)
	if warnings() != 2 || counterValue(t, f.count) != 5 {
		t.Fatalf("after an hour: warned %d times, counted %v; want 2 and 5", warnings(), counterValue(t, f.count))
	}
	if served != 9 {
		t.Fatalf("%d of 9 requests reached the handler", served)
	}
}

// BenchmarkForwardedCheck: what the check adds to a request, without the
// header (Twilio posting directly), from a trusted proxy, and from an
// untrusted one once warned.
func BenchmarkForwardedCheck(b *testing.B) {
	trusted, _ := clientip.Parse("10.0.0.1")
	f := newForwardedCheck(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), trusted, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for _, bc := range []struct {
		name, peer string
		xff        bool
	}{
		{"direct", "198.51.100.7:5000", false},
		{"trusted_proxy", "10.0.0.1:5000", true},
		{"untrusted_proxy", "10.0.0.2:5000", true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/twilio/messaging/webhook", nil)
		r.RemoteAddr = bc.peer
		if bc.xff {
			r.Header.Set("X-Forwarded-For", "203.0.113.7")
		}
		w := httptest.NewRecorder()
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				f.ServeHTTP(w, r)
			}
		})
	}
}
