package main

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/certctl/certctl/api/client"
	"github.com/certctl/certctl/api/wire"
)

func newJobCommand(o *cliOptions) *cobra.Command {
	return newGroup("job", "Inspect and cancel jobs", newJobListCommand(o), newJobGetCommand(o), newJobCancelCommand(o))
}

func newJobListCommand(o *cliOptions) *cobra.Command {
	var (
		f     client.ListJobsOptions
		pages pageFlags
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List jobs",
		Example: "  certctl job list --status Failed --type Renewal",
		Args:    noArgs,
		RunE: o.run(func(ctx context.Context, inv *invocation, _ []string) error {
			if err := pages.validate(); err != nil {
				return err
			}
			f.Page, f.PerPage = pages.page, pages.perPage
			l, err := inv.client.ListJobs(ctx, f)
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, l)
			}
			t := newTable(inv.out, "ID", "TYPE", "STATUS", "CERTIFICATE", "TARGET", "AGENT", "ATTEMPTS", "SCHEDULED")
			for _, j := range l.Data {
				t.row(j.ID, string(j.Type), string(j.Status), j.CertificateID, j.TargetID, j.AgentID, attempts(&j), when(&j.ScheduledAt))
			}
			if err := t.flush(); err != nil {
				return err
			}
			printPage(inv.errOut, len(l.Data), l.Total, l.Page, l.PerPage, "jobs")
			return nil
		}),
	}
	cmd.Flags().StringVar(&f.Status, "status", "", "only this status: Pending, AwaitingCSR, Running, Completed, Failed or Cancelled")
	cmd.Flags().StringVar(&f.Type, "type", "", "only this type: Issuance, Renewal, Deployment or Validation")
	pages.register(cmd)
	return cmd
}

func attempts(j *wire.Job) string {
	return strconv.Itoa(j.Attempts) + "/" + strconv.Itoa(j.MaxAttempts)
}

func newJobGetCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show a job",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			j, err := inv.client.GetJob(ctx, args[0])
			if err != nil {
				return err
			}
			if inv.json {
				return printJSON(inv.out, j)
			}
			lease := j.LeaseHolder
			if lease != "" && j.LeaseExpiresAt != nil {
				lease += " until " + when(j.LeaseExpiresAt)
			}
			return printFields(inv.out, [][2]string{
				{"ID", j.ID},
				{"Type", string(j.Type)},
				{"Status", string(j.Status)},
				{"Certificate", j.CertificateID},
				{"Target", j.TargetID},
				{"Agent", j.AgentID},
				{"Attempts", attempts(j)},
				{"Last error", j.LastError},
				{"Validation", validationSummary(j.DeploymentResult)},
				{"Deployment result", string(j.DeploymentResult)},
				{"Lease", lease},
				{"Scheduled", when(&j.ScheduledAt)},
				{"Started", when(j.StartedAt)},
				{"Completed", when(j.CompletedAt)},
				{"Created", when(&j.CreatedAt)},
			})
		}),
	}
}

func newJobCancelCommand(o *cliOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job that has not finished",
		Args:  oneID,
		RunE: o.run(func(ctx context.Context, inv *invocation, args []string) error {
			if err := inv.client.CancelJob(ctx, args[0]); err != nil {
				return err
			}
			return printAction(inv, args[0], "job_cancelled", "cancelled job %s", args[0])
		}),
	}
}

// validationSummary is one line on how the agent checked a deployment, from
// the "validation" object it records in the job's deployment_result.
func validationSummary(result json.RawMessage) string {
	var r struct {
		Validation *struct {
			Valid        bool   `json:"valid"`
			Method       string `json:"method"`
			Endpoint     string `json:"endpoint"`
			ServedSerial string `json:"served_serial"`
			Message      string `json:"message"`
		} `json:"validation"`
	}
	if len(result) == 0 || json.Unmarshal(result, &r) != nil || r.Validation == nil {
		return ""
	}
	v := r.Validation
	verdict := "FAILED"
	if v.Valid {
		verdict = "passed"
	}
	line := verdict + " (" + v.Method
	if v.Endpoint != "" {
		line += " " + v.Endpoint
	}
	if v.ServedSerial != "" {
		line += ", served serial " + v.ServedSerial
	}
	return line + "): " + v.Message
}
