package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"switchboard/cmd/loadgen/internal/report"
)

// spawned is a switchboard server started by loadgen.
type spawned struct {
	cmd     *exec.Cmd
	dir     string
	logPath string
	logFile *os.File
	URL     string
	// MetricsURL is where the server serves /metrics, as it printed it
	// ("" when it printed none: METRICS_ADDR off or empty).
	MetricsURL string
	exited     chan struct{}
	err        error
	// killed is set once kill sent SIGKILL on purpose (--kill-node).
	killed bool
}

// spawnServer starts bin with a temporary SQLite database on a free
// loopback port and waits until it prints its address.
// dbDir is where the temporary directory is made ("" = the system temp
// dir).
func spawnServer(bin string, env []string, logPath, dbDir string) (*spawned, error) {
	dir, err := os.MkdirTemp(dbDir, "loadgen-server")
	if err != nil {
		return nil, fmt.Errorf("loadgen: temp dir: %w", err)
	}
	if logPath == "" {
		logPath = filepath.Join(dir, "server.log")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("loadgen: server log: %w", err)
	}
	s := &spawned{dir: dir, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(os.Environ(),
		"SWITCHBOARD_ADDR=127.0.0.1:0",
		"METRICS_ADDR=127.0.0.1:0", // never collide with another server's default metrics port
		"DATABASE_URL=sqlite:"+filepath.Join(dir, "switchboard.db"),
		"LOG_LEVEL=warn",
		// The load generator and the simulator's callbacks all come from
		// 127.0.0.1, over more connections than one real client holds.
		"MAX_CONNECTIONS_PER_IP=0",
	)
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stderr = logFile
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("loadgen: server stdout: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("loadgen: start %s: %w", bin, err)
	}
	type addrs struct{ main, metrics string }
	ready := make(chan addrs, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		metrics := ""
		for sc.Scan() {
			// The metrics listener is announced before the main one.
			if u, ok := strings.CutPrefix(sc.Text(), "switchboard: metrics on "); ok {
				metrics = strings.TrimSpace(u)
			}
			if u, ok := strings.CutPrefix(sc.Text(), "switchboard: listening on "); ok {
				select {
				case ready <- addrs{strings.TrimSpace(u), metrics}:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case a := <-ready:
		s.URL, s.MetricsURL = a.main, a.metrics
		return s, nil
	case <-s.exited:
		err := fmt.Errorf("loadgen: server exited during start-up (%v):\n%s", s.err, s.logTail(30))
		s.cleanup()
		return nil, err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		err := fmt.Errorf("loadgen: server did not report its address within 30 s:\n%s", s.logTail(30))
		s.cleanup()
		return nil, err
	}
}

// PID returns the server's process id.
func (s *spawned) PID() int { return s.cmd.Process.Pid }

// kill sends SIGKILL, as a crash would, and waits until the process is
// gone. Its files stay until stop.
func (s *spawned) kill() {
	s.killed = true
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// stop sends SIGTERM and waits (then SIGKILL after timeout), removes the
// temporary database, and reports a kill or a non-zero exit code. A server
// killed on purpose is only cleaned up.
func (s *spawned) stop(timeout time.Duration) error {
	defer s.cleanup()
	if s.killed {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("loadgen: server did not exit within %s of SIGTERM; killed", timeout)
	}
	code := s.cmd.ProcessState.ExitCode()
	if code != 0 {
		return fmt.Errorf("loadgen: server exited with code %d after SIGTERM:\n%s", code, s.logTail(20))
	}
	return nil
}

// logTail returns the last n lines of the server's log.
func (s *spawned) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *spawned) cleanup() {
	_ = s.logFile.Close()
	_ = os.RemoveAll(s.dir)
}

// userHZ is the unit of utime/stime in /proc/<pid>/stat; Linux exports
// USER_HZ = 100 to user space on every architecture Go supports.
const userHZ = 100

// procStat reads a process's CPU time (user + system) and its resident
// set size and high-water mark from /proc.
func procStat(pid int) (cpuSeconds float64, rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("loadgen: read stat: %w", err)
	}
	cpuSeconds, err = parseStatCPU(b)
	if err != nil {
		return 0, 0, 0, err
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("loadgen: read status: %w", err)
	}
	rss, hwm = parseStatusKB(st, "VmRSS:"), parseStatusKB(st, "VmHWM:")
	return cpuSeconds, rss, hwm, nil
}

// parseStatCPU returns utime+stime in seconds from /proc/<pid>/stat.
func parseStatCPU(b []byte) (float64, error) {
	p, err := parseStat(b)
	return p.self, err
}

// parseStatusKB returns a "Key:   123 kB" line of /proc/<pid>/status in
// bytes (0 if absent).
func parseStatusKB(b []byte, key string) int64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v * 1024
			}
		}
	}
	return 0
}

// sampler reads the CPU and memory of one or more processes (the nodes)
// periodically, all at each tick.
type sampler struct {
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	procs []*procSeries
	total []report.ProcSample // the processes' sums at each tick
}

// procSeries is what was read of one process.
type procSeries struct {
	pid      int
	samples  []report.ProcSample
	peak     int64
	cpuStart float64
	cpuLast  float64
	rss      int64 // at the last reading; 0 once the process is gone
}

// startSampler takes a first reading of every pid now (an error if one
// cannot be read) and then one every interval.
func startSampler(pids []int, start time.Time, interval time.Duration) (*sampler, error) {
	s := &sampler{start: start, stop: make(chan struct{}), done: make(chan struct{})}
	for _, pid := range pids {
		cpu, _, _, err := procStat(pid)
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", pid, err)
		}
		s.procs = append(s.procs, &procSeries{pid: pid, cpuStart: cpu, cpuLast: cpu})
	}
	s.take()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.take()
			case <-s.stop:
				return
			}
		}
	}()
	return s, nil
}

// take reads every process. A process that is gone (killed) keeps the CPU
// it had used and adds no memory; a tick at which none could be read adds
// no total sample.
func (s *sampler) take() {
	t := time.Since(s.start).Seconds()
	type reading struct {
		cpu      float64
		rss, hwm int64
		err      error
	}
	readings := make([]reading, len(s.procs))
	for i, p := range s.procs {
		r := &readings[i]
		r.cpu, r.rss, r.hwm, r.err = procStat(p.pid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	total := report.ProcSample{T: t}
	read := false
	for i, p := range s.procs {
		if r := readings[i]; r.err == nil {
			read = true
			p.samples = append(p.samples, report.ProcSample{T: t, RSSBytes: r.rss, CPUSeconds: r.cpu - p.cpuStart})
			p.peak = max(p.peak, r.rss, r.hwm)
			p.cpuLast, p.rss = r.cpu, r.rss
		} else {
			p.rss = 0 // the process is gone: that sample is simply missing
		}
		total.RSSBytes += p.rss
		total.CPUSeconds += p.cpuLast - p.cpuStart
	}
	if read {
		s.total = append(s.total, total)
	}
}

// finish takes a last reading, stops sampling and returns the stats of
// all processes together and of each, with CPU per message computed over
// answered messages. The total's peak RSS is the processes' peaks added
// up; with one process the total is that process.
func (s *sampler) finish(answered int) (total *report.ServerStats, each []*report.ServerStats) {
	close(s.stop)
	<-s.done
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	perMessage := func(st *report.ServerStats) *report.ServerStats {
		if answered > 0 {
			st.CPUMicrosPerMessage = st.CPUSeconds * 1e6 / float64(answered)
		}
		return st
	}
	total = &report.ServerStats{Samples: s.total}
	for _, p := range s.procs {
		st := perMessage(&report.ServerStats{PID: p.pid, PeakRSSBytes: p.peak, CPUSeconds: p.cpuLast - p.cpuStart, Samples: p.samples})
		each = append(each, st)
		total.PeakRSSBytes += st.PeakRSSBytes
		total.CPUSeconds += st.CPUSeconds
	}
	if len(each) == 1 {
		total.PID = each[0].PID
	}
	return perMessage(total), each
}
