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
package actors
