//! `hangar secret rotate-key`: a new server key for everything sealed at rest (secrets, signing
//! keys, client secrets, refresh tokens, login verifiers) and for the audit checkpoints'
//! signatures. Works on the database directly, with every server stopped (a running server
//! keeps the old key in memory).
//!
//! The order makes a crash at any point recoverable: the new key is first written beside the
//! key file (`<file>.new`), then the database is re-sealed in one transaction, then the new file
//! replaces the old one.

use crate::auth::keys::SecretBox;
use crate::config::Config;
use crate::domain::Actor;
use crate::store::{Rekey, Store};
use anyhow::Context;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Make a new server key and re-encrypt everything sealed under the current one (stop
    /// every server first; each must then read the new key file).
    RotateKey,
}

pub async fn run(cmd: SecretCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretCommand::RotateKey => rotate_key(config).await,
    }
}

async fn rotate_key(config: &Config) -> anyhow::Result<ExitCode> {
    let path = &config.identity.secret_key_file;
    let old = SecretBox::load(path)?;
    let text = SecretBox::new_key_text();
    let new = SecretBox::from_key(&hex::decode(&text).context("a new key")?)?;
    let fresh = path.with_extension("new");
    SecretBox::write_key_file(&fresh, &text)?;
    let store = Store::open(&config.database_url).await?;
    let reseal = |sealed: &[u8]| old.open(sealed).map(|plain| new.seal(&plain));
    let resign = |seq: i64, hash: &str, time: i64, signature: &str| {
        let bytes = crate::audit::checkpoint_bytes(seq, hash, time);
        old.verify(&bytes, signature).then(|| new.sign(&bytes))
    };
    let rekey = Rekey {
        reseal: &reseal,
        resign: &resign,
        new_key_id: new.key_id(),
    };
    let now = crate::clock::system().now_ms();
    let done = store.reseal_all(&rekey, &Actor::system(), now).await;
    store.close().await;
    let count = match done {
        Ok(count) => count,
        Err(e) => {
            let _ = std::fs::remove_file(&fresh);
            return Err(anyhow::anyhow!("{}", e.detail())).context("nothing was changed");
        }
    };
    std::fs::rename(&fresh, path).with_context(|| {
        format!(
            "the database is sealed under the new key, which is in {}: move it to {} by hand",
            fresh.display(),
            path.display()
        )
    })?;
    eprintln!(
        "re-encrypted {count} values under key {} (was {}); {} now holds the new key",
        new.key_id(),
        old.key_id(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
