// Package clusterpb holds the protobuf messages the nodes of a Switchboard
// cluster exchange over Proto.Actor remote (see actors/doc.go, "Cluster").
package clusterpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative handoff.proto
