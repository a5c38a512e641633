package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// checkACME checks the ACME HTTP-01 settings: a listen address, a webroot
// inside allowed_dirs (the agent writes there only what it may write), a
// poll interval of at least 500ms.
func (c agentConfig) checkACME(s *settled) []string {
	var problems []string
	if c.ACMEHTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.ACMEHTTPAddr); err != nil {
			problems = append(problems, fmt.Sprintf("acme_http_addr %q must be host:port or :port, such as :80", c.ACMEHTTPAddr))
		}
	}
	if w := c.ACMEWebroot; w != "" {
		switch {
		case !filepath.IsAbs(w) || filepath.Clean(w) != w:
			problems = append(problems, fmt.Sprintf("acme_webroot %q must be an absolute directory in clean form, such as /var/www/html", w))
		case !insideAny(w, c.AllowedDirs):
			problems = append(problems, fmt.Sprintf("acme_webroot %q must be inside one of allowed_dirs (add it there: the agent writes only inside them)", w))
		}
	}
	v, err := time.ParseDuration(c.ACMEPoll)
	if err != nil || v < 500*time.Millisecond {
		problems = append(problems, fmt.Sprintf("acme_poll_interval %q must be a duration of at least 500ms, such as 2s", c.ACMEPoll))
	}
	s.acmePoll = v
	return problems
}

// insideAny reports whether dir is one of dirs or below one.
func insideAny(dir string, dirs []string) bool {
	for _, d := range dirs {
		if dir == d || strings.HasPrefix(dir, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}
