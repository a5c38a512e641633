// A small DER reader for the two dates the issuers view shows: a CA
// certificate's validity and a CRL's thisUpdate/nextUpdate. It walks the
// outer structures only (RFC 5280 §4.1 and §5.1) and never trusts a length
// past the end of the buffer.

// tlv reads one element at off: {tag, start (of content), end}.
function tlv(buf, off) {
  if (off + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[off];
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new Error('DER element past the end');
  return { tag, start: p, end: p + len };
}

// children lists the elements inside a constructed element.
function children(buf, el) {
  const out = [];
  for (let p = el.start; p < el.end;) {
    const c = tlv(buf, p);
    out.push(c);
    p = c.end;
  }
  return out;
}

// time decodes a UTCTime (0x17) or GeneralizedTime (0x18).
function time(buf, el) {
  const s = String.fromCharCode(...buf.subarray(el.start, el.end));
  let m;
  if (el.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(s))) {
    const y = Number(m[1]);
    return new Date(Date.UTC(y < 50 ? 2000 + y : 1900 + y, m[2] - 1, m[3], m[4], m[5], m[6] || 0));
  }
  if (el.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(s))) {
    return new Date(Date.UTC(m[1], m[2] - 1, m[3], m[4], m[5], m[6]));
  }
  throw new Error(`unknown time ${s}`);
}

const isTime = (el) => el.tag === 0x17 || el.tag === 0x18;

// pemBlocks decodes the DER of each CERTIFICATE block of a PEM text.
export function pemBlocks(text) {
  const out = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  let m;
  while ((m = re.exec(text))) {
    const bin = atob(m[1].replace(/\s+/g, ''));
    const buf = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
    out.push(buf);
  }
  return out;
}

// certValidity answers {notBefore, notAfter, subject} of a DER certificate
// (subject as the last CommonName found, or '').
export function certValidity(der) {
  const cert = tlv(der, 0);
  const tbs = children(der, cert)[0];
  const f = children(der, tbs);
  let i = f[0].tag === 0xa0 ? 1 : 0; // [0] version
  i += 3; // serialNumber, signature, issuer
  const validity = children(der, f[i]);
  const subject = f[i + 1];
  return { notBefore: time(der, validity[0]), notAfter: time(der, validity[1]), subject: commonName(der, subject) };
}

// commonName finds the CN (2.5.4.3) in a Name.
function commonName(der, name) {
  let cn = '';
  for (const rdn of children(der, name)) {
    for (const atv of children(der, rdn)) {
      const [oid, val] = children(der, atv);
      const o = der.subarray(oid.start, oid.end);
      if (o.length === 3 && o[0] === 0x55 && o[1] === 0x04 && o[2] === 0x03) {
        cn = new TextDecoder().decode(der.subarray(val.start, val.end));
      }
    }
  }
  return cn;
}

// crlDates answers {thisUpdate, nextUpdate (null when absent)} of a DER CRL.
export function crlDates(der) {
  const list = tlv(der, 0);
  const tbs = children(der, list)[0];
  const f = children(der, tbs);
  let i = f[0].tag === 0x02 ? 1 : 0; // version INTEGER, optional
  i += 2; // signature, issuer
  const thisUpdate = time(der, f[i]);
  const nextUpdate = f[i + 1] && isTime(f[i + 1]) ? time(der, f[i + 1]) : null;
  return { thisUpdate, nextUpdate };
}
