package sqlcore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Now is the stores' clock: UTC, truncated to microseconds (the precision
// of both engines' stored times) so that every stored time round-trips
// unchanged.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Micros is SQLite's stored form of a time: microseconds since the Unix
// epoch.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts SQLite's stored form back to a UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Time scans a stored time of either engine: INTEGER microseconds
// (SQLite) or a time.Time (PostgreSQL, through database/sql or pgx), as
// UTC. Scanning NULL is an error, as it is for a time.Time.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		t.Time = FromMicros(v)
	case time.Time:
		t.Time = v.UTC()
	default:
		return fmt.Errorf("sqlcore: cannot scan %T into a time", src)
	}
	return nil
}

// NullTime scans an optional stored time: nil for NULL.
type NullTime struct{ T *time.Time }

// Scan implements sql.Scanner.
func (t *NullTime) Scan(src any) error {
	if src == nil {
		t.T = nil
		return nil
	}
	var v Time
	if err := v.Scan(src); err != nil {
		return err
	}
	t.T = &v.Time
	return nil
}

// JSON fields are TEXT on both engines: nil stays NULL so that nil and
// empty differ.

// JSONText is the stored form of a JSON field.
func JSONText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// JSONBytes converts a stored JSON field back.
func JSONBytes(s sql.NullString) []byte {
	if !s.Valid {
		return nil
	}
	return []byte(s.String)
}

// ListText is the stored form of a string list: a JSON array, NULL for
// nil.
func ListText(l []string) any {
	if l == nil {
		return nil
	}
	b, _ := json.Marshal(l) // a []string always encodes
	return string(b)
}

// ParseList converts a stored string list back (empty, not nil, for []).
func ParseList(s sql.NullString) ([]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s.String), &l); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if l == nil {
		l = []string{}
	}
	return l, nil
}

// NullString stores "" as NULL (optional references and texts).
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
