//! Sender authentication: DKIM signatures on the mail we send, and SPF, DKIM and DMARC checks
//! of the mail we receive (RFC 7208, 6376, 7489), on `mail-auth`.
//!
//! Signing is pure (a key loaded and checked at start-up). Checking asks DNS; it never holds
//! intake up for long: one time budget per message, answers cached by their TTL, and a DNS that
//! keeps failing is left alone for a while. Whatever DNS does, a message gets a result (a DNS
//! failure is `temperror`: accepted, shown as unverified); it is never refused for our DNS.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Done, DkimSigner};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

/// The headers a notice's signature covers (those it has; absent ones are skipped).
pub const SIGNED_HEADERS: [&str; 10] =
    ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type", "Auto-Submitted"];

enum Signer {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// A DKIM key for one domain and selector: signs every notice (relaxed/relaxed, rsa-sha256 or
/// ed25519-sha256 by the key).
pub struct DkimSigning {
    domain: String,
    selector: String,
    signer: Signer,
}

impl std::fmt::Debug for DkimSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigning").field("domain", &self.domain).field("selector", &self.selector).field("algorithm", &self.algorithm()).finish()
    }
}

impl DkimSigning {
    /// Reads the key from a PEM file (`BEGIN RSA PRIVATE KEY`, or `BEGIN PRIVATE KEY` holding an
    /// RSA or Ed25519 key) and checks the domain and selector.
    pub fn load(domain: &str, selector: &str, key_file: &std::path::Path) -> Result<DkimSigning, String> {
        let pem = std::fs::read(key_file).map_err(|e| format!("cannot read the DKIM key {}: {e}", key_file.display()))?;
        DkimSigning::from_pem(domain, selector, &pem).map_err(|e| format!("{}: {e}", key_file.display()))
    }

    pub fn from_pem(domain: &str, selector: &str, pem: &[u8]) -> Result<DkimSigning, String> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !is_dns_name(&domain) || !domain.contains('.') {
            return Err(format!("'{domain}' is not a domain name"));
        }
        let selector = selector.trim().to_ascii_lowercase();
        if !is_dns_name(&selector) {
            return Err(format!("selector '{selector}' is not valid: letters, digits and '-' in dot-separated labels (RFC 6376 3.1)"));
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no private key in PEM form: {e}"))?;
        let signer = match key {
            PrivateKeyDer::Pkcs1(_) => Signer::Rsa(
                DkimSigner::from_key(RsaKey::<Sha256>::from_key_der(key).map_err(|e| format!("unusable RSA key (2048 to 8192 bits): {e}"))?)
                    .domain(domain.clone())
                    .selector(selector.clone())
                    .headers(SIGNED_HEADERS),
            ),
            PrivateKeyDer::Pkcs8(ref der) => {
                let der = der.secret_pkcs8_der().to_vec();
                match RsaKey::<Sha256>::from_key_der(key) {
                    Ok(rsa) => Signer::Rsa(DkimSigner::from_key(rsa).domain(domain.clone()).selector(selector.clone()).headers(SIGNED_HEADERS)),
                    Err(rsa_error) => match Ed25519Key::from_pkcs8_maybe_unchecked_der(&der) {
                        Ok(ed) => Signer::Ed25519(DkimSigner::from_key(ed).domain(domain.clone()).selector(selector.clone()).headers(SIGNED_HEADERS)),
                        Err(_) => return Err(format!("the key is neither a usable RSA key (2048 to 8192 bits) nor an Ed25519 key: {rsa_error}")),
                    },
                }
            }
            _ => return Err("only RSA and Ed25519 keys can sign DKIM (this looks like an EC key)".into()),
        };
        let me = DkimSigning { domain, selector, signer };
        // A key that cannot sign is found now, not on the first notice.
        me.sign(b"From: a@b.example\r\nSubject: test\r\n\r\ntest\r\n")?;
        Ok(me)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    pub fn algorithm(&self) -> &'static str {
        match self.signer {
            Signer::Rsa(_) => "rsa-sha256",
            Signer::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// The message with its `DKIM-Signature` header in front.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let signature = match &self.signer {
            Signer::Rsa(s) => s.sign(message),
            Signer::Ed25519(s) => s.sign(message),
        }
        .map_err(|e| format!("DKIM signing failed: {e}"))?;
        let header = signature.to_header();
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }
}

/// Dot-separated labels of letters, digits and inner hyphens, as DNS names and DKIM selectors are.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

// ---------------------------------------------------------------------------------------------
// Checking received mail.

use mail_auth::common::resolver::IntoFqdn;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, MX, MessageAuthenticator, Parameters, ResolverCache, SpfOutput, SpfResult, Txt};
pub use ombuds_desk::{AuthResult, DmarcPolicy, SenderAuth};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the SMTP session said about the sender (the IMAP poller has none of it).
#[derive(Debug, Clone, Copy)]
pub struct SmtpIdentity<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// `MAIL FROM`, empty for a bounce.
    pub mail_from: &'a str,
}

/// DNS answers kept until their TTL runs out; a bounded number of them.
struct Cache<K, V>(Mutex<HashMap<K, (V, Instant)>>);

const CACHE_ENTRIES: usize = 20_000;

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    fn new() -> Self {
        Cache(Mutex::new(HashMap::new()))
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for Cache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.0.lock().expect("dns cache lock");
        map.get(name).filter(|(_, until)| *until > Instant::now()).map(|(v, _)| v.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().expect("dns cache lock").remove(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut map = self.0.lock().expect("dns cache lock");
        if map.len() >= CACHE_ENTRIES {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= CACHE_ENTRIES {
                map.clear();
            }
        }
        // Never longer than a day, whatever the TTL says.
        map.insert(key, (value, valid_until.min(Instant::now() + Duration::from_secs(86_400))));
    }
}

/// Checks SPF, DKIM and DMARC of received mail. Cheap to share (`Arc`).
pub struct SenderVerifier {
    dns: MessageAuthenticator,
    txt: Cache<String, Txt>,
    mx: Cache<String, Arc<Vec<MX>>>,
    ipv4: Cache<String, Arc<Vec<Ipv4Addr>>>,
    ipv6: Cache<String, Arc<Vec<Ipv6Addr>>>,
    ptr: Cache<IpAddr, Arc<Vec<String>>>,
    /// The time one message's checks may take in all.
    budget: Duration,
    /// Messages in a row whose checks found DNS unusable.
    dns_failures: AtomicU32,
    /// While set and ahead, DNS is not asked at all: results are `temperror` at once.
    resting_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SenderVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderVerifier").field("budget", &self.budget).field("resting", &self.resting_until).finish()
    }
}

/// After this many messages in a row with DNS failing, DNS is left alone for [`DNS_REST`].
const DNS_FAILURES_BEFORE_REST: u32 = 5;
const DNS_REST: Duration = Duration::from_secs(30);

impl SenderVerifier {
    /// Asks the system's resolvers (`/etc/resolv.conf`), each query at most `budget / 2`, once.
    pub fn system(budget: Duration) -> Result<SenderVerifier, String> {
        let (config, mut opts) =
            mail_auth::hickory_resolver::system_conf::read_system_conf().map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?;
        opts.timeout = (budget / 2).max(Duration::from_millis(100));
        opts.attempts = 1;
        SenderVerifier::with(config, opts, budget)
    }

    /// Asks no DNS at all: only records given with [`SenderVerifier::add_txt`] are known, every
    /// other look-up fails at once (`temperror`). For tests and machines without DNS.
    pub fn offline(budget: Duration) -> SenderVerifier {
        let config = ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::with_capacity(0));
        SenderVerifier::with(config, ResolverOpts::default(), budget).expect("a resolver without servers")
    }

    fn with(config: ResolverConfig, opts: ResolverOpts, budget: Duration) -> Result<SenderVerifier, String> {
        let dns = MessageAuthenticator::new(config, opts).map_err(|e| format!("cannot make a DNS resolver: {e}"))?;
        Ok(SenderVerifier {
            dns,
            txt: Cache::new(),
            mx: Cache::new(),
            ipv4: Cache::new(),
            ipv6: Cache::new(),
            ptr: Cache::new(),
            budget,
            dns_failures: AtomicU32::new(0),
            resting_until: Mutex::new(None),
        })
    }

    /// Makes `name` answer with this TXT record (a DKIM key `v=DKIM1; …`, an SPF policy
    /// `v=spf1 …` or a DMARC policy `v=DMARC1; …`) for an hour.
    pub fn add_txt(&self, name: &str, record: &str) -> Result<(), String> {
        use mail_auth::common::parse::TxtRecordParser;
        let r = record.as_bytes();
        let txt: Txt = if name.starts_with("_dmarc.") {
            mail_auth::dmarc::Dmarc::parse(r).map_err(|e| format!("not a DMARC record: {e}"))?.into()
        } else if name.contains("._domainkey.") {
            mail_auth::common::verify::DomainKey::parse(r).map_err(|e| format!("not a DKIM key record: {e}"))?.into()
        } else {
            mail_auth::spf::Spf::parse(r).map_err(|e| format!("not an SPF record: {e}"))?.into()
        };
        self.txt.insert(name.into_fqdn().into_owned(), txt, Instant::now() + Duration::from_secs(3600));
        Ok(())
    }

    /// Makes `name` answer "no such name" (NXDOMAIN) for an hour.
    pub fn add_missing(&self, name: &str) {
        let nx = Txt::Error(mail_auth::Error::DnsRecordNotFound(mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain));
        self.txt.insert(name.into_fqdn().into_owned(), nx, Instant::now() + Duration::from_secs(3600));
    }

    /// The results for one message. Never fails and never takes longer than the budget: DNS
    /// that does not answer in time makes the results `temperror`.
    pub async fn check(&self, raw: &[u8], smtp: Option<SmtpIdentity<'_>>) -> SenderAuth {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            // No header section at all: nothing to check (the parser refuses such a message).
            return SenderAuth::default();
        };
        let from_domain = single_from_domain(&message);
        let Some(probing) = self.may_ask_dns() else {
            return SenderAuth::unavailable(from_domain, smtp.is_some());
        };
        let result = tokio::time::timeout(self.budget, self.run(&message, smtp)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => SenderAuth::unavailable(from_domain, smtp.is_some()),
        };
        let probe = probing;
        if result.dns_failed() {
            let n = self.dns_failures.fetch_add(1, Ordering::Relaxed) + 1;
            // A failed probe rests DNS again at once; otherwise a few failures in a row do.
            if probe || n >= DNS_FAILURES_BEFORE_REST {
                if !probe {
                    tracing::warn!(messages = n, rest_seconds = DNS_REST.as_secs(), "DNS keeps failing: sender checks skipped for a while (mail is accepted as unverified)");
                }
                *self.resting_until.lock().expect("rest lock") = Some(Instant::now() + DNS_REST);
                self.dns_failures.store(0, Ordering::Relaxed);
            }
        } else {
            self.dns_failures.store(0, Ordering::Relaxed);
            if probe {
                tracing::info!("DNS answers again: sender checks resumed");
                *self.resting_until.lock().expect("rest lock") = None;
            }
        }
        metrics::counter!("ombuds_mail_dmarc_total", "result" => result.dmarc.as_str()).increment(1);
        result
    }

    /// `None`: DNS is resting, do not ask. `Some(true)`: the rest is over and this message is
    /// the one probe (the others keep resting while it asks, so a DNS that is still down costs
    /// one message's budget, not every message's in flight). `Some(false)`: ask as usual.
    fn may_ask_dns(&self) -> Option<bool> {
        let mut rest = self.resting_until.lock().expect("rest lock");
        match *rest {
            Some(until) if until > Instant::now() => None,
            Some(_) => {
                *rest = Some(Instant::now() + self.budget + Duration::from_secs(1));
                Some(true)
            }
            None => Some(false),
        }
    }

    async fn run(&self, message: &AuthenticatedMessage<'_>, smtp: Option<SmtpIdentity<'_>>) -> SenderAuth {
        let dkim = self.dns.verify_dkim(Parameters::new(message).with_txt_cache(&self.txt)).await;
        // SPF says whether the connecting host may send for the MAIL FROM (or HELO) domain; a
        // host on this machine (a local MTA handing mail on) is nobody's sender: `none`.
        let (spf, mail_from_domain) = match smtp {
            Some(s) if !s.ip.is_loopback() => {
                let helo = s.helo.trim();
                let params = if s.mail_from.contains('@') {
                    SpfParameters::verify_mail_from(s.ip, helo, "ombuds", s.mail_from)
                } else {
                    SpfParameters::verify_ehlo(s.ip, helo, "ombuds")
                };
                let spf = self
                    .dns
                    .verify_spf(
                        Parameters::new(params)
                            .with_txt_cache(&self.txt)
                            .with_mx_cache(&self.mx)
                            .with_ipv4_cache(&self.ipv4)
                            .with_ipv6_cache(&self.ipv6)
                            .with_ptr_cache(&self.ptr),
                    )
                    .await;
                let domain = s.mail_from.rsplit_once('@').map_or(helo, |(_, d)| d).to_ascii_lowercase();
                (spf, domain)
            }
            _ => (SpfOutput::new(String::new()), String::new()),
        };
        let dmarc = self
            .dns
            .verify_dmarc(Parameters::new(DmarcParameters::new(message, &dkim, &mail_from_domain, &spf).with_domain_suffix_fn(organizational_domain)).with_txt_cache(&self.txt))
            .await;

        let dkim_result = summarise_dkim(dkim.iter().map(|o| o.result()));
        let spf_result = if smtp.is_none() || spf.domain().is_empty() { AuthResult::None } else { spf_result(spf.result()) };
        let dmarc_result = if dmarc.domain().is_empty() {
            AuthResult::None
        } else if *dmarc.dkim_result() == DmarcResult::Pass || *dmarc.spf_result() == DmarcResult::Pass {
            AuthResult::Pass
        } else if matches!(dmarc.dkim_result(), DmarcResult::TempError(_)) || matches!(dmarc.spf_result(), DmarcResult::TempError(_)) {
            AuthResult::TempError
        } else if matches!(dmarc.dkim_result(), DmarcResult::PermError(_)) || matches!(dmarc.spf_result(), DmarcResult::PermError(_)) {
            AuthResult::PermError
        } else if dmarc.dmarc_record().is_some() {
            AuthResult::Fail
        } else {
            AuthResult::None
        };
        let policy = dmarc.dmarc_record().map(|_| match dmarc.policy() {
            Policy::Reject => DmarcPolicy::Reject,
            Policy::Quarantine => DmarcPolicy::Quarantine,
            Policy::None | Policy::Unspecified => DmarcPolicy::None,
        });
        let domain = if dmarc.domain().is_empty() { single_from_domain(message) } else { dmarc.domain().to_ascii_lowercase() };
        SenderAuth { spf: spf_result, dkim: dkim_result, dmarc: dmarc_result, domain, policy }
    }
}

/// The one domain of the `From` header; empty when there is none or several.
fn single_from_domain(message: &AuthenticatedMessage<'_>) -> String {
    let mut domains = message.from.iter().filter_map(|f| f.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()));
    match (domains.next(), domains.next()) {
        (Some(d), None) => d,
        _ => String::new(),
    }
}

fn spf_result(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

/// One result for all the message's signatures: a passing one wins; else the worst.
fn summarise_dkim<'a>(results: impl Iterator<Item = &'a DkimResult>) -> AuthResult {
    let mut best = AuthResult::None;
    let rank = |r: AuthResult| match r {
        AuthResult::None => 0,
        AuthResult::Neutral => 1,
        AuthResult::TempError => 2,
        AuthResult::PermError => 3,
        AuthResult::Fail => 4,
        _ => 5,
    };
    for r in results {
        let r = match r {
            DkimResult::Pass => return AuthResult::Pass,
            // mail-auth calls a changed body "neutral"; RFC 6376 6.1.3 makes it a failure.
            DkimResult::Neutral(mail_auth::Error::FailedBodyHashMatch) => AuthResult::Fail,
            DkimResult::Neutral(_) => AuthResult::Neutral,
            DkimResult::Fail(_) => AuthResult::Fail,
            DkimResult::PermError(_) => AuthResult::PermError,
            DkimResult::TempError(_) => AuthResult::TempError,
            DkimResult::None => AuthResult::None,
        };
        if rank(r) > rank(best) {
            best = r;
        }
    }
    best
}

/// The organizational domain for DMARC's relaxed alignment (RFC 7489 3.2), without the public
/// suffix list: the last two labels, or three under a two-letter country code whose second
/// level is a generic one (`mail.co.uk` → `mail.co.uk`, `a.mail.kz` → `mail.kz`).
pub fn organizational_domain(domain: &str) -> &str {
    const SECOND_LEVELS: [&str; 9] = ["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne"];
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return domain;
    }
    let keep = if labels[n - 1].len() == 2 && SECOND_LEVELS.contains(&labels[n - 2]) { 3 } else { 2 };
    if n <= keep {
        return domain;
    }
    let skip: usize = labels[..n - keep].iter().map(|l| l.len() + 1).sum();
    &domain[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizational_domains() {
        assert_eq!(organizational_domain("mail.kz"), "mail.kz");
        assert_eq!(organizational_domain("a.b.mail.kz"), "mail.kz");
        assert_eq!(organizational_domain("news.bbc.co.uk"), "bbc.co.uk");
        assert_eq!(organizational_domain("bbc.co.uk"), "bbc.co.uk");
        assert_eq!(organizational_domain("kz"), "kz");
    }

    #[test]
    fn selectors_and_domains() {
        assert!(is_dns_name("s1"));
        assert!(is_dns_name("2024.mail"));
        assert!(!is_dns_name("bad selector"));
        assert!(!is_dns_name("-x"));
        assert!(!is_dns_name("a..b"));
        assert!(DkimSigning::from_pem("desk.example", "bad selector", b"").unwrap_err().contains("selector"));
        assert!(DkimSigning::from_pem("desk", "s1", b"").unwrap_err().contains("domain"));
        assert!(DkimSigning::from_pem("desk.example", "s1", b"not a key").unwrap_err().contains("PEM"));
    }
}
