//! A real Dovecot (Debian's `dovecot-imapd`) for the tests: one private instance per test, on
//! free loopback ports, with its configuration, users, maildirs, runtime and log in a temporary
//! directory. Without `/usr/sbin/dovecot` the tests that use it say they were SKIPPED; with
//! `OMBUDS_TEST_REQUIRE_DOVECOT=1` (CI) a missing Dovecot is a failure instead.
//!
//! Running as root (CI), the login processes run as Debian's `dovenull` user and the mail
//! processes as the `dovecot` user (Dovecot refuses root for both); the maildir is theirs.
//! Running as anyone else, every process runs as that user.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream as StdTcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_imap::types::Flag;
use futures_util::TryStreamExt as _;
use ombuds_channels::imap::{ImapConfig, Security};
use tokio::net::TcpStream;

const DOVECOT: &str = "/usr/sbin/dovecot";

/// A running private Dovecot. Dropping it stops the server and removes its directory.
pub struct Dovecot {
    /// Plain IMAP on 127.0.0.1 (STARTTLS offered too when started with TLS).
    pub port: u16,
    /// Implicit-TLS IMAP on 127.0.0.1, when started with [`Dovecot::start_tls`].
    pub tls_port: Option<u16>,
    /// The CA that signed the server certificate (for `127.0.0.1` and `localhost`), with TLS.
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
    child: Child,
}

/// How to start an instance.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also an implicit-TLS port, and STARTTLS on the plain one.
    pub tls: bool,
    /// Replaces the capabilities advertised after login (Dovecot's `imap_capability`), e.g.
    /// `"IMAP4rev1 LITERAL+"` for a server without MOVE, UIDPLUS and IDLE.
    pub capability: Option<String>,
}

impl Dovecot {
    /// A plain-IMAP instance, or `None` (with a note on stderr) when Dovecot is not installed.
    pub fn start() -> Option<Dovecot> {
        Self::start_with(Options::default())
    }

    /// Like [`Dovecot::start`], plus an implicit-TLS port and STARTTLS, with a certificate from
    /// a throw-away CA made by `openssl` (whose PEM is [`Dovecot::ca_file`]).
    pub fn start_tls() -> Option<Dovecot> {
        Self::start_with(Options {
            tls: true,
            ..Options::default()
        })
    }

    pub fn start_with(opts: Options) -> Option<Dovecot> {
        if !Path::new(DOVECOT).exists() {
            if std::env::var("OMBUDS_TEST_REQUIRE_DOVECOT").is_ok_and(|v| v == "1") {
                panic!(
                    "OMBUDS_TEST_REQUIRE_DOVECOT=1 but {DOVECOT} is missing (apt-get install dovecot-imapd)"
                );
            }
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: the IMAP tests against Dovecot are SKIPPED: dovecot not installed ({DOVECOT} missing; apt-get install dovecot-imapd)"
                );
            });
            return None;
        }
        // A port picked free can be taken by someone else before Dovecot binds it: try again.
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(&opts) {
                Ok(d) => return Some(d),
                Err(e) if e.contains("Address already in use") => last = e,
                Err(e) => panic!("dovecot did not start: {e}"),
            }
        }
        panic!("dovecot did not start (ports kept being taken): {last}");
    }

    fn try_start(opts: &Options) -> Result<Dovecot, String> {
        let tls = opts.tls;
        // Unix socket paths must stay short (108 bytes): keep the directory near the root.
        let base = std::env::temp_dir();
        let base = if base.as_os_str().len() > 40 {
            PathBuf::from("/tmp")
        } else {
            base
        };
        let dir = tempfile::Builder::new()
            .prefix("ombuds-dovecot-")
            .tempdir_in(&base)
            .map_err(|e| format!("temp dir: {e}"))?;
        let d = dir.path().to_path_buf();
        let meta = std::fs::metadata(&d).map_err(|e| e.to_string())?;
        let (my_uid, my_gid) = (meta.uid(), meta.gid());
        let root = my_uid == 0;

        for sub in ["run", "state", "mail", "home"] {
            std::fs::create_dir(d.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
        }
        let (mail_uid, mail_gid, internal_user, internal_group, login_user) = if root {
            // Dovecot refuses to run mail or login processes as root.
            let (uid, gid) = passwd_ids("dovecot").unwrap_or((65534, 65534));
            // The mail processes must get through the temporary directory to the maildir.
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o711))
                .map_err(|e| e.to_string())?;
            for sub in ["mail", "home"] {
                std::os::unix::fs::chown(d.join(sub), Some(uid), Some(gid))
                    .map_err(|e| format!("chown {sub}: {e}"))?;
            }
            let login = if passwd_ids("dovenull").is_some() {
                "dovenull"
            } else {
                "nobody"
            };
            (
                uid,
                gid,
                "root".to_string(),
                "root".to_string(),
                login.to_string(),
            )
        } else {
            let me = passwd_name(my_uid)
                .or_else(|| std::env::var("USER").ok())
                .ok_or("cannot tell the current user's name")?;
            let group = group_name(my_gid).ok_or("cannot tell the current group's name")?;
            (my_uid, my_gid, me.clone(), group, me)
        };

        let user = "desk".to_string();
        // Quotes, a backslash and a space: the poller must quote it right.
        let password = r#"s3cret "desk" \pass"#.to_string();
        std::fs::write(
            d.join("passwd"),
            format!("{user}:{{PLAIN}}{password}::::::\n"),
        )
        .map_err(|e| e.to_string())?;

        let port = free_port();
        let tls_port = tls.then(free_port);
        let ca_file = if tls { Some(make_certs(&d)?) } else { None };

        let ds = d.display();
        let chroot = if root { "" } else { "  chroot =\n" };
        let ssl = if tls {
            format!("ssl = yes\nssl_cert = <{ds}/server.pem\nssl_key = <{ds}/server.key\n")
        } else {
            "ssl = no\n".to_string()
        };
        let imaps = match tls_port {
            Some(p) => {
                format!("  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {p}\n  }}\n")
            }
            None => "  inet_listener imaps {\n    port = 0\n  }\n".to_string(),
        };
        let capability = match &opts.capability {
            Some(c) => format!("imap_capability = {c}\n"),
            None => String::new(),
        };
        let conf = format!(
            "# written by the ombuds tests\n\
             base_dir = {ds}/run\n\
             state_dir = {ds}/state\n\
             log_path = {ds}/dovecot.log\n\
             protocols = imap\n\
             listen = 127.0.0.1\n\
             {ssl}\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             auth_failure_delay = 0\n\
             default_internal_user = {internal_user}\n\
             default_internal_group = {internal_group}\n\
             default_login_user = {login_user}\n\
             first_valid_uid = {mail_uid}\n\
             first_valid_gid = {mail_gid}\n\
             mail_location = maildir:{ds}/mail/%u\n\
             {capability}\
             imap_logout_format = in=%i out=%o fetch_body_count=%{{fetch_body_count}} fetch_body_bytes=%{{fetch_body_bytes}} deleted=%{{deleted}} expunged=%{{expunged}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {ds}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_gid} home={ds}/home/%u\n}}\n\
             service imap-login {{\n{chroot}  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n{imaps}}}\n\
             service anvil {{\n{chroot}}}\n",
        );
        let conf_path = d.join("dovecot.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;

        let out = std::fs::File::create(d.join("stderr.log")).map_err(|e| e.to_string())?;
        let mut child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn {DOVECOT}: {e}"))?;

        let ports: Vec<u16> = std::iter::once(port).chain(tls_port).collect();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                kill_group(&mut child);
                return Err(format!("dovecot exited with {status}: {}", logs(&d)));
            }
            if ports.iter().all(|&p| greets(p)) {
                break;
            }
            if Instant::now() > deadline {
                kill_group(&mut child);
                return Err(format!(
                    "dovecot did not greet on 127.0.0.1:{port} within 15 s: {}",
                    logs(&d)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Dovecot {
            port,
            tls_port,
            ca_file,
            user,
            password,
            dir,
            child,
        })
    }

    /// A poller configuration for this server: plain IMAP to 127.0.0.1, `INBOX`, mark seen,
    /// quick polling, no failed mailbox.
    pub fn imap_config(&self) -> ImapConfig {
        let mut cfg = ImapConfig::new("127.0.0.1", &self.user, &self.password);
        cfg.port = self.port;
        cfg.security = Security::Plain;
        cfg.poll_interval = Duration::from_millis(200);
        cfg
    }

    /// The server's log (Dovecot's own log file and its stderr).
    pub fn log(&self) -> String {
        logs(self.dir.path())
    }

    /// Appends a message to `mailbox` (created when missing), without flags.
    pub async fn append(&self, mailbox: &str, raw: &[u8]) {
        self.append_with_flags(mailbox, raw, None).await
    }

    /// Appends a message with flags, e.g. `Some("(\\Seen)")`.
    pub async fn append_with_flags(&self, mailbox: &str, raw: &[u8], flags: Option<&str>) {
        let mut s = self.session().await;
        if !mailbox.eq_ignore_ascii_case("INBOX") {
            let _ = s.create(mailbox).await; // may exist already
        }
        s.append(mailbox, flags, None, raw)
            .await
            .unwrap_or_else(|e| panic!("append to {mailbox}: {e}"));
        let _ = s.logout().await;
    }

    /// Appends many messages on one connection.
    pub async fn append_many(&self, mailbox: &str, raws: impl IntoIterator<Item = Vec<u8>>) {
        let mut s = self.session().await;
        if !mailbox.eq_ignore_ascii_case("INBOX") {
            let _ = s.create(mailbox).await;
        }
        for raw in raws {
            s.append(mailbox, None, None, raw)
                .await
                .unwrap_or_else(|e| panic!("append to {mailbox}: {e}"));
        }
        let _ = s.logout().await;
    }

    /// Every message of `mailbox` as (UID, flags, raw bytes), in UID order; empty when the
    /// mailbox does not exist. Read-only (`EXAMINE`, `BODY.PEEK[]`): changes no flag.
    pub async fn list(&self, mailbox: &str) -> Vec<(u32, Vec<String>, Vec<u8>)> {
        let mut s = self.session().await;
        let mut out = Vec::new();
        if let Ok(mb) = s.examine(mailbox).await
            && mb.exists > 0
        {
            let fetches: Vec<_> = s
                .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                .await
                .expect("uid fetch")
                .try_collect()
                .await
                .expect("uid fetch responses");
            for f in &fetches {
                let flags = f.flags().filter_map(flag_name).collect();
                out.push((
                    f.uid.expect("uid"),
                    flags,
                    f.body().unwrap_or_default().to_vec(),
                ));
            }
        }
        let _ = s.logout().await;
        out.sort_by_key(|m| m.0);
        out
    }

    /// Names of all mailboxes.
    pub async fn mailboxes(&self) -> Vec<String> {
        let mut s = self.session().await;
        let names: Vec<_> = s
            .list(Some(""), Some("*"))
            .await
            .expect("list")
            .try_collect()
            .await
            .expect("list responses");
        let out = names.iter().map(|n| n.name().to_string()).collect();
        let _ = s.logout().await;
        out
    }

    /// Sets `flags` (e.g. `"(\\Seen)"`) on message `uid` of `mailbox`.
    pub async fn add_flags(&self, mailbox: &str, uid: u32, flags: &str) {
        let mut s = self.session().await;
        s.select(mailbox).await.expect("select");
        let _: Vec<_> = s
            .uid_store(uid.to_string(), format!("+FLAGS ({flags})"))
            .await
            .expect("store")
            .try_collect()
            .await
            .expect("store responses");
        let _ = s.logout().await;
    }

    async fn session(&self) -> async_imap::Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect to dovecot");
        let mut client = async_imap::Client::new(tcp);
        client
            .read_response()
            .await
            .expect("greeting")
            .expect("greeting");
        client
            .login(&self.user, &self.password)
            .await
            .map_err(|(e, _)| e)
            .expect("login to dovecot")
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Dovecot runs in its own process group: killing the group ends the master and all its
/// children at once (a SIGTERM to the master alone takes it a second to shut down).
fn kill_group(child: &mut Child) {
    let group_killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !group_killed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn flag_name(f: Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => return None,
        Flag::Custom(c) => c.into_owned(),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// True once something on the port answers with an IMAP greeting (for TLS, any byte after a
/// connect is not expected; a successful connect is enough).
fn greets(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => buf.starts_with(b"* OK"),
        // The TLS port says nothing until the client speaks: a timed-out read means it is up.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            true
        }
        _ => false,
    }
}

fn logs(d: &Path) -> String {
    let a = std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default();
    let b = std::fs::read_to_string(d.join("stderr.log")).unwrap_or_default();
    format!("{a}{b}")
}

fn passwd_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn passwd_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
    })
}

fn group_name(gid: u32) -> Option<String> {
    let group = std::fs::read_to_string("/etc/group").ok()?;
    group.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse() == Ok(gid)).then(|| f[0].to_string())
    })
}

/// A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it; returns the
/// CA's PEM path.
fn make_certs(d: &Path) -> Result<PathBuf, String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ombuds test CA",
    ]);
    run(&ca)?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&csr)?;
    std::fs::write(
        d.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    Ok(d.join("ca.pem"))
}
