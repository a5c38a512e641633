// Package pgtest starts a throwaway PostgreSQL server for tests: a fresh
// cluster made with initdb in a temporary directory, started with pg_ctl on
// 127.0.0.1 at a free port (no Unix socket), trust authentication, and
// stopped and removed when the test ends.
//
// The tests run as root, and PostgreSQL refuses to run as root, so when the
// process is root the server runs as the "postgres" user (Debian's postgresql
// package creates it) and the directory is chowned to that user.
//
// PostgreSQL comes from Debian's postgresql package (`make test-deps`
// installs it). A test that needs it fails, naming make test-deps, when it is
// missing; it never skips.
package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one running throwaway PostgreSQL cluster.
type Server struct {
	Host string // always 127.0.0.1
	Port int
	User string // the superuser, "postgres"

	bin  string // directory holding initdb, pg_ctl, psql
	dir  string // the temporary directory (data/ and server.log inside)
	cred *syscall.Credential
	t    testing.TB
}

// BinDir finds the directory of PostgreSQL's server programs: $CERTCTL_PG_BIN
// when set, else the newest /usr/lib/postgresql/<version>/bin (Debian), else
// the directory of pg_ctl on $PATH.
func BinDir() (string, error) {
	if d := os.Getenv("CERTCTL_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("CERTCTL_PG_BIN=%s: no initdb there", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		d := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL's initdb and pg_ctl not found (looked in /usr/lib/postgresql/*/bin and $PATH): run `make test-deps` (it installs Debian's postgresql package)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start makes and starts a new cluster, stopped and removed at the end of
// the test. It fails the test (naming make test-deps) when PostgreSQL is not
// installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", User: "postgres", bin: bin, t: t}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("tests run as root and PostgreSQL refuses root, but there is no postgres user to run it as (%v): run `make test-deps`", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// Not t.TempDir: its parent directories are 0700 root, which the
	// postgres user cannot enter.
	s.dir, err = os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", s.User,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between the probe and the server's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 4 {
			t.Fatalf("pg_ctl start: %v\n%s", err, s.Log())
		}
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// start starts the server on s.Port and waits until it accepts connections.
func (s *Server) start() error {
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(s.Port),
		"-c unix_socket_directories=''",
		// A throwaway cluster: durability is not wanted, speed is.
		"-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
		"-c max_connections=100",
	}, " ")
	out, err := s.run(filepath.Join(s.bin, "pg_ctl"), "start", "-w", "-t", "60",
		"-D", s.dataDir(), "-l", filepath.Join(s.dir, "server.log"), "-o", opts)
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// Stop stops the server (fast shutdown). Safe to call more than once.
func (s *Server) Stop() {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err != nil {
		return
	}
	if out, err := s.run(filepath.Join(s.bin, "pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", s.dataDir()); err != nil {
		s.t.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Restart stops the server and starts it again on the same port, keeping
// its data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s", err, s.Log())
	}
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// DSN returns a connection URL for database db (the cluster starts with
// "postgres").
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", s.User, s.Host, s.Port, db)
}

// CreateDB creates an empty database and returns its DSN.
func (s *Server) CreateDB(name string) string {
	s.t.Helper()
	s.Psql("postgres", "-c", "CREATE DATABASE "+quoteIdent(name))
	return s.DSN(name)
}

// Psql runs psql against database db with the given arguments (e.g. "-c",
// "SELECT 1" or "-f", file), stopping at the first error, and returns its
// output (unaligned, tuples only). The test fails when psql fails.
func (s *Server) Psql(db string, args ...string) string {
	s.t.Helper()
	out, err := s.PsqlErr(db, args...)
	if err != nil {
		s.t.Fatalf("psql %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// PsqlErr is Psql returning the error instead of failing the test.
func (s *Server) PsqlErr(db string, args ...string) (string, error) {
	full := append([]string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", s.User, "-d", db}, args...)
	cmd := exec.Command(filepath.Join(s.bin, "psql"), full...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// PsqlPath is the path of the psql program next to the server's.
func (s *Server) PsqlPath() string { return filepath.Join(s.bin, "psql") }

// run runs a server program as the postgres user (when root), bounded in time.
func (s *Server) run(prog string, args ...string) (string, error) {
	cmd := exec.Command(prog, args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(os.Environ(), "HOME="+s.dir)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		return buf.String(), fmt.Errorf("%s: timed out after 2 minutes", filepath.Base(prog))
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// SchemaDump returns pg_dump --schema-only of database db (no owners or
// privileges, nor the random key of its \restrict lines), for comparing
// two databases' schemas.
func (s *Server) SchemaDump(db string) string {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
		"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", s.User, "-d", db)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("pg_dump %s: %v\n%s", db, err, errOut.String())
	}
	// pg_dump's \restrict lines carry a random key each run.
	var keep []string
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, `\restrict `) && !strings.HasPrefix(line, `\unrestrict `) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
