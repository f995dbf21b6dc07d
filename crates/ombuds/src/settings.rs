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
        b = b.add_source(config::Environment::with_prefix("OMBUDS").try_parsing(true));
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
