// Package email is the Email notifier: it sends each alert or event as a
// plain-text message through an SMTP server with net/smtp, over STARTTLS by
// default ("tls": "implicit" for port 465; "none" only when asked for), with
// PLAIN authentication when a username is set. Every send dials anew within a
// timeout. It must never send a password over an unencrypted connection to
// another host, nor keep state between sends.
package email
