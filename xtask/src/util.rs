//! Small helpers shared by the commands: the repository root and running subprocesses.

use std::process::Command;

pub(crate) use cors_devtools::workspace_root as root;

/// A `cargo` command running in the workspace root, using the cargo that runs xtask.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root());
    command
}

/// Runs `command` with inherited output and fails with its description when it does not succeed.
pub(crate) fn exec(mut command: Command) -> Result<(), String> {
    let description = describe(&command);
    eprintln!("$ {description}");
    let status =
        command.status().map_err(|error| format!("cannot start `{description}`: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{description}` failed ({status})")) }
}

/// Installs the cargo subcommand `cargo-NAME` from crates.io (`cargo install CRATE --locked`)
/// unless `cargo-NAME --version` already runs.
pub(crate) fn ensure_cargo_tool(program: &str, krate: &str) -> Result<(), String> {
    if has_tool(program, &["--version"]) {
        return Ok(());
    }
    eprintln!("{program} is missing; installing {krate} from crates.io");
    let mut command = cargo();
    command.args(["install", krate, "--locked"]);
    exec(command)
}

/// Whether `program --version` runs, i.e. whether a tool is installed.
pub(crate) fn has_tool(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|output| output.status.success())
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Reads and parses the JSON file at `path`.
pub(crate) fn read_json(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A loopback address to tell a server to listen on, below the kernel's ephemeral ports
/// ([`cors_devtools::free_loopback_port`]), so that no outgoing connection takes it meanwhile.
pub(crate) fn free_port() -> Result<std::net::SocketAddr, String> {
    cors_devtools::free_loopback_port().map_err(|e| format!("no free loopback port: {e}"))
}
