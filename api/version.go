package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
)

// versionInfo is Bonsai's answer to GET /version (docs/api/version.md and
// the console's VersionResponse): clients compare it between deployments.
type versionInfo struct {
	// Version is the binary's version (`switchboard version`).
	Version string `json:"version"`
	// RESTSchemaHash changes when the REST contract changes. Switchboard
	// has no OpenAPI document to hash; it hashes its route table (every
	// method and path), which changes when a route is added or removed.
	RESTSchemaHash string `json:"restSchemaHash"`
	// WSSchemaHash is "": Switchboard has no WebSocket API.
	WSSchemaHash string `json:"wsSchemaHash"`
	// GitCommit is the short commit of the build, null when unknown.
	GitCommit *string `json:"gitCommit"`
}

// version serves GET /version, public as in Bonsai: the console's About
// box reads it before login.
func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	b := versionInfo{Version: s.opts.Version, RESTSchemaHash: s.schemaHash}
	if s.opts.GitCommit != "" {
		c := s.opts.GitCommit
		b.GitCommit = &c
	}
	writeJSON(w, http.StatusOK, b)
}

// routeHash is the first 12 hex digits of the SHA-256 of the API's route
// table, one "METHOD /path" line per route in sorted order: like Bonsai's
// restSchemaHash, it changes only when the REST contract does.
func routeHash(a *routes) string {
	var lines []string
	for path, methods := range a.methods {
		for _, m := range methods {
			lines = append(lines, m+" "+path+"\n")
		}
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "")))
	return hex.EncodeToString(sum[:])[:12]
}
