//go:build unix

package testutil

import (
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
	"syscall"
	"time"
)

// cluster is a private PostgreSQL server: its own data folder in a
// temporary directory, its own loopback port, fsync off.
type cluster struct {
	dir    string // temporary directory: data/, the socket, removed by stop
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *SyncBuffer
}

// startCluster runs initdb and postgres from bin in a new temporary
// directory and waits until the server accepts connections. As root, the
// server runs as the postgres user (initdb refuses root); with no such
// user it returns an *unusableError.
func startCluster(bin string) (*cluster, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, &unusableError{"PostgreSQL is installed but cannot run as root, and there is no postgres user to run it as"}
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	removeStaleClusters(os.TempDir(), time.Now().Add(-time.Hour))
	dir, err := os.MkdirTemp("", clusterPrefix)
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
		c, err := startServer(bin, dir, data, cred)
		if err == nil {
			return c, nil
		}
		last = err
	}
	os.RemoveAll(dir)
	return nil, last
}

// startServer starts postgres on a free loopback port and waits until it
// is ready.
func startServer(bin, dir, data string, cred *syscall.Credential) (*cluster, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	c := &cluster{dir: dir, exited: make(chan struct{}), log: &SyncBuffer{},
		url: "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable"}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", port, "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	setParentDeathSignal(c.cmd.SysProcAttr)
	started := make(chan error, 1)
	go func() {
		// The death signal is tied to the thread that started the child:
		// keep it for the server's lifetime.
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	deadline := time.After(60 * time.Second)
	for {
		if ready(filepath.Join(data, "postmaster.pid")) {
			return c, nil
		}
		select {
		case <-c.exited:
			return nil, fmt.Errorf("postgres exited during start-up:\n%s", c.log.String())
		case <-deadline:
			c.kill()
			return nil, errors.New("postgres not ready after 60 s:\n" + c.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// clusterPrefix starts the name of every private cluster's directory.
const clusterPrefix = "switchboard-pgtest-"

// removeStaleClusters removes what test binaries that died without
// StopPostgres left in tmp (their servers were stopped by the death
// signal): directories last changed before cutoff whose server is gone.
func removeStaleClusters(tmp string, cutoff time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, clusterPrefix+"*"))
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

// stop shuts the server down (fast: connections are closed) and removes
// its directory.
func (c *cluster) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(15 * time.Second):
		c.kill()
	}
	os.RemoveAll(c.dir)
}

func (c *cluster) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}
