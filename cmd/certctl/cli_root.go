package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certctl/certctl/api/client"
)

// defaultServerURL is where the CLI looks for the API when neither --server
// nor CERTCTL_SERVER_URL says otherwise: a --dev node on this host (make
// run), which serves plain HTTP on loopback only. A real node serves HTTPS:
// --server https://HOST:8443 with --ca-file.
const defaultServerURL = "http://127.0.0.1:8443"

// cliOptions are the global flags of the operator commands, and the
// environment and clock they read; tests replace getenv and now.
type cliOptions struct {
	server       string
	apiKey       string
	caFile       string
	insecureHTTP bool
	output       string
	getenv       func(string) string
	now          func() time.Time
}

// addCLIFlags registers the operator commands' global flags on root and
// returns where they land. A flag error anywhere becomes a usage error.
func addCLIFlags(root *cobra.Command) *cliOptions {
	o := &cliOptions{getenv: os.Getenv, now: time.Now}
	pf := root.PersistentFlags()
	pf.StringVar(&o.server, "server", defaultServerURL, "API base URL of a cluster member; a comma-separated list to try several (env CERTCTL_SERVER_URL)")
	pf.StringVar(&o.apiKey, "api-key", "", "API key (env CERTCTL_API_KEY, better: a flag is visible in the process list)")
	pf.StringVar(&o.caFile, "ca-file", "", "PEM bundle of the CAs trusted for the server's HTTPS certificate, instead of the system's: the cluster CA from 'certctl ca bundle' (env CERTCTL_CA_FILE)")
	pf.BoolVar(&o.insecureHTTP, "insecure-http", false, "allow http:// server URLs of other hosts: API keys and answers cross the network in clear (env CERTCTL_INSECURE_HTTP=true)")
	pf.StringVarP(&o.output, "output", "o", "table", "output format: table, json or yaml")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return o
}

// invocation is what a command's body gets: the client, the output streams
// and format, and the time the command started.
type invocation struct {
	client *client.Client
	cfg    client.Config // what client was made from
	caFile string        // the --ca-file in effect, "" for the system's CAs
	flags  *pflag.FlagSet
	in     io.Reader
	out    io.Writer
	errOut io.Writer
	json   bool // -o json or -o yaml: printJSON writes the format asked (out is a *yamlOut for yaml)
	now    time.Time
}

// run wraps a command body: it checks the global flags, builds the client
// and turns the body's error into the CLI's message (main adds "certctl: ").
func (o *cliOptions) run(body func(ctx context.Context, inv *invocation, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		inv, err := o.invocation(cmd)
		if err != nil {
			return err
		}
		return o.explain(body(cmd.Context(), inv, args))
	}
}

func (o *cliOptions) invocation(cmd *cobra.Command) (*invocation, error) {
	inv := &invocation{flags: cmd.Flags(), in: cmd.InOrStdin(), out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), now: o.now()}
	switch o.output {
	case "table":
	case "json":
		inv.json = true
	case "yaml":
		inv.json = true
		inv.out = &yamlOut{w: inv.out}
	default:
		return nil, usageError{fmt.Errorf("--output %q must be table, json or yaml", o.output)}
	}
	cfg, err := o.clientConfig(cmd, inv.errOut)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg)
	if errors.Is(err, client.ErrInsecureHTTP) {
		msg := strings.TrimPrefix(err.Error(), "certctl: ") + "\n(trust the cluster's HTTPS certificate with --ca-file FILE, fetched with 'certctl ca bundle', " +
			"or give --insecure-http or CERTCTL_INSECURE_HTTP=true to send them in clear anyway)"
		return nil, usageError{&cliError{msg: msg, err: err}}
	}
	if err != nil {
		return nil, usageError{errors.New(strings.TrimPrefix(err.Error(), "certctl: ") + " (--server or CERTCTL_SERVER_URL)")}
	}
	inv.cfg = cfg
	inv.caFile = o.setting(cmd, "ca-file", o.caFile, "CERTCTL_CA_FILE")
	inv.client = c
	return inv, nil
}

// setting is a string flag's value, or its environment variable's when the
// flag is not given.
func (o *cliOptions) setting(cmd *cobra.Command, flag, value, env string) string {
	if !cmd.Flags().Changed(flag) {
		if v := o.getenv(env); v != "" {
			return v
		}
	}
	return value
}

// clientConfig is the client's configuration from the global flags and the
// environment. It warns on errOut when a server will be called in clear.
func (o *cliOptions) clientConfig(cmd *cobra.Command, errOut io.Writer) (client.Config, error) {
	cfg := client.Config{
		Servers:      splitList(o.setting(cmd, "server", o.server, "CERTCTL_SERVER_URL")),
		APIKey:       o.apiKey,
		InsecureHTTP: o.insecureHTTP,
		UserAgent:    "certctl/" + version,
	}
	if !cmd.Flags().Changed("api-key") {
		cfg.APIKey = o.getenv("CERTCTL_API_KEY")
	}
	if v := o.getenv("CERTCTL_INSECURE_HTTP"); v != "" && !cmd.Flags().Changed("insecure-http") {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, usageError{fmt.Errorf("CERTCTL_INSECURE_HTTP %q must be true or false", v)}
		}
		cfg.InsecureHTTP = b
	}
	if caFile := o.setting(cmd, "ca-file", o.caFile, "CERTCTL_CA_FILE"); caFile != "" {
		pool, err := readCAFile(caFile)
		if err != nil {
			return cfg, usageError{err}
		}
		cfg.RootCAs = pool
	}
	if cfg.InsecureHTTP {
		for _, s := range cfg.Servers {
			if u, err := url.Parse(s); err == nil && u.Scheme == "http" && !client.IsLoopback(u.Hostname()) {
				fmt.Fprintf(errOut, "warning: --insecure-http: the API key and the answers of %s cross the network in clear\n", s)
			}
		}
	}
	return cfg, nil
}

// readCAFile reads a --ca-file: PEM certificates, and nothing else.
func readCAFile(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	certs, err := client.ParseBundle(raw)
	if err != nil {
		return nil, fmt.Errorf("--ca-file %s: %w", path, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// explain drops the client's "certctl: " prefix, which main prints, and adds
// a hint where the fix is on this side.
func (o *cliOptions) explain(err error) error {
	if err == nil {
		return nil
	}
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	// The message may quote the server, whose text is escaped like any value.
	msg := printable(strings.TrimPrefix(err.Error(), "certctl: "))
	switch {
	case client.IsUnauthorized(err):
		msg += "\n(give an API key with --api-key or CERTCTL_API_KEY)"
	case client.IsForbidden(err):
		msg += "\n(this API key's role does not allow it)"
	case errors.Is(err, client.ErrUntrustedServer):
		msg += "\n(give the cluster CA with --ca-file or CERTCTL_CA_FILE; fetch it once with 'certctl ca bundle --fingerprint SHA256 --out FILE', " +
			"the fingerprint being the one the first node printed at bootstrap)"
	case errors.Is(err, client.ErrUnreachable):
		msg += "\n(is certctl running there? point --server or CERTCTL_SERVER_URL at a cluster member)"
	}
	return &cliError{msg: msg, err: err}
}

// cliError is an error as the CLI prints it; the original stays reachable
// through errors.As and errors.Is.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// newGroup returns a command that only holds subcommands: alone it prints
// its help, and an unknown subcommand is a usage error.
func newGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	g.AddCommand(subs...)
	return g
}

// oneID accepts exactly one argument, the id of the resource.
func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 || args[0] == "" {
		return usageError{fmt.Errorf("%s needs one ID argument (usage: %s)", cmd.CommandPath(), cmd.UseLine())}
	}
	return nil
}

// noArgs accepts no argument.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])}
	}
	return nil
}

// pageFlags are the --page and --per-page flags of list commands.
type pageFlags struct{ page, perPage int }

func (p *pageFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&p.page, "page", 0, "page to show, from 1 (default 1)")
	cmd.Flags().IntVar(&p.perPage, "per-page", 0, "items per page, up to 500 (default 50)")
}

func (p *pageFlags) validate() error {
	if p.page < 0 || p.perPage < 0 || p.perPage > 500 {
		return usageError{errors.New("--page must be positive and --per-page between 1 and 500")}
	}
	return nil
}
