package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"switchboard/internal/testutil"
	"switchboard/store"
	"switchboard/test/twiliosim"
)

// clusterNodes is a cluster of real server processes on loopback ports
// sharing one PostgreSQL database, behind a round-robin balancer whose
// address is every node's PUBLIC_BASE_URL.
type clusterNodes struct {
	t     *testing.T
	db    string
	lb    *balancer
	nodes []*server
	env   []map[string]string
}

// balancer is the load balancer in front of the nodes: round-robin over
// the live ones.
type balancer struct {
	URL  string
	mu   sync.Mutex
	back []*url.URL
	next atomic.Uint64
}

func newBalancer(t *testing.T) *balancer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			b.mu.Lock()
			back := b.back[b.next.Add(1)%uint64(len(b.back))]
			b.mu.Unlock()
			r.SetURL(back)
			r.Out.Host = r.In.Host // the public host the signature covers
		},
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *balancer) set(nodes []*server) {
	var back []*url.URL
	for _, n := range nodes {
		if n == nil {
			continue
		}
		u, _ := url.Parse(n.URL)
		back = append(back, u)
	}
	b.mu.Lock()
	b.back = back
	b.mu.Unlock()
}

// startCluster starts n nodes (automanaged membership) and waits until
// they own every slot between them.
func startCluster(t *testing.T, n int, extra map[string]string) *clusterNodes {
	t.Helper()
	return startClusterOf(t, n, n, extra)
}

// startClusterOf configures n nodes (every one in the peer list) and
// starts the first started of them.
func startClusterOf(t *testing.T, n, started int, extra map[string]string) *clusterNodes {
	t.Helper()
	c := &clusterNodes{t: t, db: postgresURL(t), lb: newBalancer(t)}
	var peers, members, remotes []string
	for range n {
		remotes = append(remotes, freeAddr(t))
		members = append(members, freeAddr(t))
	}
	peers = members
	for i := range n {
		env := map[string]string{
			"DATABASE_URL":            c.db,
			"SWITCHBOARD_SECRET_KEY":  strings.Repeat("3c", 32),
			"PUBLIC_BASE_URL":         c.lb.URL,
			"CLUSTER_PROVIDER":        "automanaged",
			"CLUSTER_NAME":            "e2e",
			"CLUSTER_ADDR":            remotes[i],
			"CLUSTER_MEMBERSHIP_ADDR": members[i],
			"CLUSTER_PEERS":           strings.Join(peers, ","),
			// Longer than the default 3 s: the test machine runs other
			// tests beside these nodes, and a node that misses its
			// renewals for a lease's length exits (as it must).
			"CLUSTER_LEASE_TTL": "5s",
		}
		for k, v := range extra {
			env[k] = v
		}
		c.env = append(c.env, env)
	}
	c.nodes = make([]*server, n)
	var wg sync.WaitGroup
	for i := range started {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i] = startServer(t, "", c.env[i])
		}()
	}
	wg.Wait()
	c.lb.set(c.nodes)
	c.waitBalanced(started)
	return c
}

// waitBalanced waits until the live nodes own all 256 slots between them,
// each some.
func (c *clusterNodes) waitBalanced(live int) {
	c.t.Helper()
	testutil.CheckFor(c.t, 30*time.Second, func() error { return c.balanced(live) })
}

// balanced reports (nil) whether the live nodes own all 256 slots between
// them, each some.
func (c *clusterNodes) balanced(live int) error {
	total, nodes := 0, 0
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		owned := int(scrapeQuiet(n.MetricsURL)["switchboard_cluster_owned_slots"])
		total += owned
		if owned > 0 {
			nodes++
		}
	}
	if total != 256 || nodes != live {
		return fmt.Errorf("%d slots owned by %d nodes, want 256 by %d", total, nodes, live)
	}
	return nil
}

// scrapeQuiet is scrape for a server that may be down: no samples then.
func scrapeQuiet(u string) map[string]float64 {
	resp, err := httpClient.Get(u)
	if err != nil {
		return map[string]float64{}
	}
	defer resp.Body.Close()
	return samples(resp.Body)
}

// textVia posts a signed webhook for the line to node i (signed for the
// public URL, as Twilio signs it) and retries it, with the same
// MessageSid, on another live node when the node does not answer 200 — as
// Twilio's retry through the balancer would. It returns the node that
// acknowledged it.
func (c *clusterNodes) textVia(l *line, i int, from, body, sid string) int {
	c.t.Helper()
	public := strings.Replace(l.Webhook, l.srv.URL, c.lb.URL, 1)
	params := twiliosim.InboundParamsFor(l.AccountSID, from, l.Number, body, sid)
	for attempt := range 40 {
		n := c.nodes[(i+attempt)%len(c.nodes)]
		if n == nil {
			continue
		}
		req, err := twiliosim.NewSignedRequest(context.Background(), public, l.AuthToken, params)
		if err != nil {
			c.t.Fatal(err)
		}
		u, _ := url.Parse(n.URL)
		req.URL.Host = u.Host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return (i + attempt) % len(c.nodes)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("no node acknowledged %s's %q", from, body)
	return -1
}

// TestClusterKillNode: three nodes share PostgreSQL; webhooks go to every
// node; one node is killed (kill -9) mid-stream. Every acknowledged
// message gets exactly one reply, in per-sender order, and the turn
// numbers show that each conversation continued with its history on the
// node that took it over. The killed node restarts, rejoins and takes its
// share again, and the conversations still continue.
func TestClusterKillNode(t *testing.T) {
	c := startCluster(t, 3, nil)
	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, c.nodes[0], sim, lineOptions{})

	const senders, rounds = 24, 9
	from := func(s int) string { return fmt.Sprintf("+1555900%04d", s) }
	var sent [senders]int
	round := func(r int) {
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.textVia(l, s+r, from(s), fmt.Sprintf("m%d", r+1), twiliosim.NewMessageSID())
				sent[s]++
			}()
		}
		wg.Wait()
	}
	for r := range 3 {
		round(r)
	}
	// Kill node 2 while the next round is on its way.
	killed := make(chan time.Time, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.nodes[1].kill9()
		killed <- time.Now()
	}()
	round(3)
	<-killed
	c.nodes[1] = nil
	c.lb.set(c.nodes)
	for r := 4; r < 6; r++ {
		round(r)
	}
	check := func(n int) {
		t.Helper()
		testutil.CheckFor(t, 30*time.Second, func() error {
			for s := range senders {
				if got := l.replies(from(s)); len(got) < n {
					return fmt.Errorf("%s: %d replies, want %d", from(s), len(got), n)
				}
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond) // room for a late duplicate
		for s := range senders {
			if got := l.replies(from(s)); strings.Join(got, "|") != strings.Join(inOrder(n), "|") {
				t.Fatalf("%s: replies %q, want %q", from(s), got, inOrder(n))
			}
		}
	}
	check(6)

	// The killed node restarts on its old addresses and rejoins.
	c.nodes[1] = startServer(t, "", c.env[1])
	c.lb.set(c.nodes)
	c.waitBalanced(3)
	for r := 6; r < rounds; r++ {
		round(r)
	}
	check(rounds)
	var moves float64
	for _, n := range c.nodes {
		moves += scrapeQuiet(n.MetricsURL)["switchboard_cluster_slot_moves_total{direction=\"acquired\"}"]
	}
	if moves == 0 {
		t.Fatal("no slot moves counted")
	}
	// Every cluster series the Grafana dashboard queries is served.
	dash, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	for _, n := range c.nodes {
		for k := range scrapeQuiet(n.MetricsURL) {
			page.WriteString(k + "\n")
		}
	}
	for _, name := range regexp.MustCompile(`switchboard_cluster_[a-z_]+`).FindAllString(string(dash), -1) {
		if !strings.Contains(page.String(), name) {
			t.Errorf("the dashboard queries %s, which no node serves", name)
		}
	}
}

// TestClusterPausedOwnerIsFenced: a node paused (SIGSTOP) past its lease
// loses its slots to the others, which answer its senders; when it wakes
// up it finds its lease gone and exits (its supervisor starts it again,
// and it takes its share back), and no sender is answered twice.
func TestClusterPausedOwnerIsFenced(t *testing.T) {
	c := startCluster(t, 2, nil)
	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, c.nodes[0], sim, lineOptions{})
	const senders = 16
	from := func(s int) string { return fmt.Sprintf("+1555910%04d", s) }
	for s := range senders {
		c.textVia(l, s, from(s), "m1", twiliosim.NewMessageSID())
	}
	waitReplies(t, l, senders, from, 1)
	// The survivor takes every slot once the paused node's lease expires.
	paused := c.pause(1)
	for s := range senders {
		c.textVia(l, 0, from(s), "m2", twiliosim.NewMessageSID())
	}
	waitReplies(t, l, senders, from, 2)
	// On waking up it finds its lease gone and exits, for its supervisor
	// to start a new member.
	c.wake(paused)
	c.nodes[1] = startServer(t, "", c.env[1])
	c.lb.set(c.nodes)
	c.waitBalanced(2)
	for s := range senders {
		c.textVia(l, s, from(s), "m3", twiliosim.NewMessageSID())
	}
	waitReplies(t, l, senders, from, 3)
	time.Sleep(500 * time.Millisecond)
	for s := range senders {
		want := []string{"R1: m1", "R2: m2", "R3: m3"}
		if got := l.replies(from(s)); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: replies %q, want %q", from(s), got, want)
		}
	}
}

// TestClusterGracefulHandover: a node stopped with SIGTERM frees its
// senders at once — the lease here is a minute, so the survivor can only
// have them because they were handed over — and the survivor continues
// their conversations and ends them at their idle timeout.
func TestClusterGracefulHandover(t *testing.T) {
	c := startCluster(t, 2, map[string]string{"CLUSTER_LEASE_TTL": "60s", "TWILIO_MESSAGING_SESSION_TIMEOUT_MS": "8000"})
	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, c.nodes[0], sim, lineOptions{})
	const senders = 16
	from := func(s int) string { return fmt.Sprintf("+1555920%04d", s) }
	for s := range senders {
		c.textVia(l, s, from(s), "m1", twiliosim.NewMessageSID())
	}
	waitReplies(t, l, senders, from, 1)
	if code := c.nodes[1].terminate(); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	c.nodes[1] = nil
	c.lb.set(c.nodes)
	c.waitBalanced(1)
	for s := range senders {
		c.textVia(l, 0, from(s), "m2", twiliosim.NewMessageSID())
	}
	waitReplies(t, l, senders, from, 2)
	for s := range senders {
		want := []string{"R1: m1", "R2: m2"}
		if got := l.replies(from(s)); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: replies %q, want %q", from(s), got, want)
		}
	}
	// Every conversation, moved or not, ends at its idle timeout.
	testutil.CheckFor(t, 30*time.Second, func() error {
		cs := l.conversations(t)
		if len(cs) != senders {
			return fmt.Errorf("%d conversations, want %d", len(cs), senders)
		}
		for _, cv := range cs {
			if cv.Status != "finished" || !strings.Contains(string(cv.StatusDetails), "inactivity_timeout") {
				return fmt.Errorf("conversation %s: %s %s", cv.ID, cv.Status, cv.StatusDetails)
			}
		}
		return nil
	})
}

// senderOwnedBy returns a sender address whose session key belongs to a
// slot the node at addr (its CLUSTER_ADDR) owns now.
func (c *clusterNodes) senderOwnedBy(l *line, addr string) string {
	return c.sendersOwnedBy(l, addr, 1)[0]
}

// sendersOwnedBy returns n sender addresses whose session keys belong to
// slots the node at addr owns now.
func (c *clusterNodes) sendersOwnedBy(l *line, addr string, n int) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out []string
	for i := 0; i < 10000 && len(out) < n; i++ {
		from := fmt.Sprintf("+1555930%04d", i)
		slot := store.SlotOf(store.SessionKey{ProjectID: l.ProjectID, ChannelProviderID: l.ProviderID, To: l.Number, From: from})
		var owner string
		err := conn.QueryRow(ctx, `SELECT n.addr FROM cluster_slots s JOIN cluster_nodes n ON n.node = s.owner WHERE s.slot = $1`, slot).Scan(&owner)
		if err == nil && owner == addr {
			out = append(out, from)
		}
	}
	if len(out) < n {
		c.t.Fatalf("%d senders owned by %s, want %d", len(out), addr, n)
	}
	return out
}

// TestClusterViewsDisagree: while the nodes' views of the membership
// differ — here the first node is never told of the third, as when a
// provider lags — the first keeps its slots, some of which the second
// sees as the third's. The third refuses a message for such a slot (it
// does not own it), and the second then hands it to the owner the
// database names, the first node, which answers the sender's messages
// that reach it directly too: a sender whose texts come through both nodes
// is answered in order and at once, not after the rescan.
func TestClusterViewsDisagree(t *testing.T) {
	c := startClusterOf(t, 3, 2, nil)
	c.env[0]["CLUSTER_PEERS"] = c.env[0]["CLUSTER_MEMBERSHIP_ADDR"] + "," + c.env[1]["CLUSTER_MEMBERSHIP_ADDR"]
	if code := c.nodes[0].terminate(); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	c.nodes[0] = startServer(t, "", c.env[0])
	c.lb.set(c.nodes)
	c.waitBalanced(2)
	c.nodes[2] = startServer(t, "", c.env[2])
	c.lb.set(c.nodes)
	c.waitBalanced(3)

	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, c.nodes[0], sim, lineOptions{})
	// Senders of the first node's slots: about a third of them are the
	// third node's by the second node's view.
	senders := c.sendersOwnedBy(l, c.env[0]["CLUSTER_ADDR"], 24)
	const texts = 6
	var wg sync.WaitGroup
	for _, from := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range texts {
				c.textVia(l, k%2, from, fmt.Sprintf("m%d", k+1), twiliosim.NewMessageSID())
			}
		}()
	}
	wg.Wait()
	waitReplies(t, l, len(senders), func(s int) string { return senders[s] }, texts)
	time.Sleep(300 * time.Millisecond) // room for a late duplicate
	for _, from := range senders {
		if got, want := l.replies(from), inOrder(texts); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: replies %q, want %q", from, got, want)
		}
	}
	m := scrapeQuiet(c.nodes[1].MetricsURL)
	if m[`switchboard_cluster_settled_total{outcome="handed"}`] == 0 {
		t.Fatal("the second node handed no message to the owner in the database")
	}
	if n := m[`switchboard_cluster_settled_total{outcome="rescan"}`]; n != 0 {
		t.Fatalf("%v messages left to the rescan", n)
	}
}

// TestClusterStaleOwnerTurnInFlight: the owner of a sender is paused while
// its turn waits for the LLM. The other node takes the sender once the
// paused node's lease expires and answers the message; when the paused
// node wakes up, its turn cannot commit or send (fencing), so the sender
// is answered once — and the LLM was asked twice, since the stale owner's
// turn never counted.
func TestClusterStaleOwnerTurnInFlight(t *testing.T) {
	c := startCluster(t, 2, nil)
	sim := newSim(t, twiliosim.Options{})
	release := make(chan struct{})
	arrived := make(chan struct{}, 8)
	var calls atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"r","object":"response","status":"completed","output":[{"type":"message","id":"m","role":"assistant","status":"completed","content":[{"type":"output_text","text":"the answer","annotations":[]}]}]}`))
	}))
	defer fake.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	l := setupLine(t, c.nodes[0], sim, lineOptions{llmType: "openai", llmConfig: map[string]any{"apiKey": "sk-test", "baseUrl": fake.URL + "/v1"}})
	from := c.senderOwnedBy(l, c.env[1]["CLUSTER_ADDR"])
	c.textVia(l, 0, from, "hello", twiliosim.NewMessageSID())
	select {
	case <-arrived: // the owner's turn waits for the LLM
	case <-time.After(10 * time.Second):
		t.Fatal("the owner never asked the LLM")
	}
	stale := c.pause(1)
	close(release)
	testutil.CheckFor(t, 20*time.Second, func() error {
		if got := l.replies(from); len(got) != 1 {
			return fmt.Errorf("%d replies", len(got))
		}
		return nil
	})
	c.wake(stale)
	time.Sleep(500 * time.Millisecond) // room for a late second reply
	if got := l.replies(from); len(got) != 1 || got[0] != "the answer" {
		t.Fatalf("replies %q, want one", got)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("the LLM was asked %d times, want 2 (the stale turn, and the new owner's)", n)
	}
	// The stale turn was refused by the store (fencing) when it woke up,
	// and not committed: one user message stored.
	if !strings.Contains(stale.logs.String(), "refused by fencing") {
		t.Fatal("the stale owner's turn was not refused by fencing")
	}
	users := 0
	for _, cv := range l.conversations(t) {
		for _, e := range l.events(t, cv.ID) {
			var d struct{ Role string }
			if e.EventType == "message" && json.Unmarshal(e.EventData, &d) == nil && d.Role == "user" {
				users++
			}
		}
	}
	if users != 1 {
		t.Fatalf("%d user messages stored, want 1", users)
	}
}

// waitReplies waits until each of the senders has at least n replies.
// inOrder is what a sender who texted "m1" … "mn" gets from the scripted
// AI ("R{{.Turn}}: {{.Text}}"): each text answered once, in order.
func inOrder(n int) []string {
	var out []string
	for k := 1; k <= n; k++ {
		out = append(out, fmt.Sprintf("R%d: m%d", k, k))
	}
	return out
}

func waitReplies(t *testing.T, l *line, senders int, from func(int) string, n int) {
	t.Helper()
	testutil.CheckFor(t, 20*time.Second, func() error {
		for s := range senders {
			if got := l.replies(from(s)); len(got) < n {
				return fmt.Errorf("%s: %d replies, want %d", from(s), len(got), n)
			}
		}
		return nil
	})
}

// pause stops node i (SIGSTOP), takes it out of the balancer and waits
// until the others own every slot: its lease has expired.
func (c *clusterNodes) pause(i int) *server {
	c.t.Helper()
	n := c.nodes[i]
	if err := n.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = nil
	c.lb.set(c.nodes)
	live := 0
	for _, x := range c.nodes {
		if x != nil {
			live++
		}
	}
	c.waitBalanced(live)
	return n
}

// wake resumes a paused node (SIGCONT), which must find its lease gone,
// log it and exit with status 3.
func (c *clusterNodes) wake(n *server) {
	c.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		c.t.Fatal("the paused node did not exit after its lease expired")
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 3 {
		c.t.Fatalf("the paused node exited %d, want 3", code)
	}
	if !strings.Contains(n.logs.String(), "cluster lease lost") {
		c.t.Fatal("the paused node did not log its lost lease")
	}
}

// TestClusterJoinUnderLoad: a third node joins two that are answering a
// stream of texts. It takes its share of the senders — their sessions
// drain on the old owners and move between turns — and every message is
// answered once, in order, each conversation continuing.
func TestClusterJoinUnderLoad(t *testing.T) {
	c := startClusterOf(t, 3, 2, nil)
	sim := newSim(t, twiliosim.Options{})
	l := setupLine(t, c.nodes[0], sim, lineOptions{})
	const senders = 24
	from := func(s int) string { return fmt.Sprintf("+1555940%04d", s) }
	round := func(r int) {
		var nodes []int
		for i, n := range c.nodes {
			if n != nil {
				nodes = append(nodes, i)
			}
		}
		var wg sync.WaitGroup
		for s := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.textVia(l, nodes[(s+r)%len(nodes)], from(s), fmt.Sprintf("m%d", r+1), twiliosim.NewMessageSID())
			}()
		}
		wg.Wait()
	}
	round(0)
	joined := make(chan *server, 1)
	go func() { joined <- startServer(t, "", c.env[2]) }()
	// Texts keep coming while the third node starts, joins and takes its
	// slots, and a few rounds after.
	rounds, after := 1, 0
	for ; rounds < 200 && after < 3; rounds++ {
		round(rounds)
		select {
		case n := <-joined:
			c.nodes[2] = n
			c.lb.set(c.nodes)
		default:
		}
		if c.nodes[2] != nil && c.balanced(3) == nil {
			after++
		}
	}
	if after < 3 {
		t.Fatalf("the third node did not take its share within %d rounds", rounds)
	}
	waitReplies(t, l, senders, from, rounds)
	time.Sleep(500 * time.Millisecond) // room for a late duplicate
	for s := range senders {
		if got, want := l.replies(from(s)), inOrder(rounds); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: replies %q, want %q", from(s), got, want)
		}
	}
	var moved float64
	for _, n := range c.nodes {
		moved += scrapeQuiet(n.MetricsURL)["switchboard_cluster_slot_moves_total{direction=\"released\"}"]
	}
	if moved == 0 {
		t.Fatal("no slot was released to the node that joined")
	}
	t.Logf("%d rounds of %d texts while the third node joined", rounds, senders)
}

// TestClusterUnseenMemberStepsDown: a node that the other live nodes do
// not see — here they are not told of it; in production Proto.Actor blocks
// a member whose health check failed once — cannot take its share (their
// leases are valid) while they route its senders elsewhere. It finds out
// from the views the nodes report in the database, gives up and exits (3)
// for its supervisor to start a new member.
func TestClusterUnseenMemberStepsDown(t *testing.T) {
	c := startClusterOf(t, 3, 2, nil)
	// The first two never poll the third one's membership endpoint.
	for i := range 2 {
		c.env[i]["CLUSTER_PEERS"] = c.env[0]["CLUSTER_MEMBERSHIP_ADDR"] + "," + c.env[1]["CLUSTER_MEMBERSHIP_ADDR"]
	}
	for i := range 2 {
		if code := c.nodes[i].terminate(); code != 0 {
			t.Fatalf("SIGTERM: exit %d", code)
		}
		c.nodes[i] = startServer(t, "", c.env[i])
	}
	c.lb.set(c.nodes)
	c.waitBalanced(2)
	unseen := startServer(t, "", c.env[2])
	select {
	case <-unseen.exited:
	case <-time.After(45 * time.Second):
		t.Fatal("the node nobody sees did not step down")
	}
	if code := unseen.cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if !strings.Contains(unseen.logs.String(), "left out of the membership") {
		t.Fatal("the node did not log why it stepped down")
	}
	// The two that see each other own everything still.
	c.waitBalanced(2)
}
