//! The `gatehouse` binary: the server and the operator commands. It wires configuration into the
//! domain and the HTTP layer; nothing else lives here.

mod config;
mod server;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, Flags};
use gatehouse_authz::{OrgRole, TokenRole};
use gatehouse_core::accounts::{self, NewUserRequest};
use gatehouse_store::XetStore;
use std::io::Read;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "A self-hosted, Hugging Face Hub-compatible hub for models and datasets"
)]
struct Cli {
    /// Where repositories, blobs and the default SQLite database live.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// A TOML configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (initialises an empty data directory).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Invitations to sign up in the browser.
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Inspect and maintain Xet storage.
    #[command(subcommand)]
    Xet(XetCommand),
    /// Git hooks the server installs (not for interactive use).
    #[command(subcommand, hide = true)]
    Hook(HookCommand),
}

#[derive(Subcommand)]
enum HookCommand {
    /// Checks a push's new objects against the push rules; a non-zero exit makes git refuse the push.
    PreReceive,
    /// After a push: refresh what the database derives from the pushed content (the card's tags).
    PostReceive,
}

#[derive(Subcommand)]
enum XetCommand {
    /// Print what Xet storage holds, as JSON (xorbs, stored bytes, files, shards, dedup chunks).
    Stats,
    /// Delete xorbs no file uses and that were unused for the grace period; print the report as JSON.
    Gc {
        /// Override the configured grace period (seconds).
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    /// Print the most recent garbage-collection runs as JSON.
    GcRuns,
    /// Check the Xet index against storage; print the report as JSON (exit 1 on problems).
    Verify,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        site_admin: bool,
    },
    /// Set a user's password, read from standard input (first line); every browser session of theirs ends.
    /// For a user who forgot theirs on a hub without mail.
    SetPassword { name: String },
    /// Turn a user's two-factor authentication off, for one who lost both their device and their recovery
    /// codes (they can enrol again after signing in).
    DisableTwoFactor { name: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// List a user's tokens (never their secrets).
    List { user: String },
    /// Revoke one of a user's tokens by id (see `token list`).
    Revoke { user: String, id: i64 },
    /// Create a token for a user and print it (alone) on stdout; it is not shown again.
    Create {
        user: String,
        #[arg(long, default_value = "write")]
        role: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Subcommand)]
enum InviteCommand {
    /// Create an invitation for sign-up in the browser (`signup = "invite-only"`) and print its code
    /// (alone) on stdout; it is not shown again.
    Create {
        /// Only a user with this email address may use it.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 14)]
        days: u32,
    },
    /// List invitations, newest first: id, email, created, expires, and who used it (never codes).
    List,
    /// Withdraw an invitation nobody has used yet, by id (see `invite list`).
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization with a first admin.
    Create {
        org: String,
        #[arg(long)]
        admin: String,
        #[arg(long)]
        full_name: Option<String>,
    },
    /// Add a member or change their role.
    AddMember {
        org: String,
        user: String,
        #[arg(long)]
        role: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let config = Config::load(&Flags { data_dir: cli.data_dir.clone(), listen, config: cli.config.clone() })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => server::serve(config).await,
        Command::Hook(HookCommand::PostReceive) => {
            let repo_id = hook_repo_id()?;
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let updates = gatehouse_git::push::RefUpdate::parse_all(&input);
            let hub = server::open_hub(&config).await?;
            gatehouse_core::git_http::after_push(&hub, repo_id, &updates)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            hub.store.close().await;
            Ok(())
        }
        Command::Hook(HookCommand::PreReceive) => {
            let repo_id = hook_repo_id()?;
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input)?;
            let updates = gatehouse_git::push::RefUpdate::parse_all(&input);
            let blobs = tokio::task::spawn_blocking(move || gatehouse_git::push::new_blobs(&updates)).await??;
            let hub = server::open_hub(&config).await?;
            let problems = gatehouse_core::git_http::check_push(&hub, repo_id, &blobs)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            hub.store.close().await;
            if problems.is_empty() {
                return Ok(());
            }
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("error: push rejected by Gatehouse ({} problem(s)); nothing was changed", problems.len());
            std::process::exit(1);
        }
        Command::Xet(cmd) => {
            let hub = server::open_hub(&config).await?;
            let out = match cmd {
                XetCommand::Stats => serde_json::to_value(hub.store.xet_stats().await?)?,
                XetCommand::Gc { grace_secs } => {
                    let grace = std::time::Duration::from_secs(grace_secs.unwrap_or(config.xet_gc_grace_secs));
                    let report =
                        gatehouse_core::xet::gc::collect(&hub, grace).await.map_err(|e| anyhow::anyhow!(e.message))?;
                    serde_json::to_value(report)?
                }
                XetCommand::Verify => {
                    let report = gatehouse_core::xet::gc::verify(&hub).await.map_err(|e| anyhow::anyhow!(e.message))?;
                    println!("{}", serde_json::to_value(&report)?);
                    hub.store.close().await;
                    if !report.problems.is_empty() {
                        std::process::exit(1);
                    }
                    return Ok(());
                }
                XetCommand::GcRuns => {
                    let runs = hub.store.gc_runs(20).await?;
                    serde_json::Value::Array(
                        runs.into_iter()
                            .map(|r| {
                                serde_json::json!({
                                    "id": r.id, "started_at": r.started_at, "finished_at": r.finished_at,
                                    "state": r.state, "grace_ms": r.grace_ms,
                                    "report": r.report.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()),
                                })
                            })
                            .collect(),
                    )
                }
            };
            println!("{out}");
            hub.store.close().await;
            Ok(())
        }
        Command::User(UserCommand::Create { name, email, full_name, password_stdin, site_admin }) => {
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
                Some(s.lines().next().unwrap_or("").to_string())
            } else {
                None
            };
            let hub = server::open_hub(&config).await?;
            let req = NewUserRequest {
                name: &name,
                email: &email,
                full_name: full_name.as_deref(),
                password: password.as_deref(),
                site_admin,
            };
            let user = accounts::create_user(&hub, req).await.map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("created user {}", user.name);
            Ok(())
        }
        Command::User(UserCommand::SetPassword { name }) => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
            let password = s.lines().next().unwrap_or("").to_string();
            let hub = server::open_hub(&config).await?;
            gatehouse_core::password_reset::set_password(&hub, &name, &password)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("password of {name} set; their browser sessions have ended");
            Ok(())
        }
        Command::User(UserCommand::DisableTwoFactor { name }) => {
            let hub = server::open_hub(&config).await?;
            let user = accounts::user_by_name(&hub, &name).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let was_on = gatehouse_core::two_factor::disable_by_admin(&hub, user.id)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("two-factor authentication of {name} {}", if was_on { "turned off" } else { "was not on" });
            Ok(())
        }
        Command::Token(TokenCommand::Create { user, role, name }) => {
            let hub = server::open_hub(&config).await?;
            let role = TokenRole::parse(&role).map_err(|e| anyhow::anyhow!(e.message))?;
            let account = accounts::user_by_name(&hub, &user).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let (_, secret) = gatehouse_core::tokens::create_token(&hub, account.id, &name, role)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{secret}");
            Ok(())
        }
        Command::Token(TokenCommand::List { user }) => {
            let hub = server::open_hub(&config).await?;
            let account = accounts::user_by_name(&hub, &user).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let fmt = |t: Option<i64>| t.map_or_else(|| "-".to_string(), gatehouse_core::time::iso8601);
            println!("{:>6}  {:<5}  {:<24}  {:<24}  {:<24}  name", "id", "role", "created", "last used", "revoked");
            for t in gatehouse_store::TokenStore::tokens_of_user(&hub.store, account.id).await? {
                println!(
                    "{:>6}  {:<5}  {:<24}  {:<24}  {:<24}  {}",
                    t.id,
                    t.role.as_str(),
                    fmt(Some(t.created_at)),
                    fmt(t.last_used_at),
                    fmt(t.revoked_at),
                    t.name
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { user, id }) => {
            let hub = server::open_hub(&config).await?;
            let account = accounts::user_by_name(&hub, &user).await.map_err(|e| anyhow::anyhow!(e.message))?;
            gatehouse_core::tokens::revoke(&hub, account.id, id).await.map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("revoked token {id} of {user}");
            Ok(())
        }
        Command::Invite(InviteCommand::Create { email, days }) => {
            let hub = server::open_hub(&config).await?;
            let code = gatehouse_core::signup::invite(&hub, email.as_deref(), None, days)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{code}");
            Ok(())
        }
        Command::Invite(InviteCommand::List) => {
            let hub = server::open_hub(&config).await?;
            let operator = accounts::operator();
            let invitations =
                gatehouse_core::signup::invitations(&hub, &operator).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let fmt = |t: Option<i64>| t.map_or_else(|| "-".to_string(), gatehouse_core::time::iso8601);
            println!("{:>6}  {:<24}  {:<24}  {:<24}  {:<12}  email", "id", "created", "expires", "used", "used by");
            for i in invitations {
                let used_by = match i.used_by {
                    Some(id) => gatehouse_store::AccountStore::account_by_id(&hub.store, id)
                        .await?
                        .map_or_else(|| "-".to_string(), |a| a.name),
                    None => "-".to_string(),
                };
                println!(
                    "{:>6}  {:<24}  {:<24}  {:<24}  {:<12}  {}",
                    i.id,
                    fmt(Some(i.created_at)),
                    fmt(Some(i.expires_at)),
                    fmt(i.used_at),
                    used_by,
                    i.email.as_deref().unwrap_or("(anyone with the code)")
                );
            }
            Ok(())
        }
        Command::Invite(InviteCommand::Revoke { id }) => {
            let hub = server::open_hub(&config).await?;
            let revoked = gatehouse_core::signup::revoke_invitation(&hub, &accounts::operator(), id)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            anyhow::ensure!(revoked, "no unused invitation with id {id}");
            eprintln!("invitation {id} withdrawn");
            Ok(())
        }
        Command::Org(OrgCommand::Create { org, admin, full_name }) => {
            let hub = server::open_hub(&config).await?;
            let created = accounts::create_org(&hub, &org, full_name.as_deref(), &admin)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("created organization {} with admin {admin}", created.name);
            Ok(())
        }
        Command::Org(OrgCommand::AddMember { org, user, role }) => {
            let hub = server::open_hub(&config).await?;
            let role = OrgRole::parse(&role).map_err(|e| anyhow::anyhow!(e.message))?;
            accounts::set_member_role(&hub, &accounts::operator(), &org, &user, role)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            eprintln!("{user} is now {} of {org}", role.as_str());
            Ok(())
        }
    }
}

/// The repository a git hook runs for (the server passes it to git's environment).
fn hook_repo_id() -> anyhow::Result<i64> {
    std::env::var("GATEHOUSE_HOOK_REPO_ID")
        .ok()
        .and_then(|v| v.parse().ok())
        .context("GATEHOUSE_HOOK_REPO_ID is not set: this command runs as a git hook of the server")
}
