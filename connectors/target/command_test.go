package target_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/connectors/target"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"nginx -t", []string{"nginx", "-t"}},
		{"  /usr/sbin/nginx\t-s   reload ", []string{"/usr/sbin/nginx", "-s", "reload"}},
		{`nginx -g "daemon off;"`, nil}, // ; is refused even inside quotes
		{`apache2 -C "Define X" -f '/etc/my apache/httpd.conf'`, []string{"apache2", "-C", "Define X", "-f", "/etc/my apache/httpd.conf"}},
		{`prog --label="a b"c ''`, []string{"prog", "--label=a bc", ""}},
		{`prog "it's" 'say "hi"'`, []string{"prog", "it's", `say "hi"`}},
		{"systemctl reload haproxy.service", []string{"systemctl", "reload", "haproxy.service"}},
		{"prog a=b,c:d@e%f+g#h[i]", []string{"prog", "a=b,c:d@e%f+g#h[i]"}},
	} {
		got, err := target.ParseCommand("reload_command", tc.cmd)
		if tc.want == nil {
			assert.Error(t, err, tc.cmd)
			continue
		}
		require.NoError(t, err, tc.cmd)
		assert.Equal(t, tc.want, got, tc.cmd)
	}
}

func TestParseCommand_RefusesShellMetacharacters(t *testing.T) {
	for _, c := range []string{";", "|", "&", "$", "`", "<", ">", "(", ")", "{", "}", "*", "?", "!", "~", `\`, "\n", "\r", "\x00", "\x1b"} {
		for _, cmd := range []string{"nginx -s reload" + c + " rm -rf /", "nginx '" + c + "'", `nginx "a` + c + `b"`} {
			_, err := target.ParseCommand("reload_command", cmd)
			var cerr *target.ConfigError
			require.ErrorAs(t, err, &cerr, "%q", cmd)
			assert.ErrorIs(t, err, target.ErrInvalidConfig)
			assert.Equal(t, "reload_command", cerr.Field)
			if c != "\n" && c != "\r" && c != "\x00" && c != "\x1b" {
				assert.Contains(t, cerr.Reason, strconv.QuoteRune(rune(c[0])), "names the character")
				assert.Contains(t, cerr.Reason, "without a shell")
			}
		}
	}
}

func TestParseCommand_RefusesMalformed(t *testing.T) {
	for cmd, want := range map[string]string{
		"":                    "a command is required",
		"   \t ":              "a command is required",
		`nginx -g "daemon on`: "is not closed",
		`nginx 'x`:            "is not closed",
		"./nginx -t":          "absolute path or a bare name",
		"bin/nginx -t":        "absolute path or a bare name",
		`"" -t`:               "absolute path or a bare name",
		"nginx \xff":          "UTF-8",
	} {
		_, err := target.ParseCommand("validate_command", cmd)
		require.ErrorIs(t, err, target.ErrInvalidConfig, "%q", cmd)
		assert.Contains(t, err.Error(), want, "%q", cmd)
		assert.Contains(t, err.Error(), "validate_command")
	}
}

func TestRunner_OutputAndExitCode(t *testing.T) {
	var r *target.Runner // nil runs anything with the default timeout
	out, err := r.Run(context.Background(), "reload_command", "echo reloaded 'two words'")
	require.NoError(t, err)
	assert.Equal(t, "reloaded two words", out)

	script := writeScript(t, "fail.sh", "echo to stdout\necho 'nginx: [emerg] cannot load certificate' >&2\nexit 3\n")
	out, err = r.Run(context.Background(), "validate_command", script+" -t")
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.ErrorIs(t, err, target.ErrCommand)
	assert.Equal(t, 3, cerr.ExitCode)
	assert.Equal(t, "validate_command", cerr.Field)
	assert.Equal(t, "to stdout\nnginx: [emerg] cannot load certificate", cerr.Output)
	assert.Equal(t, cerr.Output, out)
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Contains(t, err.Error(), "cannot load certificate", "the command's complaint is in the error")
}

func TestRunner_DoesNotStart(t *testing.T) {
	_, err := (&target.Runner{}).Run(context.Background(), "reload_command", "/nonexistent/reload")
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, -1, cerr.ExitCode)
	assert.Contains(t, err.Error(), "no such file")
}

func TestRunner_KeepsTheEndOfLongOutput(t *testing.T) {
	script := writeScript(t, "chatty.sh", "i=0\nwhile [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done\necho the reason\nexit 1\n")
	_, err := (&target.Runner{}).Run(context.Background(), "validate_command", script)
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.LessOrEqual(t, len(cerr.Output), target.MaxOutput+len("…"))
	assert.True(t, strings.HasPrefix(cerr.Output, "…"))
	assert.True(t, strings.HasSuffix(cerr.Output, "line 1999\nthe reason"))
}

func TestRunner_Allowed(t *testing.T) {
	echo, err := exec.LookPath("echo")
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		allowed []string
		cmd     string
		ok      bool
	}{
		{[]string{"echo"}, "echo hi", true},
		{[]string{"echo"}, echo + " hi", true},           // the bare name resolves to it
		{[]string{echo}, "echo hi", true},                // the path PATH gives the bare name
		{[]string{"/usr/sbin/nginx", echo}, echo, true},  // any entry
		{[]string{"/usr/sbin/nginx"}, "echo hi", false},  // another program
		{[]string{"echo"}, "/tmp/echo hi", false},        // same name elsewhere
		{[]string{"/usr/local/bin/echo"}, "true", false}, // no entry
		{[]string{"nginx"}, "/usr/sbin/nginx -t", true},  // resolves through PATH if installed
	} {
		r := &target.Runner{Allowed: tc.allowed}
		_, err := r.Run(ctx, "reload_command", tc.cmd)
		if tc.cmd == "/usr/sbin/nginx -t" {
			if p, lerr := exec.LookPath("nginx"); lerr != nil || p != "/usr/sbin/nginx" {
				continue
			}
			assert.NotErrorIs(t, err, target.ErrInvalidConfig, "%v %q", tc.allowed, tc.cmd)
			continue
		}
		if tc.ok {
			assert.NoError(t, err, "%v %q", tc.allowed, tc.cmd)
			continue
		}
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, "%v %q", tc.allowed, tc.cmd)
		assert.Equal(t, "reload_command", cerr.Field)
		assert.Contains(t, cerr.Reason, "allowed_commands")
		assert.Contains(t, cerr.Reason, strings.Fields(tc.cmd)[0], "names the executable")
	}
}

// TestRunner_TimeoutKillsProcessGroup runs a script that leaves a child
// behind (as apachectl or a wrapper might) and checks that the timeout
// kills both.
func TestRunner_TimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := writeScript(t, "hang.sh", "sleep 300 &\necho $! > "+pidFile+"\necho started\nwait\n")
	r := &target.Runner{Timeout: 500 * time.Millisecond}
	start := time.Now()
	out, err := r.Run(context.Background(), "reload_command", script)
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.Less(t, time.Since(start), 10*time.Second, "the wait delay bounds it")
	assert.Equal(t, -1, cerr.ExitCode)
	assert.Contains(t, err.Error(), "killed after 500ms")
	assert.Equal(t, "started", out)

	data, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	assert.Eventually(t, func() bool { return !processRunning(pid) }, 5*time.Second, 20*time.Millisecond,
		"the script's child %d was killed with the group", pid)
}

func TestRunner_Cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := (&target.Runner{}).Run(ctx, "reload_command", "sleep 30")
	require.ErrorIs(t, err, target.ErrCommand)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// processRunning reports whether pid is alive: it exists and is not a
// zombie waiting for a parent that is not this test to reap it.
func processRunning(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
	return p
}
