package fsm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commandConstants parses command.go and returns every constant declared
// with type CommandType, by name.
func commandConstants(t *testing.T) map[string]CommandType {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "command.go", nil, 0)
	require.NoError(t, err)
	out := map[string]CommandType{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "CommandType" {
				continue
			}
			require.Len(t, vs.Values, len(vs.Names), "every CommandType constant has an explicit value")
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				require.True(t, ok && lit.Kind == token.INT, "%s: a CommandType is a literal number", name.Name)
				n, err := strconv.ParseUint(lit.Value, 0, 16)
				require.NoError(t, err, name.Name)
				out[name.Name] = CommandType(n)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestCommands_Registered: every CommandType constant but CommandUnknown is
// registered exactly once, no two constants share a number, names are
// unique and are the payload's own type name, and the payload says it is of
// the type it is registered under.
func TestCommands_Registered(t *testing.T) {
	consts := commandConstants(t)
	byValue := map[CommandType]string{}
	for name, v := range consts {
		if other, dup := byValue[v]; dup {
			t.Errorf("%s and %s share the number %d", name, other, v)
		}
		byValue[v] = name
	}

	registered := map[CommandType]int{}
	names := map[string]int{}
	for _, c := range commands {
		registered[c.typ]++
		names[c.name]++
		p := c.new()
		require.NotNil(t, p, c.name)
		assert.Equal(t, c.typ, p.CommandType(), "%s: the payload's CommandType", c.name)
		assert.Equal(t, reflect.TypeOf(p).Elem().Name(), c.name, "a command's name is its payload's type name")
		assert.Equal(t, "Command"+c.name, byValue[c.typ], "%d is registered as %s", c.typ, c.name)
		assert.Equal(t, c.name, c.typ.String())
		assert.NotSame(t, p, c.new(), "each call gives a fresh payload")
	}
	for name, v := range consts {
		if v == CommandUnknown {
			assert.Zero(t, registered[v], "CommandUnknown is never registered")
			continue
		}
		assert.Equal(t, 1, registered[v], "%s (%d) must be registered exactly once in commands", name, v)
	}
	for name, n := range names {
		assert.Equal(t, 1, n, "command name %s is registered %d times", name, n)
	}
	assert.Equal(t, len(consts)-1, len(commands), "every registration has a constant")

	assert.Nil(t, newPayload(CommandUnknown))
	assert.Nil(t, newPayload(CommandType(65535)))
	assert.Equal(t, "CommandType(65535)", CommandType(65535).String())
}
