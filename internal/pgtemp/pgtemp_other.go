//go:build !unix

package pgtemp

import "time"

// Server is not started where there is no unix process model.
type Server struct{ URL, Dir string }

// Start reports that there is no private PostgreSQL on this system.
func Start(string, Options) (*Server, error) {
	return nil, &UnusableError{"no private PostgreSQL on this system"}
}

// RemoveStale does nothing here.
func RemoveStale(string, time.Time) {}

// PID is 0: there is no server.
func (s *Server) PID() int { return 0 }

// Log is empty.
func (s *Server) Log() string { return "" }

// Stop does nothing.
func (s *Server) Stop() {}
