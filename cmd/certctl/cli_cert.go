package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

func newCertCommand(o *cliOptions) *cobra.Command {
	kinds := resourceKinds()
	k := kindNamed(kinds, "certificate")
	return newGroup("cert", "Manage certificates",
		newCertListCommand(o), newCertGetCommand(o), newCertCreateCommand(o),
		k.writeCommand(o, kinds, true), k.removeCommand(o, kinds),
		newCertRenewCommand(o), newCertRevokeCommand(o), newCertDeployCommand(o))
}

func newCertListCommand(o *cliOptions) *cobra.Command {
	var (
		f             client.ListCertificatesOptions
		before, after string
		pages         pageFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List certificates",
		Example: `  certctl cert list --status Expiring
  certctl cert list --expires-before 30d --team t-platform
  certctl cert list -o json --per-page 500`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			var err error
			if f.ExpiresBefore, err = parseWhen("expires-before", before, inv.now); err != nil {
				return err
			}
			if f.ExpiresAfter, err = parseWhen("expires-after", after, inv.now); err != nil {
				return err
			}
			f.Page, f.PerPage = pages.page, pages.perPage
			l, err := inv.client.ListCertificates(ctx, f)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "ID", "NAME", "COMMON NAME", "STATUS", "EXPIRES", "OWNER")
			for _, c := range l.Data {
				t.row(c.ID, c.Name, c.CommonName, string(c.Status), expires(c.ExpiresAt, inv.now), c.OwnerID)
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "certificates")
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.Status, "status", "", "only this status: Pending, Active, Expiring, Expired, RenewalInProgress, Failed, Revoked or Archived")
	fs.StringVar(&f.Environment, "environment", "", "only this environment")
	fs.StringVar(&f.OwnerID, "owner", "", "only this owner ID")
	fs.StringVar(&f.TeamID, "team", "", "only this team ID")
	fs.StringVar(&f.IssuerID, "issuer", "", "only this issuer ID")
	fs.StringVar(&before, "expires-before", "", "only expiring before: RFC 3339, a date or an offset such as 30d")
	fs.StringVar(&after, "expires-after", "", "only expiring after: RFC 3339, a date or an offset such as -7d")
	fs.StringVarP(&f.Q, "search", "q", "", "only names or common names containing this text")
	fs.StringVar(&f.Sort, "sort", "", "order, as the server names it (e.g. expires_at)")
	pages.register(cmd)
	return cmd
}

func newCertGetCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a certificate",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			c, err := inv.client.GetCertificate(ctx, args[0])
			if err != nil {
				return err
			}
			return printCertificate(inv, c)
		}),
	}
}

func printCertificate(inv *invocation, c *wire.Certificate) error {
	if inv.json {
		return printJSON(inv.out, c)
	}
	status := string(c.Status)
	if c.StatusReason != "" {
		status += " (" + c.StatusReason + ")"
	}
	return printFields(inv.out, [][2]string{
		{"ID", c.ID},
		{"Name", c.Name},
		{"Common name", c.CommonName},
		{"SANs", join(c.SANs)},
		{"Status", status},
		{"Expires", expires(c.ExpiresAt, inv.now)},
		{"Environment", c.Environment},
		{"Owner", c.OwnerID},
		{"Team", c.TeamID},
		{"Issuer", c.IssuerID},
		{"Renewal policy", c.RenewalPolicyID},
		{"Targets", join(c.TargetIDs)},
		{"Tags", tagList(c.Tags)},
		{"Key generation", string(c.KeyGeneration)},
		{"Key type", string(c.KeyType)},
		{"Last renewal", when(c.LastRenewalAt)},
		{"Last deployment", when(c.LastDeploymentAt)},
		{"Created", when(&c.CreatedAt)},
		{"Updated", when(&c.UpdatedAt)},
	})
}

func newCertCreateCommand(o *cliOptions) *cobra.Command {
	var (
		file  string
		given wire.Certificate
		tags  []string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Add a certificate to the inventory",
		Long: `Add a managed certificate. Give its fields as flags, or as a JSON object
(the API's certificate shape) with -f FILE (- for standard input); flags given
as well override the file's fields. The server requires a common name, an
owner, a team and an issuer.`,
		Example: `  certctl cert create --common-name api.example.com --san api2.example.com \
    --owner o-alice --team t-platform --issuer iss-local --target tgt-nginx-prod \
    --renewal-policy rp-standard --environment production --tag tier=1
  certctl cert create -f cert.json --id mc-api-prod`,
		Args: noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			var cert wire.Certificate
			if file != "" {
				if err := readCertificate(file, inv.in, &cert); err != nil {
					return err
				}
			}
			overrides := map[string]func(){
				"id":             func() { cert.ID = given.ID },
				"name":           func() { cert.Name = given.Name },
				"common-name":    func() { cert.CommonName = given.CommonName },
				"san":            func() { cert.SANs = given.SANs },
				"environment":    func() { cert.Environment = given.Environment },
				"owner":          func() { cert.OwnerID = given.OwnerID },
				"team":           func() { cert.TeamID = given.TeamID },
				"issuer":         func() { cert.IssuerID = given.IssuerID },
				"target":         func() { cert.TargetIDs = given.TargetIDs },
				"renewal-policy": func() { cert.RenewalPolicyID = given.RenewalPolicyID },
				"key-generation": func() { cert.KeyGeneration = given.KeyGeneration },
				"key-type":       func() { cert.KeyType = given.KeyType },
			}
			fieldsGiven := file != ""
			for name, apply := range overrides {
				if inv.flags.Changed(name) {
					apply()
					fieldsGiven = true
				}
			}
			if len(tags) > 0 {
				fieldsGiven = true
				if cert.Tags == nil {
					cert.Tags = map[string]string{}
				}
				for _, kv := range tags {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usageError{fmt.Errorf("--tag %q must be key=value", kv)}
					}
					cert.Tags[k] = v
				}
			}
			if !fieldsGiven {
				return usageError{errors.New("give the certificate as flags (--common-name, --owner, --team, --issuer, ...) or as JSON with -f FILE")}
			}
			created, err := inv.client.CreateCertificate(ctx, cert)
			if err != nil {
				return err
			}
			return printCertificate(inv, created)
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&file, "file", "f", "", "JSON file of the certificate (- for standard input)")
	fs.StringVar(&given.ID, "id", "", "ID to give the certificate (default: the server chooses)")
	fs.StringVar(&given.Name, "name", "", "unique name (default: the common name)")
	fs.StringVar(&given.CommonName, "common-name", "", "common name: a host name, IP address or wildcard")
	fs.StringArrayVar(&given.SANs, "san", nil, "subject alternative name; repeatable")
	fs.StringVar(&given.Environment, "environment", "", "environment, such as production or staging")
	fs.StringVar(&given.OwnerID, "owner", "", "owner ID")
	fs.StringVar(&given.TeamID, "team", "", "team ID")
	fs.StringVar(&given.IssuerID, "issuer", "", "issuer ID")
	fs.StringArrayVar(&given.TargetIDs, "target", nil, "deployment target ID; repeatable")
	fs.StringVar(&given.RenewalPolicyID, "renewal-policy", "", "renewal policy ID")
	fs.StringVar((*string)(&given.KeyGeneration), "key-generation", "", "who makes the private key: agent (default; it never leaves the host) or server")
	fs.StringVar((*string)(&given.KeyType), "key-type", "", "key to make: ECDSA-P256 (default), ECDSA-P384, RSA-2048, RSA-3072, RSA-4096 or Ed25519")
	fs.StringArrayVar(&tags, "tag", nil, "tag as key=value; repeatable (merged into the file's tags)")
	return cmd
}

// readCertificate decodes the JSON certificate in path ("-": stdin) into
// dst. Unknown fields are refused, so a misspelt field is not lost silently.
func readCertificate(path string, stdin io.Reader, dst *wire.Certificate) error {
	var (
		raw []byte
		err error
	)
	if path == "-" {
		raw, err = io.ReadAll(stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return usageError{fmt.Errorf("-f: %w", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return usageError{fmt.Errorf("-f %s: not a certificate in JSON: %w", path, err)}
	}
	return nil
}

func newCertRenewCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "renew ID",
		Short: "Renew a certificate now",
		Long:  "Start the renewal of a certificate now, whatever its renewal window; it runs as a job (see certctl job list).",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.RenewCertificate(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "renewal_triggered", "renewal of %s started", args[0])
		}),
	}
}

func newCertRevokeCommand(o *cliOptions) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a certificate",
		Long:    "Revoke a certificate's current version at its issuer, with an RFC 5280 reason: " + join(client.RevocationReasons()) + ".",
		Example: "  certctl cert revoke mc-api-prod --reason keyCompromise",
		Args:    oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			canon := ""
			for _, r := range client.RevocationReasons() {
				if strings.EqualFold(r, reason) {
					canon = r
				}
			}
			if canon == "" {
				return usageError{fmt.Errorf("--reason %q is not one of %s", reason, join(client.RevocationReasons()))}
			}
			if err := inv.client.RevokeCertificate(ctx, args[0], canon); err != nil {
				return err
			}
			return printAction(inv, args[0], "revoked", "revoked %s (%s)", args[0], canon)
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 revocation reason, such as keyCompromise or superseded")
	return cmd
}

func newCertDeployCommand(o *cliOptions) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "deploy ID",
		Short: "Deploy a certificate to its targets",
		Long:  "Deploy a certificate's current version to all its targets, or to the one named with --target; deployments run as jobs.",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.DeployCertificate(ctx, args[0], target); err != nil {
				return err
			}
			to := "its targets"
			if target != "" {
				to = target
			}
			return printAction(inv, args[0], "deployment_triggered", "deployment of %s to %s started", args[0], to)
		}),
	}
	cmd.Flags().StringVar(&target, "target", "", "deploy to this target only")
	return cmd
}

// printAction reports an action the server accepted: a sentence, or with -o
// json the resource's id and the status the server answered.
func printAction(inv *invocation, id, status, format string, a ...any) error {
	if inv.json {
		return printJSON(inv.out, struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}{id, status})
	}
	for i, v := range a {
		if s, ok := v.(string); ok {
			a[i] = printable(s)
		}
	}
	_, err := fmt.Fprintf(inv.out, format+"\n", a...)
	return err
}
