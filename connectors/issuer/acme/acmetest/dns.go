package acmetest

import (
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS is a small authoritative DNS server for one zone, as a site's DNS
// server would be for the tests of DNS-01: every name has an A record
// 127.0.0.1, TXT records are what RFC 2136 updates signed with its TSIG key
// put there, and an unsigned or badly signed update is refused.
type DNS struct {
	// Addr is host:port, UDP and TCP.
	Addr    string
	zone    string
	mu      sync.Mutex
	txt     map[string][]string
	refused int
	file    string
}

// Refused counts the updates refused for their signature.
func (d *DNS) Refused() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

// SetFile makes the server answer, besides its own, the TXT records in
// file, a line "<fqdn> <value>" each, read at every query: what a DNS-01
// hook of the tests writes.
func (d *DNS) SetFile(file string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.file = file
}

// TSIG key of the test DNS server.
const (
	TSIGKey       = "certctl-test."
	TSIGSecret    = "c2VjcmV0LW9mLXRoZS10ZXN0LWRucy1zZXJ2ZXItMTIzNA=="
	TSIGAlgorithm = dns.HmacSHA256
)

// StartDNS serves zone on 127.0.0.1 until t ends.
func StartDNS(t testing.TB, zone string) *DNS {
	t.Helper()
	d := &DNS{zone: dns.Fqdn(zone), txt: map[string][]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = pc.LocalAddr().String()
	secrets := map[string]string{TSIGKey: TSIGSecret}
	accept := func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept } // updates too
	udp := &dns.Server{PacketConn: pc, Handler: d, TsigSecret: secrets, MsgAcceptFunc: accept}
	tcp := &dns.Server{Listener: ln, Handler: d, TsigSecret: secrets, MsgAcceptFunc: accept}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return d
}

// TXT returns the TXT records of name.
func (d *DNS) TXT(name string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	name = dns.Fqdn(strings.ToLower(name))
	out := append([]string(nil), d.txt[name]...)
	if d.file != "" {
		data, _ := os.ReadFile(d.file)
		for _, line := range strings.Split(string(data), "\n") {
			if n, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && dns.Fqdn(strings.ToLower(n)) == name {
				out = append(out, v)
			}
		}
	}
	return out
}

// ServeDNS answers queries and signed updates.
func (d *DNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if r.Opcode == dns.OpcodeUpdate {
		if r.IsTsig() == nil || w.TsigStatus() != nil {
			d.mu.Lock()
			d.refused++
			d.mu.Unlock()
			m.Rcode = dns.RcodeRefused
			_ = w.WriteMsg(m)
			return
		}
		d.update(r)
		if t := r.IsTsig(); t != nil {
			m.SetTsig(t.Hdr.Name, t.Algorithm, 300, time.Now().Unix())
		}
		_ = w.WriteMsg(m)
		return
	}
	for _, q := range r.Question {
		name := strings.ToLower(q.Name)
		if !dns.IsSubDomain(d.zone, name) {
			m.Rcode = dns.RcodeRefused
			continue
		}
		hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 1}
		switch q.Qtype {
		case dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		case dns.TypeTXT:
			hdr.Rrtype = dns.TypeTXT
			for _, v := range d.TXT(name) {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
			}
		case dns.TypeSOA:
			hdr.Rrtype, hdr.Name = dns.TypeSOA, d.zone
			m.Answer = append(m.Answer, &dns.SOA{Hdr: hdr, Ns: "ns." + d.zone, Mbox: "hostmaster." + d.zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1})
		}
	}
	_ = w.WriteMsg(m)
}

// update applies the TXT changes of an RFC 2136 update.
func (d *DNS) update(r *dns.Msg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, rr := range r.Ns {
		txt, ok := rr.(*dns.TXT)
		if !ok {
			continue
		}
		name := strings.ToLower(txt.Hdr.Name)
		switch txt.Hdr.Class {
		case dns.ClassINET:
			d.txt[name] = append(d.txt[name], txt.Txt...)
		case dns.ClassANY: // delete the RRset
			delete(d.txt, name)
		case dns.ClassNONE: // delete this record
			var keep []string
			for _, v := range d.txt[name] {
				if len(txt.Txt) == 0 || v != txt.Txt[0] {
					keep = append(keep, v)
				}
			}
			d.txt[name] = keep
		}
	}
}
