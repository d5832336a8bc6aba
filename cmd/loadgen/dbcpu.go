package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procTimes is what /proc/<pid>/stat says of one process's CPU.
type procTimes struct {
	pid, ppid int
	comm      string
	// self is utime+stime, children cutime+cstime (the processes it
	// waited for), both in seconds.
	self, children float64
}

// parseStat reads the fields of /proc/<pid>/stat loadgen uses. The command
// name (field 2) may hold spaces and parentheses, so the fields after it
// are counted from the last ')'.
func parseStat(b []byte) (procTimes, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procTimes{}, errors.New("loadgen: malformed /proc stat")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return procTimes{}, fmt.Errorf("loadgen: /proc stat pid: %w", err)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid); utime, stime, cutime
	// and cstime are fields 14 to 17.
	if len(f) < 15 {
		return procTimes{}, errors.New("loadgen: short /proc stat")
	}
	var ticks [4]int64
	var errs []error
	for i := range ticks {
		ticks[i], err = strconv.ParseInt(f[11+i], 10, 64)
		errs = append(errs, err)
	}
	ppid, err := strconv.Atoi(f[1])
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return procTimes{}, fmt.Errorf("loadgen: /proc stat fields: %w", err)
	}
	return procTimes{
		pid: pid, ppid: ppid, comm: string(b[open+1 : end]),
		self:     float64(ticks[0]+ticks[1]) / userHZ,
		children: float64(ticks[2]+ticks[3]) / userHZ,
	}, nil
}

// allProcs reads every process of procRoot (/proc). Processes that exit
// while it reads are skipped.
func allProcs(procRoot string) ([]procTimes, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	out := make([]procTimes, 0, len(entries))
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		if p, err := parseStat(b); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// dbProcs selects the database's processes: by name (the comm, which Linux
// truncates to 15 bytes, or the executable's base name) and/or as the
// process tree under root.
type dbProcs struct {
	procRoot string // /proc (a fixture directory in tests)
	names    []string
	root     int
}

// matchName reports whether p carries one of the names (any, when none
// are given).
func (d *dbProcs) matchName(p procTimes) bool {
	if len(d.names) == 0 {
		return true
	}
	for _, n := range d.names {
		if p.comm == n || len(n) > 15 && p.comm == n[:15] {
			return true
		}
	}
	// Unreadable for another user's process without privileges: then the
	// comm alone decides.
	target, err := os.Readlink(filepath.Join(d.procRoot, strconv.Itoa(p.pid), "exe"))
	if err != nil {
		return false
	}
	exe := filepath.Base(strings.TrimSuffix(target, " (deleted)"))
	for _, n := range d.names {
		if exe == n {
			return true
		}
	}
	return false
}

// selectProcs keeps the processes the selection names: with a root, that
// process and its descendants; of those, the ones with a matching name.
func (d *dbProcs) selectProcs(all []procTimes) []procTimes {
	var inTree func(pid int) bool
	if d.root > 0 {
		parent := make(map[int]int, len(all))
		for _, p := range all {
			parent[p.pid] = p.ppid
		}
		inTree = func(pid int) bool {
			for range len(all) + 1 { // a cycle cannot happen; bound it anyway
				if pid == d.root {
					return true
				}
				next, ok := parent[pid]
				if !ok || next == pid || next <= 0 {
					return false
				}
				pid = next
			}
			return false
		}
	}
	var out []procTimes
	for _, p := range all {
		if (inTree == nil || inTree(p.pid)) && d.matchName(p) {
			out = append(out, p)
		}
	}
	return out
}

// dbCPU is one reading of the database's processes.
type dbCPU struct {
	seconds float64 // the sum of self+children over the processes
	procs   int
}

// read sums the CPU of the selected processes, their own and that of the
// children they reaped.
//
// The difference of two readings is the CPU spent between them when every
// selected process that exits in between is reaped by a selected process
// still running: PostgreSQL's postmaster reaps all its backends and
// workers, and the kernel adds a reaped child's whole CPU to the parent's
// cutime/cstime, which makes up for the part already counted in the first
// reading. A process that starts in between is counted from zero (all its
// CPU falls inside). The approximation: a process that exits and is reaped
// by a process outside the selection loses the CPU it spent between the
// first reading and its exit (never with a PostgreSQL selected by name or
// by its postmaster's pid).
func (d *dbProcs) read() (dbCPU, error) {
	all, err := allProcs(d.procRoot)
	if err != nil {
		return dbCPU{}, err
	}
	var r dbCPU
	for _, p := range d.selectProcs(all) {
		r.seconds += p.self + p.children
		r.procs++
	}
	return r, nil
}

// parseNames splits a comma-separated list of process names.
func parseNames(s string) []string {
	var out []string
	for n := range strings.SplitSeq(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
