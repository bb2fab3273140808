//! The `authgate` command: serve (the default), migrate, createsuperuser,
//! keys rotate|list, openapi, import-django.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use authgate::Error;
use authgate::config::{Config, LogFormat};
use authgate::domain::{Email, Password, Phone};

#[derive(Parser)]
#[command(name = "authgate", version, about = "Authentication service: users, passwords, JWTs")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve on AUTHGATE_BIND (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Create an admin account.
    Createsuperuser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        phone: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signing keys of an asymmetric AUTHGATE_JWT_ALGORITHM.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document (as `GET /api/openapi.json` serves it
    /// with this configuration) and exit.
    Openapi,
    /// Import the Django original's users (and refresh tokens) (contract §18).
    ImportDjango {
        /// The output of `manage.py dumpdata --all authentication.UnifiedUser`.
        #[arg(long, value_name = "FILE", required_unless_present = "from_database", conflicts_with = "from_database")]
        from_json: Option<std::path::PathBuf>,
        /// The original's database, read-only (postgres://… or sqlite://…).
        #[arg(long, value_name = "URL")]
        from_database: Option<String>,
        /// The original's user table.
        #[arg(long, value_name = "NAME", default_value = authgate::DJANGO_USER_TABLE)]
        table: String,
        /// Check every row and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new key the active one; the old one verifies until its last token expires.
    Rotate,
    /// One line per key: kid alg created state.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("authgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("authgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Createsuperuser { email, phone, password_stdin } => {
                createsuperuser(config, &email, phone.as_deref(), password_stdin).await
            }
            Command::Keys { command: KeysCommand::Rotate } => rotate_key(config).await,
            Command::Keys { command: KeysCommand::List } => list_keys(config).await,
            Command::Openapi => {
                let doc = authgate::openapi_document(config.password_min_length).map_err(|e| e.to_string())?;
                println!("{doc:#}");
                Ok(())
            }
            Command::ImportDjango { from_json, from_database, table, dry_run } => {
                let source = match (from_json, from_database) {
                    (Some(file), _) => authgate::DjangoSource::Json(file),
                    (None, Some(url)) => authgate::DjangoSource::Database { url, table },
                    (None, None) => unreachable!("clap requires a source"),
                };
                import_django(config, source, dry_run).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authgate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let subscriber = authgate::log_subscriber(format, &filter, std::io::stderr);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("authgate: a log subscriber is installed already");
    }
}

/// Raises the soft limit on open descriptors to the hard one: with the
/// common default of 1,024 the connection cap (§14.3) would sit far below
/// `AUTHGATE_MAX_CONNECTIONS`. The embedding case leaves the host's limits
/// alone; this is the binary's own process.
fn raise_descriptor_limit() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit read and write the one struct given.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                    tracing::warn!(
                        soft = limit.rlim_cur,
                        hard = limit.rlim_max,
                        "could not raise the descriptor limit"
                    );
                }
            }
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    raise_descriptor_limit();
    let bind = config.bind;
    let app = authgate::App::build(config).await.map_err(describe)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("AUTHGATE_BIND: cannot listen on {bind}: {e}"))?;
    tracing::info!(address = %bind, "authgate listening");
    app.serve(listener, shutdown_signal()).await.map_err(|e| e.to_string())?;
    tracing::info!("authgate stopped");
    Ok(())
}

async fn migrate(config: Config) -> Result<(), String> {
    authgate::migrate(&config).await.map_err(describe)?;
    println!("migrations applied");
    Ok(())
}

async fn createsuperuser(config: Config, email: &str, phone: Option<&str>, from_stdin: bool) -> Result<(), String> {
    let email = Email::parse(email).map_err(|m| format!("--email: {m}"))?;
    let phone = phone.map(Phone::parse).transpose().map_err(|m| format!("--phone: {m}"))?;
    let password = read_password(from_stdin)?;
    let password = Password::parse(&password).map_err(|m| format!("password: {m}"))?;
    let user = authgate::create_superuser(config, email, phone, password).await.map_err(describe)?;
    println!("superuser created: {} ({})", user.id, user.email.map(|e| e.to_string()).unwrap_or_default());
    Ok(())
}

async fn rotate_key(config: Config) -> Result<(), String> {
    let key = authgate::rotate_signing_key(&config).await.map_err(describe)?;
    println!("rotated: {} {} is the active key", key.kid, key.alg);
    Ok(())
}

async fn list_keys(config: Config) -> Result<(), String> {
    for key in authgate::list_signing_keys(&config).await.map_err(describe)? {
        let state = if key.active { "active" } else { "retired" };
        println!("{} {} {} {state}", key.kid, key.alg, key.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }
    Ok(())
}

async fn import_django(config: Config, source: authgate::DjangoSource, dry_run: bool) -> Result<(), String> {
    let progress = Bar::new();
    let summary = authgate::import_django(&config, &source, dry_run, &progress).await.map_err(describe)?;
    progress.0.finish_and_clear();
    if summary.tokens > 0 || summary.blacklisted > 0 {
        println!("refresh tokens: {} stored, {} of them blacklisted", summary.tokens, summary.blacklisted);
    }
    println!("{summary}");
    Ok(())
}

/// The import's progress: a bar on a terminal (stderr), nothing otherwise;
/// skipped rows always on stderr.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = if std::io::stderr().is_terminal() {
            indicatif::ProgressBar::new(0)
        } else {
            indicatif::ProgressBar::hidden()
        };
        let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users ({per_sec}, {eta} left)");
        if let Ok(style) = style {
            bar.set_style(style);
        }
        Bar(bar)
    }
}

impl authgate::ImportProgress for Bar {
    fn start(&self, users: u64) {
        self.0.set_length(users);
    }

    fn advance(&self, users: u64) {
        self.0.inc(users);
    }

    fn skipped(&self, skip: &authgate::ImportSkip) {
        self.0.suspend(|| eprintln!("skipped {}: {}", skip.id, skip.reason));
    }
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("the passwords do not match".into());
    }
    Ok(first)
}

/// A one-line description of an error for the terminal.
fn describe(e: Error) -> String {
    match e {
        Error::Validation(fields) => format!("invalid input: {}", serde_json::to_string(&fields).unwrap_or_default()),
        Error::BadRequest(message) => message,
        other => other.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
