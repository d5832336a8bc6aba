//go:build unix

package pgtemp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a private PostgreSQL server: its own data folder in a
// temporary directory, its own loopback port.
type Server struct {
	// URL connects as user postgres to the postgres database.
	URL string
	// Dir is the temporary directory (data/, the socket), removed by Stop.
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *logBuffer
}

// Start runs initdb and postgres from bin (see FindBin) in a new
// temporary directory and waits until the server accepts connections. As
// root, the server runs as the postgres user (initdb refuses root); with
// no such user it returns an *UnusableError. Directories that processes
// which died without Stop left in the same parent are removed first (see
// RemoveStale).
func Start(bin string, opts Options) (*Server, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, &UnusableError{"PostgreSQL is installed but cannot run as root, and there is no postgres user to run it as"}
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	parent := opts.Parent
	if parent == "" {
		parent = os.TempDir()
	}
	RemoveStale(parent, time.Now().Add(-time.Hour))
	dir, err := os.MkdirTemp(parent, Prefix)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb (%s): %v\n%s", bin, err, out)
	}
	var last error
	for range 3 { // the free port may be taken again before postgres binds it
		s, err := startServer(bin, dir, data, cred, opts.Durable)
		if err == nil {
			return s, nil
		}
		last = err
	}
	os.RemoveAll(dir)
	return nil, last
}

// startServer starts postgres on a free loopback port and waits until it
// is ready.
func startServer(bin, dir, data string, cred *syscall.Credential, durable bool) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &Server{Dir: dir, exited: make(chan struct{}), log: &logBuffer{},
		URL: "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"}
	args := []string{"-D", data, "-p", port, "-k", dir, "-c", "listen_addresses=127.0.0.1"}
	if !durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	setParentDeathSignal(s.cmd.SysProcAttr)
	started := make(chan error, 1)
	go func() {
		// The death signal is tied to the thread that started the child:
		// keep it for the server's lifetime.
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	deadline := time.After(60 * time.Second)
	for {
		if ready(filepath.Join(data, "postmaster.pid")) {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("postgres exited during start-up:\n%s", s.log.String())
		case <-deadline:
			s.kill()
			return nil, errors.New("postgres not ready after 60 s:\n" + s.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RemoveStale removes what processes that died without Stop left in tmp
// (their servers were stopped by the death signal): directories named
// Prefix… last changed before cutoff whose server is gone.
func RemoveStale(tmp string, cutoff time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, Prefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.ModTime().After(cutoff) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
			if pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue // still running (or not ours to judge)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

// ready reports whether the postmaster.pid file says the server accepts
// connections (its eighth line is "ready" from PostgreSQL 10 on).
func ready(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready"
}

// PID returns the postmaster's process id: PostgreSQL's other processes
// (backends, WAL writer, checkpointer) are its children.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Log returns what the server wrote so far.
func (s *Server) Log() string { return s.log.String() }

// Stop shuts the server down (fast: connections are closed) and removes
// its directory.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.kill()
	}
	os.RemoveAll(s.Dir)
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// logBuffer collects the server's output while it runs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
