package e2e

// The dashboard in a real browser (issue 13, "How it must be shown"), against
// real nodes: a --dev node with the demo data for the views and the
// certificate's life, a three-node TLS cluster with keys for the roles, the
// session and the cluster view. The tests find what they check through the
// views' stable hooks: data-view on a view's root, data-testid="<thing>-table"
// on tables and data-id on their rows, data-action on action buttons,
// data-tile with .tile-count on the overview's risk tiles.
//
// Every page also fails its test when it requests anything from a host other
// than the node, logs a console error, throws, or opens a JavaScript dialog
// (browser_test.go).

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl/certctl/api/wire"
)

// viewCase is one view to load: its route, its data-view name, and a JS
// expression over `root` that is true once its data is shown.
type viewCase struct {
	shot, route, view, ready string
}

// rows is the ready condition of a list view: a table with a record.
const rows = `root.querySelector('[data-testid$="-table"] [data-id]')`

func has(text string) string { return fmt.Sprintf("root.textContent.includes(%s)", jsString(text)) }

// devViews are every view of the dashboard on a --dev node's demo data.
var devViews = []viewCase{
	{"overview", "/", "overview", `root.querySelector('[data-tile] .tile-count')`},
	{"certificates", "/certificates", "certificates", rows},
	{"certificate", "/certificates/mc-api-prod", "certificate", has("api-v2.example.com")},
	{"certificate-new", "/certificates/new", "certificate-form", `root.querySelector('form [name="common_name"]')`},
	{"certificate-edit", "/certificates/mc-api-prod/edit", "certificate-form", `root.querySelector('form [name="common_name"]') && root.querySelector('form [name="common_name"]').value === 'api.example.com'`},
	{"agents", "/agents", "agents", rows},
	{"agent", "/agents/ag-web-prod", "agent", has("web-prod-01.example.com")},
	{"jobs", "/jobs", "jobs", rows},
	{"job", "/jobs/job-demo-1", "job", has("mc-api-prod")},
	{"audit", "/audit", "audit", rows},
	{"cluster", "/cluster", "cluster", `root.querySelector('[data-id]')`},
	{"issuers", "/issuers", "issuers", rows},
	{"targets", "/targets", "targets", rows},
	{"policies", "/policies", "policies", rows},
	{"renewal-policies", "/renewal-policies", "renewal-policies", rows},
	{"owners", "/owners", "owners", rows},
	{"teams", "/teams", "teams", rows},
	{"notifications", "/notifications", "notifications", rows},
	{"keys", "/keys", "keys", rows},
}

// startDevNode starts a --dev node and waits for its demo data.
func startDevNode(t *testing.T) (*Cluster, *Node) {
	t.Helper()
	c := NewCluster(t, certctlBin)
	n := c.AddDevNode()
	c.StartNode(n)
	c.WaitReady(n)
	c.Wait("the demo data", func(context.Context) error {
		if !strings.Contains(n.Log(), `msg="demo data loaded"`) {
			return fmt.Errorf("no demo data yet")
		}
		return nil
	})
	return c, n
}

// createKey makes an API key of role through the node and answers its id
// and secret.
func createKey(t *testing.T, c *Cluster, n *Node, name, role string) (id, secret string) {
	t.Helper()
	var out struct {
		ID     string `json:"id"`
		APIKey string `json:"api_key"`
	}
	c.Wait("create key "+name, func(ctx context.Context) error {
		_, _, err := c.Client().Do(ctx, http.MethodPost, n.URL()+"/api/v1/auth/keys", map[string]any{"name": name, "role": role}, &out, http.StatusCreated)
		return err
	})
	return out.ID, out.APIKey
}

// TestDashboard_DevNode drives the dashboard of a --dev node: every view
// with the demo data (and its screenshot), a certificate's life through the
// forms and actions, the "expiring ≤ 7 d" tile, and hostile text shown as
// text.
func TestDashboard_DevNode(t *testing.T) {
	skipShort(t)
	c, n := startDevNode(t)
	createKey(t, c, n, "dashboard-viewer", "viewer") // the key list has one
	b := devBrowser(t)

	t.Run("views", func(t *testing.T) {
		p := b.NewPage(t, n.URL())
		p.Viewport(1280, 720, false)
		p.Open("/")
		for _, v := range devViews {
			p.Go(v.route)
			p.WaitView(v.view, v.ready)
			p.Screenshot(v.shot)
		}
		p.Viewport(390, 844, true)
		for _, v := range devViews[:2] {
			p.Open(v.route)
			p.WaitView(v.view, v.ready)
			p.Screenshot(v.shot + "-phone")
		}
	})

	t.Run("certificate-life", func(t *testing.T) { certificateLife(t, b, c, n) })

	t.Run("expiring-7d-tile", func(t *testing.T) {
		p := b.NewPage(t, n.URL())
		p.Open("/")
		p.WaitView("overview", `root.querySelector('[data-tile="expiring_7d"] .tile-count')`)
		var count int
		p.Eval(`parseInt(document.querySelector('[data-tile="expiring_7d"] .tile-count').textContent.replace(/[^0-9]/g, ''), 10)`, &count)
		require.Positive(t, count, "the demo has certificates expiring within 7 days (mc-auth-prod, mc-vpn-prod)")
		p.Click(`a[data-tile="expiring_7d"], [data-tile="expiring_7d"] a`)
		p.WaitView("certificates", rows)
		ids := rowIDs(p, "certificates")
		assert.Len(t, ids, count, "the list behind the tile holds what the tile counts")
		now := time.Now()
		for _, id := range ids {
			var cert wire.Certificate
			getJSON(t, c, n, "/api/v1/certificates/"+url.PathEscape(id), &cert)
			require.NotNil(t, cert.ExpiresAt, id)
			left := cert.ExpiresAt.Sub(now)
			assert.True(t, left > 0 && left <= 7*24*time.Hour, "%s expires in %v: not within the tile's 7 days", id, left.Round(time.Hour))
			assert.NotContains(t, []string{"Expired", "Revoked", "Archived"}, string(cert.Status), id)
		}
	})

	t.Run("list-live-refresh", func(t *testing.T) { listLiveRefresh(t, b, c, n) })

	// A first visit fetches the modules of the view shown, not of every
	// view (dynamic import() under the page's CSP and Trusted Types), each
	// gzip-compressed.
	t.Run("first-visit-modules", func(t *testing.T) {
		p := b.NewPage(t, n.URL())
		p.Open("/")
		p.WaitView("overview", devViews[0].ready)
		var files []struct {
			Name             string
			Encoded, Decoded int
		}
		p.Eval(`performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/assets/'))
			.map((e) => ({ Name: new URL(e.name).pathname, Encoded: e.encodedBodySize, Decoded: e.decodedBodySize }))`, &files)
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			if strings.HasSuffix(f.Name, ".js") || strings.HasSuffix(f.Name, ".css") {
				assert.Less(t, f.Encoded, f.Decoded, "%s is sent gzip-compressed", f.Name)
			}
		}
		assert.Contains(t, names, "/assets/views/overview.js")
		for _, other := range []string{"/assets/views/certificates.js", "/assets/views/keys.js", "/assets/views/issuers.js", "/assets/views/login.js"} {
			assert.NotContains(t, names, other, "a view not shown is not fetched")
		}
		p.Go("/keys")
		p.WaitView("keys", rows)
	})

	t.Run("hostile-text", func(t *testing.T) {
		const name = `<img src=x onerror=alert(1)>`
		const tag = `<script>alert(2)</script>`
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		_, _, err := c.Client().Do(ctx, http.MethodPost, n.URL()+"/api/v1/certificates", map[string]any{
			"id": "mc-xss", "name": name, "common_name": "xss.example.com", "environment": "production",
			"owner_id": "o-alice", "team_id": "t-platform", "issuer_id": "iss-local",
			"tags": map[string]string{"service": tag},
		}, nil, http.StatusCreated)
		require.NoError(t, err)
		p := b.NewPage(t, n.URL())
		p.Open("/certificates?q=xss")
		p.WaitView("certificates", `root.querySelector('[data-id="mc-xss"]')`)
		var text string
		p.Eval(`document.querySelector('[data-view="certificates"] [data-id="mc-xss"]').textContent`, &text)
		assert.Contains(t, text, name, "the list shows the name as text")
		p.Go("/certificates/mc-xss")
		p.WaitView("certificate", has(name)+" && "+has(tag))
		assert.Zero(t, p.Count(`main img[src="x"], main script`), "no element made from the certificate's text")
	})
}

// certificateLife creates a certificate through the form (a field error
// first), renews it and watches the job complete without a reload, revokes
// it with a reason and finds it all in the filtered audit trail.
func certificateLife(t *testing.T, b *Browser, c *Cluster, n *Node) {
	p := b.NewPage(t, n.URL())
	p.AllowStatus(http.StatusBadRequest) // the form's first submission
	form := `[data-view="certificate-form"] form`
	body := map[string]string{
		"name": "Dashboard test", "common_name": "", "environment": "production",
		"owner_id": "o-alice", "team_id": "t-platform", "issuer_id": "iss-local", "key_generation": "server",
	}

	// The API's own message for the empty common name.
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	_, _, err := c.Client().Do(ctx, http.MethodPost, n.URL()+"/api/v1/certificates", body, nil, http.StatusCreated)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "common_name", se.Body.Field)
	apiMessage := se.Body.Message

	p.Open("/certificates/new")
	p.WaitView("certificate-form", `root.querySelector('form [name="common_name"]')`)
	for k, v := range body {
		p.SetField(form, k, v)
	}
	p.Click(submitButton(form))
	p.WaitJS("the common name's error next to it", fmt.Sprintf(`(() => {
		const input = document.querySelector('%s [name="common_name"]');
		const err = input && input.closest('.field') && input.closest('.field').querySelector('.field-error');
		return input.getAttribute('aria-invalid') === 'true' && err && err.textContent.trim() === %s;
	})()`, form, jsString(apiMessage)))

	cn := "dashboard-life.example.com"
	p.SetField(form, "common_name", cn)
	p.Click(submitButton(form))
	p.WaitJS("the new certificate's page", `/^#\/certificates\/[^/?]+$/.test(location.hash) && location.hash !== '#/certificates/new'`)
	id, err := url.PathUnescape(strings.TrimPrefix(p.Hash(), "#/certificates/"))
	require.NoError(t, err)
	p.WaitView("certificate", has(cn))

	// Renew, confirmed in the dialog, then watch the job reach Completed
	// in the page as it refreshes itself.
	p.Eval(`window.e2eSameDocument = true`, nil)
	p.Click(`[data-view="certificate"] [data-action="renew"]`)
	p.ConfirmDialog("")
	var job string
	c.Wait("the renewal job", func(ctx context.Context) error {
		var jobs wire.List[wire.Job]
		if err := c.Client().GetJSON(ctx, n.URL(), "/api/v1/jobs?certificate_id="+url.QueryEscape(id), "", &jobs); err != nil {
			return err
		}
		for _, j := range jobs.Data {
			if j.Type == "Renewal" {
				job = j.ID
				return nil
			}
		}
		return fmt.Errorf("no renewal job for %s yet", id)
	})
	p.WaitJS("the renewal job Completed in the certificate's page", fmt.Sprintf(
		`(() => { const r = document.querySelector('[data-view="certificate"] [data-id=%s]'); return r && r.textContent.includes('Completed'); })()`, jsString(job)))
	var same bool
	p.Eval(`window.e2eSameDocument === true`, &same)
	assert.True(t, same, "the page was not reloaded to show the job's progress")

	// Revoke with a reason.
	p.Click(`[data-view="certificate"] [data-action="revoke"]`)
	reason := p.ConfirmDialog("keyCompromise")
	p.WaitJS("the certificate shown Revoked", `document.querySelector('[data-view="certificate"] [data-status="Revoked"]')`)
	var cert wire.Certificate
	getJSON(t, c, n, "/api/v1/certificates/"+url.PathEscape(id), &cert)
	assert.Equal(t, "Revoked", string(cert.Status))
	assert.Equal(t, "keyCompromise", reason)

	// The audit trail, filtered by the certificate's id.
	p.Go("/audit")
	p.WaitView("audit", rows)
	p.SetField(`[data-view="audit"]`, "resource_id", id)
	p.Eval(`(() => { const i = document.querySelector('[data-view="audit"] [name="resource_id"]'); if (i.form) i.form.requestSubmit(); })()`, nil)
	auditRows := fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('[data-view="audit"] [data-testid="audit-table"] [data-id]')];
		return rows.length >= 3 && rows.every((r) => r.textContent.includes(%[1]s));
	})()`, jsString(id))
	p.WaitJS("the audit trail filtered by "+id, auditRows)
	var text string
	p.Eval(`document.querySelector('[data-view="audit"] [data-testid="audit-table"]').textContent`, &text)
	for _, action := range []string{"certificate_created", "revoked"} {
		assert.Contains(t, text, action)
	}
	p.Reload()
	p.WaitJS("the filtered audit trail after a reload", auditRows)
}

// listLiveRefresh opens the certificate list, checks a row, and creates a
// certificate through the API: the list shows it by itself, without a
// reload, while the checked row keeps its element, its check and the focus.
func listLiveRefresh(t *testing.T, b *Browser, c *Cluster, n *Node) {
	write := func(method, id, name string) {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		path, status := "/api/v1/certificates", http.StatusCreated
		if method == http.MethodPut {
			path, status = path+"/"+id, http.StatusOK
		}
		_, _, err := c.Client().Do(ctx, method, n.URL()+path, map[string]any{
			"id": id, "name": name, "common_name": id + ".live-refresh.example.com", "environment": "staging",
			"owner_id": "o-alice", "team_id": "t-platform", "issuer_id": "iss-local",
		}, nil, status)
		require.NoError(t, err)
	}
	create := func(id string) { write(http.MethodPost, id, "Live refresh "+id) }
	create("mc-live-a")
	p := b.NewPage(t, n.URL())
	p.Open("/certificates?q=live-refresh")
	p.WaitView("certificates", `root.querySelector('[data-id="mc-live-a"]')`)
	require.Equal(t, []string{"mc-live-a"}, rowIDs(p, "certificates"))
	p.Click(`[data-view="certificates"] input[data-select="mc-live-a"]`)
	p.WaitJS("one row selected", `(document.querySelector('[data-testid="selected-count"]') || {}).textContent === '1 selected'`)
	p.Eval(`(() => {
		window.e2eSameDocument = true;
		window.e2eRow = document.querySelector('[data-view="certificates"] [data-id="mc-live-a"]');
		return true;
	})()`, nil)

	create("mc-live-b")
	p.WaitJS("the new certificate in the open list", `document.querySelector('[data-view="certificates"] [data-testid="certificates-table"] [data-id="mc-live-b"]')`)
	var kept struct {
		Same, Row, Checked, Focused bool
		Count                       string
	}
	// readKept reads what of mc-live-a's row and the page survived a refresh.
	readKept := func() {
		t.Helper()
		p.Eval(`(() => {
			const row = document.querySelector('[data-view="certificates"] [data-id="mc-live-a"]');
			const box = row.querySelector('input[data-select]');
			return { Same: window.e2eSameDocument === true, Row: row === window.e2eRow, Checked: box.checked,
				Focused: document.activeElement === box,
				Count: document.querySelector('[data-testid="selected-count"]').textContent };
		})()`, &kept)
	}
	readKept()
	assert.True(t, kept.Same, "the page was not reloaded")
	assert.True(t, kept.Row, "the unchanged row kept its element")
	assert.True(t, kept.Checked, "the checked row is still checked")
	assert.True(t, kept.Focused, "the focus stayed on the checked box")
	assert.Equal(t, "1 selected", kept.Count)
	assert.ElementsMatch(t, []string{"mc-live-a", "mc-live-b"}, rowIDs(p, "certificates"))

	// A changed record's row is drawn again in its place, still checked,
	// with the focus on its box.
	write(http.MethodPut, "mc-live-a", "Live refresh renamed")
	p.WaitJS("the renamed certificate in the open list", `document.querySelector('[data-view="certificates"] [data-id="mc-live-a"]').textContent.includes('Live refresh renamed')`)
	readKept()
	assert.True(t, kept.Same, "the page was not reloaded")
	assert.False(t, kept.Row, "the changed row was drawn again")
	assert.True(t, kept.Checked, "the changed row is still checked")
	assert.True(t, kept.Focused, "the focus moved to the changed row's box")
	assert.Equal(t, "1 selected", kept.Count)
}

// getJSON reads path from node n into out, failing the test on error.
func getJSON(t *testing.T, c *Cluster, n *Node, path string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	require.NoError(t, c.Client().GetJSON(ctx, n.URL(), path, "", out))
}

// submitButton is the selector of a form's submit button.
func submitButton(form string) string {
	return fmt.Sprintf(`%[1]s [data-action="create"], %[1]s [data-action="save"], %[1]s button[type="submit"]`, form)
}

// SetField sets the value of the control named name inside scope as a user
// does (then input and change events); for a select the option must exist.
func (p *Page) SetField(scope, name, value string) {
	p.tb.Helper()
	var problem string
	p.Eval(fmt.Sprintf(`(() => {
		const el = document.querySelector(%s + ' [name=' + CSS.escape(%s) + ']');
		if (!el) return 'no control named ' + %[2]s;
		if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === %[3]s)) return 'no option ' + %[3]s + ' in ' + %[2]s;
		el.focus();
		el.value = %[3]s;
		el.dispatchEvent(new Event('input', { bubbles: true }));
		el.dispatchEvent(new Event('change', { bubbles: true }));
		return '';
	})()`, jsString(scope), jsString(name), jsString(value)), &problem)
	if problem != "" {
		p.tb.Fatalf("e2e: %s: %s", scope, problem)
	}
}

// ConfirmDialog waits for the confirmation dialog, chooses reason when it
// asks for one (the option whose value is reason, else the first), confirms,
// and answers the reason chosen.
func (p *Page) ConfirmDialog(reason string) string {
	p.tb.Helper()
	p.WaitJS("the confirmation dialog", `document.querySelector('dialog[open]')`)
	var chosen string
	p.Eval(fmt.Sprintf(`(() => {
		const s = document.querySelector('dialog[open] select[name="reason"]');
		if (!s) return '';
		const opts = [...s.options].filter((o) => o.value);
		const o = opts.find((o) => o.value === %s) || opts[0];
		s.value = o.value;
		s.dispatchEvent(new Event('change', { bubbles: true }));
		return o.value;
	})()`, jsString(reason)), &chosen)
	p.Click(`dialog[open] button[type="submit"]`)
	p.WaitJS("the dialog to close", `!document.querySelector('dialog[open]')`)
	return chosen
}

// rowIDs returns the data-id of the rows of the view's record table.
func rowIDs(p *Page, view string) []string {
	var ids []string
	p.Eval(fmt.Sprintf(`[...document.querySelectorAll('[data-view=%s] [data-testid$="-table"] [data-id]')].map((r) => r.dataset.id)`, jsString(view)), &ids)
	return ids
}

// writeActions are the actions a viewer must not be offered.
const writeActions = `[data-action="renew"], [data-action="revoke"], [data-action="archive"], [data-action="create"], ` +
	`[data-action="deploy"], [data-action="edit"], [data-action="delete"], [data-action="save"], [data-action="cancel"], [data-action="retry"]`

// signIn signs in on the login page with key and waits for the page to
// leave it.
func signIn(p *Page, key string) {
	p.tb.Helper()
	p.WaitJS("the login form", `document.querySelector('#api-key')`)
	p.SetField("form.login", "api_key", key)
	p.Click(`form.login button[type="submit"]`)
	p.WaitJS("to leave the login page", `!location.hash.startsWith('#/login') && !document.querySelector('#api-key')`)
}

// TestDashboard_Cluster runs the dashboard on a follower of a three-node
// cluster served over HTTPS with keys: what each role is offered, the
// session in the tab's storage, a key revoked while its page is open, and
// the cluster view following a leader killed with SIGKILL.
func TestDashboard_Cluster(t *testing.T) {
	skipShort(t)
	c := NewCluster(t, certctlBin)
	c.Start(3)
	leader := c.WaitLeader()
	node := c.Followers(leader)[0]
	fx := c.Seed(leader)
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	for i := range 3 {
		cert := fx.NewCertificate(fmt.Sprintf("mc-dash-%d", i))
		_, err := c.Client().CreateCertificate(ctx, leader.URL(), cert)
		require.NoError(t, err)
	}
	_, viewer := createKey(t, c, leader, "viewer", "viewer")
	_, auditor := createKey(t, c, leader, "auditor", "auditor")
	_, operator := createKey(t, c, leader, "operator", "operator")
	b, err := NewBrowser(t, caSPKI(t, c))
	require.NoError(t, err)
	defer b.Close()

	t.Run("viewer-sees-no-write-action", func(t *testing.T) {
		// No status is allowed here: the issuers' view asks the API about an
		// issuer that never issued (has_material false), not for its
		// /.well-known/pki files, which answer 404 until it does.
		p := b.NewPage(t, node.URL())
		p.Open("/")
		signIn(p, viewer)
		for _, v := range []viewCase{
			{route: "/", view: "overview"},
			{route: "/certificates", view: "certificates", ready: rows},
			{route: "/certificates/mc-dash-0", view: "certificate", ready: has("mc-dash-0.example.com")},
			{route: "/agents", view: "agents"},
			{route: "/jobs", view: "jobs"},
			{route: "/issuers", view: "issuers", ready: rows + " && " + has("not created yet")},
			{route: "/owners", view: "owners", ready: rows},
			{route: "/teams", view: "teams", ready: rows},
			{route: "/policies", view: "policies"},
			{route: "/notifications", view: "notifications"},
		} {
			p.Go(v.route)
			p.WaitView(v.view, v.ready)
			assert.Zero(t, p.Count(writeActions), "%s offers a viewer a write action", v.route)
		}
		p.Go("/certificates/new")
		p.WaitJS("the form refused", `!document.querySelector('[data-view="certificate-form"]') && document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Not allowed'`)
		assert.Zero(t, p.Count(`#nav a[href="#/cluster"], #nav a[href="#/keys"]`), "no admin entries for a viewer")
	})

	t.Run("operator-sees-write-actions", func(t *testing.T) {
		p := b.NewPage(t, node.URL())
		p.Open("/certificates/mc-dash-0")
		signIn(p, operator)
		p.WaitView("certificate", has("mc-dash-0.example.com"))
		assert.Positive(t, p.Count(`[data-action="renew"]`), "an operator is offered renew (the viewer test's control)")
	})

	t.Run("auditor-sees-the-audit-trail-only", func(t *testing.T) {
		p := b.NewPage(t, node.URL())
		p.Open("/")
		signIn(p, auditor)
		p.WaitJS("the auditor sent to the audit trail", `location.hash.startsWith('#/audit')`)
		p.WaitView("audit", rows)
		var nav []string
		p.Eval(`[...document.querySelectorAll('#nav a')].map((a) => a.getAttribute('href'))`, &nav)
		assert.Equal(t, []string{"#/audit"}, nav, "an auditor's navigation holds the audit trail only")
		p.Go("/certificates")
		p.WaitJS("the certificates refused", `!document.querySelector('[data-view="certificates"]') && document.querySelector('main h1') && document.querySelector('main h1').textContent === 'Not allowed'`)
	})

	t.Run("session", func(t *testing.T) {
		p := b.NewPage(t, node.URL())
		p.Open("/certificates")
		signIn(p, AdminKey)
		for _, v := range []viewCase{
			{route: "/certificates", view: "certificates", ready: rows},
			{route: "/certificates/mc-dash-1", view: "certificate", ready: has("mc-dash-1.example.com")},
			{route: "/audit", view: "audit", ready: rows},
			{route: "/cluster", view: "cluster", ready: `root.querySelector('[data-id]')`},
			{route: "/", view: "overview"},
		} {
			p.Go(v.route)
			p.WaitView(v.view, v.ready)
			p.Reload()
			p.WaitView(v.view, v.ready)
			assert.Zero(t, p.Count("#api-key"), "a reload of %s asked for the key again", v.route)
		}
		// A closed tab's session is gone: a new browser context signs in again.
		q := b.NewPage(t, node.URL())
		q.Open("/certificates")
		q.WaitJS("the login page in a new session", `location.hash.startsWith('#/login') && document.querySelector('#api-key')`)
	})

	t.Run("key-revoked-mid-session", func(t *testing.T) {
		id, key := createKey(t, c, leader, "revoked-soon", "viewer")
		p := b.NewPage(t, node.URL())
		p.AllowStatus(http.StatusUnauthorized)
		// The certificate's page refreshes itself (every 3 s): its next
		// refresh meets the revoked key.
		p.Open("/certificates/mc-dash-2")
		signIn(p, key)
		p.WaitView("certificate", has("mc-dash-2.example.com"))
		c.Wait("revoke the key", func(ctx context.Context) error {
			_, _, err := c.Client().Do(ctx, http.MethodDelete, leader.URL()+"/api/v1/auth/keys/"+id, nil, nil, http.StatusNoContent)
			return err
		})
		p.WaitJS("the login page with a message", `location.hash.startsWith('#/login') && document.querySelector('#api-key') && document.querySelector('form.login [role="alert"]') && document.querySelector('form.login [role="alert"]').textContent.trim() !== ''`)
		var stored string
		p.Eval(`sessionStorage.getItem('certctl.apiKey') || ''`, &stored)
		assert.Empty(t, stored, "the revoked key is no longer kept")
	})

	t.Run("cluster-view-follows-the-leader", func(t *testing.T) {
		p := b.NewPage(t, node.URL())
		// While the survivors elect a leader, a call that needs one may be
		// answered 503 (no leader yet), as documented; the view shows it.
		p.AllowStatus(http.StatusServiceUnavailable)
		p.Open("/cluster")
		signIn(p, AdminKey)
		leaderRow := func(id string) string {
			return fmt.Sprintf(`(() => { const r = document.querySelector('[data-view="cluster"] [data-id=%s]'); return r && r.querySelector('[data-status="leader"]'); })()`, jsString(id))
		}
		p.WaitView("cluster", `root.querySelectorAll('[data-id]').length >= 3`)
		p.WaitJS("the leader "+leader.ID+" shown", leaderRow(leader.ID))
		p.WaitJS("a healthy quorum shown", `document.querySelector('[data-view="cluster"] [data-quorum="ok"]')`)
		p.Screenshot("cluster-3-nodes")
		c.Kill(leader)
		next := c.WaitLeader(leader)
		p.WaitJS("the new leader "+next.ID+" shown", leaderRow(next.ID)+" && !"+leaderRow(leader.ID))
		p.WaitJS("the quorum shown at risk (one voter down of three)", `document.querySelector('[data-view="cluster"] [data-quorum="at-risk"]')`)
		p.Screenshot("cluster-after-failover")
		require.NotEqual(t, leader.ID, next.ID)
	})
}
