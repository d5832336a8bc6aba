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
	// start is when the process started, in clock ticks after boot: with
	// the pid it tells a process from a later one that reuses its pid.
	start uint64
}

// key names one process over its lifetime.
type procKey struct {
	pid   int
	start uint64
}

func (p procTimes) key() procKey { return procKey{p.pid, p.start} }

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
	// and cstime are fields 14 to 17, starttime field 22.
	if len(f) < 20 {
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
	start, err := strconv.ParseUint(f[19], 10, 64)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return procTimes{}, fmt.Errorf("loadgen: /proc stat fields: %w", err)
	}
	return procTimes{
		pid: pid, ppid: ppid, comm: string(b[open+1 : end]),
		self:     float64(ticks[0]+ticks[1]) / userHZ,
		children: float64(ticks[2]+ticks[3]) / userHZ,
		start:    start,
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
	procs []procTimes
}

// read reads the selected processes' CPU, their own and that of the
// children they reaped.
func (d *dbProcs) read() (dbCPU, error) {
	all, err := allProcs(d.procRoot)
	if err != nil {
		return dbCPU{}, err
	}
	return dbCPU{procs: d.selectProcs(all)}, nil
}

// seconds is the sum of self+children over the processes.
func (r dbCPU) seconds() float64 {
	sec := 0.0
	for _, p := range r.procs {
		sec += p.self + p.children
	}
	return sec
}

// since returns the CPU the selected processes spent between an earlier
// reading and r.
//
// A process that runs at both readings counts its growth; one that starts
// in between counts from zero (all its CPU falls inside). One that exits
// in between and is reaped by a selected process still running counts in
// full too: the kernel adds a reaped child's whole CPU to its parent's
// cutime/cstime, and the part the first reading already held is taken
// off. PostgreSQL's postmaster reaps all its backends and workers.
//
// The approximation: a process that exits with its parent (another
// PostgreSQL cluster on the host that stops, say) leaves the count, and
// the CPU it spent between the readings is lost; it never makes the count
// shrink.
func (r dbCPU) since(earlier dbCPU) float64 {
	now := make(map[procKey]bool, len(r.procs))
	for _, p := range r.procs {
		now[p.key()] = true
	}
	was := make(map[int]procKey, len(earlier.procs))
	for _, p := range earlier.procs {
		was[p.pid] = p.key()
	}
	sec := r.seconds()
	for _, p := range earlier.procs {
		parent, ok := was[p.ppid]
		if now[p.key()] || ok && now[parent] {
			sec -= p.self + p.children
		}
	}
	return max(sec, 0)
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
