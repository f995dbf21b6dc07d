//! Configuration: built-in defaults < `ombuds.toml` (or `--config FILE`) < `OMBUDS_*`
//! environment variables < command-line flags.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Where the embedded store lives when `database` is not set.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; default `sqlite://<data_dir>/ombuds.db`.
    pub database: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long an agent's session lasts, in hours.
    pub session_hours: u64,
    /// Database connections per node.
    pub max_connections: u32,
    /// Log filter (`info`, `ombuds=debug,info`, …).
    pub log: String,
}

const KEYS: &[&str] = &["listen", "data_dir", "database", "body_limit", "session_hours", "max_connections", "log"];

impl Settings {
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut b = config::Config::builder()
            .set_default("listen", "127.0.0.1:8080")?
            .set_default("data_dir", "./ombuds-data")?
            .set_default("body_limit", 256 * 1024)?
            .set_default("session_hours", 12)?
            .set_default("max_connections", 8)?
            .set_default("log", "info")?;
        match file {
            Some(f) => {
                if !f.exists() {
                    bail!("config file {} does not exist", f.display());
                }
                b = b.add_source(config::File::from(f).required(true));
            }
            None => b = b.add_source(config::File::with_name("ombuds").format(config::FileFormat::Toml).required(false)),
        }
        // Only the settings' own keys come from the environment: other OMBUDS_* variables
        // (OMBUDS_TOKEN for the bench, OMBUDS_TEST_*, …) are not configuration.
        for key in KEYS {
            if let Ok(v) = std::env::var(format!("OMBUDS_{}", key.to_uppercase())) {
                b = b.set_override(*key, v)?;
            }
        }
        let s: Settings = b.build()?.try_deserialize().context("invalid configuration")?;
        if s.body_limit < 1024 {
            bail!("body_limit must be at least 1024 bytes");
        }
        Ok(s)
    }

    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("ombuds.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_strictness() {
        let dir = std::env::temp_dir().join(format!("ombuds-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("o.toml");
        std::fs::write(&f, "listen = \"0.0.0.0:9000\"\nbody_limit = 4096\n").unwrap();
        let s = Settings::load(Some(&f)).unwrap();
        assert_eq!((s.listen.as_str(), s.body_limit, s.session_hours), ("0.0.0.0:9000", 4096, 12));
        assert_eq!(s.database_url(), "sqlite://./ombuds-data/ombuds.db");
        std::fs::write(&f, "lisen = \"typo\"\n").unwrap();
        assert!(format!("{:#}", Settings::load(Some(&f)).unwrap_err()).contains("lisen"));
        std::fs::write(&f, "body_limit = 10\n").unwrap();
        assert!(Settings::load(Some(&f)).is_err());
        assert!(Settings::load(Some(&dir.join("missing.toml"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
