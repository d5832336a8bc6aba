package main

import "context"

// setupDemo creates the demo line (placeholder until the demo mode lands).
func (m *Main) setupDemo(ctx context.Context) error { return nil }
