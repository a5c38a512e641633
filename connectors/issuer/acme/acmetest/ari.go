package acmetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// SetRenewalInfo makes pebble suggest the renewal window [start, end) for
// certPEM from now on (its management interface's /set-renewal-info/).
func (p *Pebble) SetRenewalInfo(t testing.TB, certPEM string, start, end time.Time, explanationURL string) {
	t.Helper()
	ari, err := json.Marshal(map[string]any{
		"suggestedWindow": map[string]string{"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)},
		"explanationURL":  explanationURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]string{"certificate": certPEM, "ariResponse": string(ari)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.client.Post(p.ManagementURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acmetest: POST /set-renewal-info/: %s: %s", resp.Status, msg)
	}
}
