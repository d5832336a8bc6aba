package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/cmd/loadgen/internal/check"
	"switchboard/cmd/loadgen/internal/report"
	"switchboard/providers/twilio"
)

// Deliveries go round-robin over the live nodes, each posted to the node's
// own address and signed over the public URL the nodes were told, as a
// load balancer in front of a cluster forwards Twilio's request.
func TestDeliveriesSpreadOverNodesSignedForThePublicURL(t *testing.T) {
	const public = "https://sms.example.com/sb"
	var got [3]atomic.Int64
	var badSig atomic.Int64
	servers := make([]*httptest.Server, 3)
	for i := range servers {
		servers[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.ParseForm(); err != nil {
				t.Error(err)
			}
			// What the server verifies with PUBLIC_BASE_URL set.
			if !twilio.ValidSignature("token", public+r.RequestURI, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
				badSig.Add(1)
				http.Error(w, "bad signature", http.StatusForbidden)
				return
			}
			got[i].Add(1)
			fmt.Fprint(w, "<Response/>")
		}))
		defer servers[i].Close()
	}
	f := &fleet{public: public + "/"}
	for i, s := range servers {
		f.nodes = append(f.nodes, &node{index: i + 1, url: s.URL})
	}
	f.nodes[2].dead.Store(true) // killed: no deliveries
	l := &line{AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "token", Number: "+15550001000", WebhookQuery: "apiKey=k&stageId=s"}
	f.setLine(l)
	if want := servers[0].URL + webhookPath + "?apiKey=k&stageId=s"; f.nodes[0].post != want {
		t.Fatalf("post URL %q, want %q", f.nodes[0].post, want)
	}
	if want := public + webhookPath + "?apiKey=k&stageId=s"; f.nodes[1].sign != want {
		t.Fatalf("signed URL %q, want %q", f.nodes[1].sign, want)
	}
	// One sender, 10 messages: spread per delivery, not per sender.
	cfg := &config{senders: 1, messages: 10, concurrency: 4, requestTimeout: 10 * time.Second, burstSize: 1}
	r := newRunner(cfg, f, l, check.New(), report.NewRecorder(time.Now()))
	r.run(context.Background(), 1, 1)
	if badSig.Load() != 0 || r.non200.Load() != 0 {
		t.Fatalf("%d bad signatures, %d non-200 (errors %v)", badSig.Load(), r.non200.Load(), r.errs)
	}
	if got[0].Load() != 5 || got[1].Load() != 5 || got[2].Load() != 0 {
		t.Fatalf("deliveries per node %d %d %d, want 5 5 0", got[0].Load(), got[1].Load(), got[2].Load())
	}
	for i, n := range f.nodes {
		if n.deliveries.Load() != got[i].Load() || n.accepted.Load() != got[i].Load() {
			t.Errorf("node %d counted %d deliveries, %d accepted; it got %d", n.index, n.deliveries.Load(), n.accepted.Load(), got[i].Load())
		}
	}
}

// Without a public URL each node is signed for at its own address.
func TestSetLineWithoutPublicURL(t *testing.T) {
	f := &fleet{nodes: []*node{{index: 1, url: "http://127.0.0.1:1/"}, {index: 2, url: "http://127.0.0.1:2"}}}
	f.setLine(&line{WebhookQuery: "apiKey=k"})
	for _, n := range f.nodes {
		if n.sign != n.post || !strings.HasSuffix(n.post, ":"+fmt.Sprint(n.index)+webhookPath+"?apiKey=k") {
			t.Errorf("node %d: post %q, sign %q", n.index, n.post, n.sign)
		}
	}
}

// The kill watch counts, from the kill, the first reply a survivor sent to
// a message delivered after it, and the first to a sender the killed
// node answered last.
func TestKillWatch(t *testing.T) {
	start := time.Now()
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	k := &killWatch{node: 2, attributed: true}
	k.reply("+a", 2, at(0), at(10))  // a's last reply before the kill: node 2
	k.reply("+b", 1, at(0), at(20))  // b: node 1
	k.reply("+c", 2, at(0), at(30))  // c: node 2…
	k.reply("+c", 1, at(30), at(40)) // …then node 1
	if st := k.stats(start); st.Killed || st.KillToFirstReplySeconds != nil {
		t.Fatalf("before the kill: %+v", st)
	}
	k.killed(at(1000), 4242)
	k.reply("+a", 2, at(1000), at(1005)) // the dying node's: ignored
	k.reply("+b", 1, at(900), at(1100))  // delivered before the kill, not moved
	k.reply("+b", 1, at(1200), at(1300)) // delivered after the kill: 300 ms
	k.reply("+a", 1, at(500), at(2500))  // a moved: 1500 ms
	k.reply("+b", 1, at(1250), at(1280)) // earlier still: 280 ms
	st := k.stats(start)
	if !st.Killed || st.Node != 2 || st.PID != 4242 || st.AtSeconds != 1 || st.MovedSenders == nil || *st.MovedSenders != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if v := st.KillToFirstReplySeconds; v == nil || *v != 0.28 {
		t.Fatalf("kill to first reply %v, want 0.28 s", v)
	}
	if v := st.KillToFirstMovedReplySeconds; v == nil || *v != 1.5 {
		t.Fatalf("kill to first moved reply %v, want 1.5 s", v)
	}
	if s := st.Summary(); !strings.Contains(s, "node 2 (pid 4242) got SIGKILL 1.00 s into the load") || !strings.Contains(s, "0.280 s after the kill") || !strings.Contains(s, "1 senders node 2 answered last 1.500 s after the kill") {
		t.Fatalf("summary %q", s)
	}
}
