// Package actors is Switchboard's session engine and the only importer of
// protoactor-go. The rest of the program sees an Engine: Accept commits an
// inbound message and hands it to its session, Recover re-delivers what a
// previous run left unfinished, Close drains.
//
// Supervision tree:
//
//	root guardian (one-for-one, Resume: a failing registry keeps its map)
//	├── registry 0 ─┬─ session (one-for-one, Restart ≤5/min, then Stop)
//	│               ├─ session
//	│               └─ …
//	├── registry 1 ─── …
//	└── registry N-1   (N = 2×GOMAXPROCS; a key's shard is hash(key) mod N)
//
// Ownership:
//   - A registry owns its shard's map session key → (session PID, state,
//     forwarded count, stopping flag, buffer). It is the only sender of
//     inbound messages to sessions.
//   - A session owns its conversation: the queue of messages not yet
//     answered, the conversation id/stage/turn count, lastInbound, and the
//     busy flag. History stays in the store; an idle session holds none. Its
//     state lives in a sessionState the registry allocates and sends as the
//     session's first message (attach; all sessions share one Props); on a
//     supervisor restart the failing instance hands it to the new one, so
//     the restart keeps it.
//   - Turn goroutines own nothing: they get a snapshot, do the I/O
//     (store, LLM, Twilio) and report back with turnDone.
//
// Message flow:
//
//	webhook ─Accept─► group committer (one transaction per batch)
//	        └─────► registry ─deliver─► session ─go runTurn─► store/LLM/Twilio
//	                                        ◄──turnDone───────┘
//	send API ─Start─► registry ─deliver─► (the recipient's session)
//
// A conversation the business starts (start.go) is a stored start, handed
// to the recipient's session as a deliver that carries it instead of a
// text: its turn consumes no inbound message, creates the conversation
// (direction outgoing) with the opening message and is committed by the
// group committer like any turn. A commit of unknown outcome is settled by
// the conversation's one turn row (TurnFinder with inbound id 0); a second
// run of the start finds the start finished or its conversation present.
//
// Expiry handshake (docs/architecture.md §3): the engine's idle wheel (idle.go: one
// goroutine, a slot per tick, no timer per session) makes a session check
// lastInbound; if it has been idle for the timeout and nothing is in
// flight, it sends stopRequest{processed} to its registry. The registry
// grants only if it forwarded exactly `processed` messages (otherwise the
// session stays and receives them), marks the entry stopping and buffers
// any later message for the key. On the grant the session ends its
// conversation (status finished, conversation_end inactivity_timeout) and
// stops; on Terminated the registry spawns an unnamed successor and hands
// it the buffered messages in order, so a message that raced with expiry
// starts the next conversation and is never lost.
//
// Storage per message (store/internal/sqlcore/turns.go): the inbound
// message is one INSERT before the 200; the turn is one INSERT of one row
// that holds its events, its outbox parts and the ids of the inbound
// messages it consumed (the conversation's deadline is its last turn's);
// a send result is one INSERT of a narrow row (turn, part) of the sends
// table, which also carries its delivery event; a status callback is one
// UPDATE of that row, found by the outbox id in its StatusCallback URL. Three statements per
// answered message, and two index insertions at random positions (the
// inbound message's provider+MessageSid, the turn's conversation+id); the
// first message of a conversation adds the conversation's INSERT.
// Bookkeeping is done in bulk, by UPDATEs that ride a commit at most once
// a second (or per 500 items): consumed messages are marked done, and
// turns whose parts all have results leave turns_unsent; until then, and
// after a crash, the turn and sends rows are what say a message was
// consumed or a part sent.
//
// Durability (docs/architecture.md §6): one flush per message. The group
// committer (committer.go) writes each batch as soon as it is formed,
// without waiting for the disk (store.DeferredCommitter), and flushes once
// for everything written since the last flush. Two things wait for a
// flush: the webhook's 200 (its message must be on disk) and a turn's
// first send (the turn's row — its events, the inbound messages it
// consumed, its outbox parts — must be on disk, or a restart would run
// the turn again and answer twice). A flush covers every write before it.
// An inbound message waits up to COMMIT_SYNC_WAIT_US for its turn; a turn
// that finds an inbound message waiting is committed durably at once, so
// with a quick LLM a message and its turn share one flush at any rate. A
// message whose turn does not come within COMMIT_SYNC_WAIT_US (a remote
// LLM, a busy session) is flushed on its own; its turn, finding no one
// waiting, is written and waits for the next webhook's flush — a tenth of
// the time the turn took, at most COMMIT_TURN_WAIT_US (50 ms), so a reply
// is held back by at most a tenth of its LLM call — and sends once that
// flush has covered it. At a steady rate each message then costs one
// fsync however slow the LLM (TestSlowTurnRidesTheNextFlush, 50/s with a
// 310 ms LLM: 1.08 fsyncs per message, the last turns of the stream
// flushing without a webhook to ride, against 2.0 without the wait); only
// a turn with no webhook within its wait flushes alone. A line whose
// traffic is too sparse for that can raise COMMIT_SYNC_WAIT_US towards
// its LLM's usual time (up to 10 s, below Twilio's 15 s webhook timeout):
// the 200 then waits for the turn, whose flush covers both.
// The wait delays nothing on disk: the turn's reply is not sent before
// its flush, so every crash point below holds as written. Send
// results are never flushed for their own sake: they ride the next commit
// and the next flush. A flush that fails while the store still works (a
// dropped PostgreSQL connection) is tried again rather than failing writes
// that are in; one the store cannot vouch for (a failed fsync, PostgreSQL
// lost unflushed commits) latches the store: it refuses writes and reports
// itself unready until the server restarts from what is on disk.
//
// Two failure models. A crash of the process (kill -9, OOM) keeps every
// written transaction: SQLite's WAL frames and PostgreSQL's asynchronous
// commits are out of the process when the write returns. A power loss
// (SQLite) or a crash of PostgreSQL keeps only what was flushed: SQLite
// recovers the WAL up to the last frame that checks out, a prefix in
// commit order (tested with sqlite.WithPowerLossModel and CrashCopy,
// powerloss_test.go); PostgreSQL's loss of unflushed commits is detected
// by the epoch token (store/postgres/durable.go), after which the store
// refuses writes until the server restarts. For each crash point, what is
// on disk and what the restart does:
//
//   - Before the 200, message written but not flushed. Process crash: the
//     row is on disk; the restart gives it its turn, and Twilio's retry
//     of the unanswered webhook is recognised as a duplicate. Power loss:
//     the row may be gone; Twilio's retry is then new and gets the one
//     turn. No reply can have gone out: a send waits for a flush that
//     covers its turn, which was written after the message.
//   - After the 200: the message is on disk, pending; the restart gives
//     it its turn (PendingInbound, in commit order).
//   - Turn written, before its flush: nothing sent. Process crash: the
//     turn row is on disk, its parts pending; the restart asks Twilio
//     (Finder), finds nothing and sends them once. Power loss: the turn is
//     gone and the message pending again; the restart runs the turn and
//     sends its reply, the only one.
//   - After the turn's flush, before the sweep marks its messages done:
//     the messages are still marked pending, but the turn row lists them;
//     PendingInbound reads the turns written since the oldest pending
//     message, leaves out (and marks done) every message one of them
//     consumed, and the turn is not run again. The sweep needs no flush
//     of its own for the same reason.
//   - After the turn's flush, before the send: the parts are on disk,
//     pending (the turn is in turns_unsent, no sends row); the restart
//     reconciles with Twilio and sends once.
//   - After the send, before its result is written (or flushed): the part
//     has no sends row on disk; the restart asks Twilio, finds the message
//     and records it as sent instead of sending it again. Only if Twilio
//     cannot be asked is it sent (a rare double text beats a lost reply).
//   - After the send result is flushed by a later flush: nothing to do.
//
// A conversation a turn creates or ends is part of the turn's write and
// follows the same argument; an expiry (conversation_end) sends nothing.
//
// Cluster (cluster.go). Several nodes share one PostgreSQL database; any
// node accepts any webhook. Membership comes from Proto.Actor's cluster
// provider (automanaged: each node polls the others' membership
// endpoints); messages between nodes are protobuf over Proto.Actor remote
// (clusterpb). A session key belongs to one of 256 slots (store.SlotOf);
// a slot's owner is chosen by rendezvous hashing over the live members'
// actor addresses, so a membership change moves only the slots of the node
// that left (or the share of the node that joined). Grain placement
// (disthash) is not used: sessions stay this package's actors.
//
// Ownership is fenced in the database (store.ClusterStore). Each node
// incarnation holds a lease, renewed every fifth of CLUSTER_LEASE_TTL; a
// slot row names its owner. A node runs a slot's sessions only after it
// has acquired the row, which succeeds when the slot is free, or when its
// owner's lease has expired — by the database's clock, and only after the
// owner's commits in progress have ended (the taker locks the owner's
// lease row FOR UPDATE; every fenced commit holds it FOR KEY SHARE). Every
// commit that carries a turn checks, in its own transaction, that the
// node's lease is valid and that it owns the turn's slot; otherwise the
// store refuses the whole batch (EFENCED) and the turn sends nothing, its
// messages staying pending for the owner. A node starts a send only while
// it still owns the slot and its lease is valid for a third of its TTL
// more (by its own monotonic clock, counted from the start of the renewal
// that extended it, so never later than the database's expiry).
//
// Flow of a message in a cluster: the receiving node commits it (the
// webhook's 200 still waits for that) and hands it to the slot's owner
// (clusterpb.HandOff), waiting for the answer, so that a sender's next
// message cannot overtake it. The owner runs it; a node that does not run
// the slot refuses it. Hand-offs are retried (to the owner as the
// membership says at each attempt) and are idempotent by message id: a
// registry drops a message it delivered in the last 30 to 60 s. A hand-off
// names the process (Proto.Actor member id) or the incarnation it is meant
// for, and any other refuses it: Proto.Actor keeps what it could not send
// to a dead node and delivers it once something answers at that address
// again — maybe the node's successor, which must not run a message the
// others answered meanwhile. Views of the membership differ between nodes
// for a moment after a change, so the node this one sees as the owner may
// not own the slot yet while the owner in the database keeps answering the
// sender's messages that other nodes hand it. A message refused, once
// durable, therefore goes to the slot's owner as the database names it
// (settle); it stays pending only when a later load is certain to find it:
// the slot is free or its owner's lease expired (the next owner loads it),
// or the owner refused it (it is acquiring the slot, and loads it, or
// releasing it, and the next owner does). What no owner answered is found
// by the owner's rescan (rescan.go).
//
// Membership change: when the members change, each node computes the
// slots it should own. A slot that should move away is released gently:
// the registries stop routing to its sessions (new work stays pending in
// the store), each session finishes what it holds and stops without
// ending its conversation (moveOut), and once the slot has no live session
// the node frees its row. The new owner acquires the row, then loads the
// slot's pending work — unsent replies (reconciled with Twilio as after a
// crash), active conversations (they expire at their stored deadlines),
// unanswered messages in commit order, pending starts — and only then lets
// hand-offs for the slot through, so order is kept. A conversation's state
// is in the store (history, turn count, deadline), so a moved session
// continues it. SIGTERM frees every slot after draining, without waiting
// for the failure detector: the others acquire the slots at their next
// balance (every 250 ms). A node that dies keeps its slots until its
// lease expires (at most CLUSTER_LEASE_TTL after its last renewal).
//
// Failure cases fencing covers:
//   - A node killed: its lease expires; the others take its slots and
//     reconcile its unsent replies with Twilio.
//   - A node paused (GC, SIGSTOP, a stalled VM) or cut off from the
//     database past its lease: on waking, its commits are refused (lease
//     expired), it sends nothing (its own clock says its lease ran out),
//     its renewal fails, and it gives up every slot and joins again as a
//     new incarnation.
//   - A node the others dropped from their membership while it lived
//     (Proto.Actor blocks such a member for good): its lease stays valid,
//     so nobody can take its slots, while the others route its senders
//     elsewhere. Every node records its view of the membership in the
//     database every 2 s; a node that most live nodes have left out for
//     15 s gives up its slots (the server exits, for its supervisor to
//     start a new member).
//   - Two nodes that disagree about the membership (a partition between
//     them, a provider that lags): both may want a slot, only the row's
//     owner can commit, and the other cannot take it while the owner's
//     lease is valid. Work for the slot goes to the row's owner (settle),
//     or waits in the store until the views agree; none is run twice.
//   - A send in flight when its node is cut off: a send starts only with a
//     third of the lease left, and the next owner asks Twilio before
//     sending an unsent part (Finder), so a double text needs a send that
//     takes longer than that margin and reaches Twilio after the lookup.
package actors
