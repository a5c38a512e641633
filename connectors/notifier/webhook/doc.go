// Package webhook is the Webhook notifier: it POSTs each alert or event as a
// JSON object to a configured URL, signed in the header
// X-Certctl-Signature: sha256=<hex of HMAC-SHA256 of the request body under
// the secret>, so the receiver can check that certctl sent it. A 2xx answer
// is a delivery; anything else is an error carrying the status. It must never
// follow redirects to another host or keep state between sends.
package webhook
