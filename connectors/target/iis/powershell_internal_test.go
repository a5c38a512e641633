package iis

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPSQuote(t *testing.T) {
	for in, want := range map[string]string{
		"Default Web Site": "'Default Web Site'",
		"it's":             "'it''s'",
		"a\u2019b\u2018c":  "'a\u2019\u2019b\u2018\u2018c'",
		"$(calc) `n \"x\"": "'$(calc) `n \"x\"'",
		"":                 "''",
	} {
		assert.Equal(t, want, psQuote(in), in)
	}
}

func TestEncodedCommand(t *testing.T) {
	cmd, args, err := encodedCommand("'é' + \"€\"")
	require.NoError(t, err)
	assert.Equal(t, "powershell", cmd)
	require.Len(t, args, 4)
	raw, err := base64.StdEncoding.DecodeString(args[3])
	require.NoError(t, err)
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	assert.Equal(t, "'é' + \"€\"", string(utf16.Decode(u)))

	_, _, err = encodedCommand(strings.Repeat("x", 3100))
	assert.ErrorContains(t, err, "over Windows' 8191")
}

func TestScriptsFitOneCommandLine(t *testing.T) {
	long := strings.Repeat("'", 256) // the longest site name, every character doubled by quoting
	for _, s := range []string{
		script("upload", []param{{"File", "certctl-0123456789abcdef01234567.b64"}, {"Mode", "append"}, {"Chunk", strings.Repeat("A", uploadChunk)}}, uploadBody),
		script("deploy", []param{{"File", "certctl-0123456789abcdef01234567.b64"}, {"Password", strings.Repeat("p", 32)}, {"Store", "WebHosting"},
			{"Thumbprint", strings.Repeat("A", 40)}, {"Site", long}, {"BindingInfo", "[2001:db8::1]:65535:" + strings.Repeat("h", 253)}}, deployBody),
		script("query", []param{{"Site", long}, {"BindingInfo", "*:443:" + strings.Repeat("h", 253)}}, queryBody),
		script("rollback", []param{{"Store", "WebHosting"}, {"Thumbprint", strings.Repeat("A", 40)}, {"Site", long}, {"BindingInfo", "*:443:" + strings.Repeat("h", 253)}}, rollbackBody),
	} {
		_, _, err := encodedCommand(s)
		assert.NoError(t, err, strings.SplitN(s, "\n", 2)[0])
	}
}

func TestTrimStderr(t *testing.T) {
	clixml := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
		"<S S=\"Error\">At line:3 char:1_x000D__x000A_</S><S S=\"Error\">+ Unexpected token '}'._x000D__x000A_</S>" +
		"<S S=\"progress\">ignored</S></Objs>"
	assert.Equal(t, "At line:3 char:1\n+ Unexpected token '}'.", trimStderr([]byte(clixml)))
	assert.Equal(t, "certctl: boom", trimStderr([]byte("certctl: boom\r\n")))
}
