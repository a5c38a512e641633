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
	script := writeScript(t, "fail.sh", "echo to stdout\necho 'nginx: [emerg] cannot load certificate' >&2\nexit 3\n")
	r := &target.Runner{Allowed: []string{"echo reloaded 'two words'", script + " -t"}}
	out, err := r.Run(context.Background(), "reload_command", `echo reloaded "two words"`, nil)
	require.NoError(t, err)
	assert.Equal(t, "reloaded two words", out)

	out, err = r.Run(context.Background(), "validate_command", script+" -t", nil)
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
	_, err := (&target.Runner{Allowed: []string{"/nonexistent/reload"}}).Run(context.Background(), "reload_command", "/nonexistent/reload", nil)
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, -1, cerr.ExitCode)
	assert.Contains(t, err.Error(), "no such file")
}

func TestRunner_KeepsTheEndOfLongOutput(t *testing.T) {
	script := writeScript(t, "chatty.sh", "i=0\nwhile [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done\necho the reason\nexit 1\n")
	_, err := (&target.Runner{Allowed: []string{script}}).Run(context.Background(), "validate_command", script, nil)
	var cerr *target.CommandError
	require.ErrorAs(t, err, &cerr)
	assert.LessOrEqual(t, len(cerr.Output), target.MaxOutput+len("…"))
	assert.True(t, strings.HasPrefix(cerr.Output, "…"))
	assert.True(t, strings.HasSuffix(cerr.Output, "line 1999\nthe reason"))
}

// TestRunner_DeniesByDefault: a nil Runner, the zero Runner and one with
// an empty allow-list run nothing: the command that would create a marker
// file does not run, and the refusal names allowed_commands and the line
// to add.
func TestRunner_DeniesByDefault(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	touch, err := exec.LookPath("touch")
	require.NoError(t, err)
	cmd := touch + " " + marker
	for _, r := range []*target.Runner{nil, {}, {Allowed: []string{}}} {
		out, err := r.Run(context.Background(), "reload_command", cmd, nil)
		var nerr *target.NotAllowedError
		require.ErrorAs(t, err, &nerr)
		assert.ErrorIs(t, err, target.ErrNotAllowed)
		assert.Empty(t, out)
		assert.Equal(t, "allowed_commands", nerr.Setting)
		assert.Equal(t, cmd, nerr.Add)
		assert.Contains(t, err.Error(), "allowed_commands, which is empty, so this agent runs no command")
		assert.Contains(t, err.Error(), `add "`+cmd+`" to allowed_commands`)
		assert.ErrorIs(t, r.Check("reload_command", cmd, nil), target.ErrNotAllowed)
	}
	assert.NoFileExists(t, marker, "the refused command did not run")
}

// TestRunner_AllowedWholeCommandLines: a command runs only when a line of
// the allow-list matches it whole, program and arguments; placeholders
// match the deployment's own paths and nothing else.
func TestRunner_AllowedWholeCommandLines(t *testing.T) {
	echo, err := exec.LookPath("echo")
	require.NoError(t, err)
	paths := target.Paths{"cert_path": "/etc/app/tls/cert.pem", "key_path": "/etc/app/tls/key.pem"}
	ctx := context.Background()
	for _, tc := range []struct {
		allowed []string
		cmd     string
		paths   target.Paths
		ok      bool
	}{
		{[]string{"echo hi"}, "echo hi", nil, true},
		{[]string{"echo hi"}, echo + " hi", nil, true},              // the bare name resolves to it
		{[]string{echo + " hi"}, "echo hi", nil, true},              // the path PATH gives the bare name
		{[]string{"/usr/sbin/nginx -t", echo}, echo, nil, true},     // any line
		{[]string{"echo  'hi'"}, `echo "hi"`, nil, true},            // words compared, not spelling
		{[]string{"echo hi"}, "echo hi there", nil, false},          // an argument more
		{[]string{"echo hi there"}, "echo hi", nil, false},          // an argument fewer
		{[]string{"echo -s reload"}, "echo -s stop", nil, false},    // another argument
		{[]string{"echo a b"}, "echo b a", nil, false},              // other order
		{[]string{"echo"}, "echo hi", nil, false},                   // the program alone permits no arguments
		{[]string{"/usr/sbin/nginx -t"}, "echo -t", nil, false},     // another program
		{[]string{"echo hi"}, "/tmp/echo hi", nil, false},           // same name elsewhere
		{[]string{"/usr/local/bin/echo hi"}, "echo hi", nil, false}, // no line
		{[]string{"echo {cert_path}"}, "echo /etc/app/tls/cert.pem", paths, true},
		{[]string{"echo --in={cert_path} --key={key_path}"}, "echo --in=/etc/app/tls/cert.pem --key=/etc/app/tls/key.pem", paths, true},
		{[]string{"echo {cert_path}"}, "echo /etc/app/tls/key.pem", paths, false},    // another path of the target
		{[]string{"echo {cert_path}"}, "echo /etc/shadow", paths, false},             // not the target's path
		{[]string{"echo {chain_path}"}, "echo /etc/app/tls/chain.pem", paths, false}, // the target writes no chain
		{[]string{"echo {cert_path}"}, "echo /etc/app/tls/cert.pem", nil, false},     // no paths given
	} {
		r := &target.Runner{Allowed: tc.allowed}
		require.NoError(t, r.Validate(), "%v", tc.allowed)
		_, err := r.Run(ctx, "reload_command", tc.cmd, tc.paths)
		if tc.ok {
			assert.NoError(t, err, "%v %q", tc.allowed, tc.cmd)
			continue
		}
		var nerr *target.NotAllowedError
		require.ErrorAs(t, err, &nerr, "%v %q", tc.allowed, tc.cmd)
		assert.Equal(t, "reload_command", nerr.Field)
		assert.Contains(t, err.Error(), "matches no command line of allowed_commands ("+strings.Join(tc.allowed, "; ")+")")
		assert.Contains(t, err.Error(), `add "`+tc.cmd+`" to allowed_commands`)
		// The line the message names permits the command.
		r.Allowed = append(r.Allowed, nerr.Add)
		assert.NoError(t, r.Check("reload_command", tc.cmd, tc.paths), "%q", nerr.Add)
	}
}

// TestRunner_SuggestsPlaceholders: a refused command that names the
// target's paths is offered as a line with placeholders too, and that line
// permits it.
func TestRunner_SuggestsPlaceholders(t *testing.T) {
	paths := target.Paths{"cert_path": "/etc/app/tls/cert.pem", "chain_path": "/etc/my app/chain.pem"}
	cmd := `/usr/bin/openssl verify -untrusted "/etc/my app/chain.pem" /etc/app/tls/cert.pem`
	err := (&target.Runner{}).Check("validate_command", cmd, paths)
	var nerr *target.NotAllowedError
	require.ErrorAs(t, err, &nerr)
	assert.Equal(t, "/usr/bin/openssl verify -untrusted {chain_path} {cert_path}", nerr.Alternative)
	assert.Contains(t, err.Error(), `or "/usr/bin/openssl verify -untrusted {chain_path} {cert_path}", where placeholders stand for the paths the target writes`)
	assert.NoError(t, (&target.Runner{Allowed: []string{nerr.Alternative}}).Check("validate_command", cmd, paths))
	assert.NoError(t, (&target.Runner{Allowed: []string{nerr.Add}}).Check("validate_command", cmd, paths))
}

func TestRunner_ValidateAllowList(t *testing.T) {
	for line, want := range map[string]string{
		"":                                  "a command is required",
		"nginx -s reload; reboot":           "without a shell",
		"nginx -c {config_path}":            "{config_path} is not a placeholder: use {cert_path}, {key_path}, {chain_path}, {fullchain_path}, {pem_path}",
		"nginx -c {cert_path":               "opens a placeholder it does not close",
		"nginx -c cert_path}":               "closes no placeholder",
		"{cert_path} -t":                    "cannot be a placeholder",
		"./nginx -t":                        "absolute path or a bare name",
		"nginx 'unterminated":               "is not closed",
		"/usr/sbin/nginx -t\n/bin/sh -c id": "newline",
	} {
		err := (&target.Runner{Allowed: []string{"/usr/sbin/nginx -t", line}}).Validate()
		var cerr *target.ConfigError
		require.ErrorAs(t, err, &cerr, "%q", line)
		assert.Equal(t, "allowed_commands", cerr.Field)
		assert.Contains(t, cerr.Reason, want, "%q", line)
		assert.Contains(t, cerr.Reason, strconv.Quote(line), "names the line")
	}
	assert.NoError(t, (&target.Runner{Allowed: []string{"/usr/sbin/nginx -t", "systemctl reload nginx", "cp {cert_path} {key_path} /srv/x/"}}).Validate())
}

// TestRunner_TimeoutKillsProcessGroup runs a script that leaves a child
// behind (as apachectl or a wrapper might) and checks that the timeout
// kills both.
func TestRunner_TimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	script := writeScript(t, "hang.sh", "sleep 300 &\necho $! > "+pidFile+"\necho started\nwait\n")
	r := &target.Runner{Allowed: []string{script}, Timeout: 500 * time.Millisecond}
	start := time.Now()
	out, err := r.Run(context.Background(), "reload_command", script, nil)
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
	_, err := (&target.Runner{Allowed: []string{"sleep 30"}}).Run(ctx, "reload_command", "sleep 30", nil)
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
