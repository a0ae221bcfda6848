//! `freedumb`: one binary for every FREEDUMB service and worker.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use freedumb_mesh::registry::{self, Targets};
use freedumb_mesh::{app, healthcheck};

/// FREEDUMB personal-finance mesh.
#[derive(Parser)]
#[command(name = "freedumb", version, about)]
struct Cli {
    /// Optional TOML configuration file (environment variables override it).
    #[arg(long, short, global = true, env = "FREEDUMB_CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run services and workers (the default command).
    Serve {
        /// Comma-separated targets to run.
        #[arg(long, default_value = "all", env = "FREEDUMB_TARGET", value_parser = registry::parse)]
        target: Targets,
        /// Print the available targets and exit.
        #[arg(long)]
        list_targets: bool,
    },
    /// Apply database migrations of the targets, then exit.
    Migrate {
        /// Comma-separated targets whose databases to migrate.
        #[arg(long, default_value = "all", value_parser = registry::parse)]
        target: Targets,
    },
    /// Exit 0 when the local instance is ready (for container health checks).
    Healthcheck,
    /// Train or evaluate the ai service's global categorization model.
    Ai {
        #[command(subcommand)]
        command: AiCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum AiCommand {
    /// Rebuild the model from labelled descriptors (run from the repository
    /// root to update the shipped one).
    Train {
        /// The training data (tab-separated; default: the shipped data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where to write the model.
        #[arg(long, default_value = "services/ai/model/global.model")]
        out: PathBuf,
    },
    /// Print accuracy, macro-F1 and coverage on the random, unseen-merchant
    /// and per-user temporal splits.
    Eval {
        /// The labelled data (default: the shipped data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Simulated users in the temporal split.
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Also write the figures as JSON (`services/ai/model/figures.json`
        /// holds those of `--users 40`, which CI must keep).
        #[arg(long)]
        record: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve {
        target: Targets::all(),
        list_targets: false,
    });
    match command {
        Command::Version => {
            println!("freedumb {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Serve {
            list_targets: true, ..
        } => {
            print!("{}", registry::describe());
            return ExitCode::SUCCESS;
        }
        Command::Ai { command } => {
            use freedumb_ai::model::cli;
            let result = match command {
                AiCommand::Train { data, out } => cli::train(data.as_deref(), &out),
                AiCommand::Eval {
                    data,
                    users,
                    record,
                } => cli::eval(data.as_deref(), users, record.as_deref()),
            };
            return match result {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("freedumb: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    let loaded =
        freedumb_kit::Config::load_checked(cli.config.as_deref(), registry::config_problems);
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("freedumb: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("freedumb: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve { target, .. } => app::serve(config, target).await,
            Command::Migrate { target } => app::migrate(config, target).await,
            Command::Healthcheck => healthcheck::run(&config).await,
            Command::Version | Command::Ai { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("freedumb: {e:#}");
            ExitCode::FAILURE
        }
    }
}
