//! The setup command of `run --setup CMD`: reconfigures the gateway under test before each
//! profile, with placeholders for what it needs.
//!
//! - `{profile}`: the profile's name;
//! - `{policy}`: a file holding the profile's `cors-flex` YAML;
//! - `{export:TARGET}`: a file holding `cors-conformance export --profile PROFILE --to TARGET`
//!   (listening and forwarding as the run's [`Endpoints`] say).
//!
//! Files are written under the setup's directory, one subdirectory per profile. The command runs
//! with `sh -c`, its standard output and error captured together, for at most a timeout; a
//! command that fails or overruns is an error carrying its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::DataError;
use crate::peer::{Endpoints, Peer, Subject};
use crate::profile;

/// A setup command, checked, with where it writes its files.
#[derive(Debug, Clone)]
pub struct Setup {
    command: String,
    dir: PathBuf,
    endpoints: Endpoints,
    timeout: Duration,
}

/// The setup command failed, or did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupError {
    /// What happened, with the command as run.
    pub message: String,
    /// Its standard output and error, interleaved.
    pub output: String,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SetupError {}

/// One piece of a command: text, or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Profile,
    Policy,
    Export(Peer),
}

/// Splits `command` into text and placeholders; other braces are left as they are.
fn pieces(command: &str) -> Result<Vec<Piece<'_>>, DataError> {
    let mut out = Vec::new();
    let mut rest = command;
    while let Some(start) = rest.find('{') {
        let after = &rest[start..];
        let (piece, len) = if after.starts_with("{profile}") {
            (Piece::Profile, "{profile}".len())
        } else if after.starts_with("{policy}") {
            (Piece::Policy, "{policy}".len())
        } else if let Some(name) = after.strip_prefix("{export:") {
            let end = name.find('}').ok_or_else(|| DataError {
                problems: vec![format!("unclosed placeholder in {command:?}")],
            })?;
            let peer = Peer::from_name(&name[..end])?;
            (Piece::Export(peer), "{export:".len() + end + 1)
        } else {
            out.push(Piece::Text(&rest[..=start]));
            rest = &rest[start + 1..];
            continue;
        };
        out.push(Piece::Text(&rest[..start]));
        out.push(piece);
        rest = &rest[start + len..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// `path` as one shell word: as it is when it holds only safe bytes, else single-quoted.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let safe = text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,=".contains(&b));
    if safe { text } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

impl Setup {
    /// A setup running `command`, writing its files under `dir`.
    ///
    /// # Errors
    ///
    /// The command names an unknown export target (the message lists them) or leaves a
    /// placeholder unclosed.
    pub fn new(
        command: &str,
        dir: &Path,
        endpoints: Endpoints,
        timeout: Duration,
    ) -> Result<Setup, DataError> {
        pieces(command)?;
        Ok(Setup { command: command.to_owned(), dir: dir.to_owned(), endpoints, timeout })
    }

    /// Writes the files `profile` needs and returns the command with its placeholders replaced.
    ///
    /// # Errors
    ///
    /// Not a built-in profile, an export fails, or a file cannot be written.
    pub fn render(&self, profile: &str) -> Result<String, DataError> {
        let builtin = profile::get(profile).ok_or_else(|| DataError {
            problems: vec![format!(
                "unknown profile {profile:?}; hint: one of {}",
                profile::names().join(", ")
            )],
        })?;
        let dir = self.dir.join(profile);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, &e))?;
        let mut out = String::new();
        for piece in pieces(&self.command)? {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Profile => out.push_str(builtin.name),
                Piece::Policy => {
                    let path = dir.join(format!("{profile}.yaml"));
                    std::fs::write(&path, builtin.yaml).map_err(|e| io(&path, &e))?;
                    out.push_str(&shell_word(&path));
                }
                Piece::Export(peer) => {
                    let subject = Subject::load(profile)?;
                    let text = peer.export(&subject, &self.endpoints)?;
                    let path = dir.join(format!("{}-{}", peer.name(), peer.file_name()));
                    std::fs::write(&path, text).map_err(|e| io(&path, &e))?;
                    out.push_str(&shell_word(&path));
                }
            }
        }
        Ok(out)
    }

    /// Runs the command for `profile` and waits for it.
    ///
    /// # Errors
    ///
    /// The files cannot be written, the command cannot start, exits with a failure, or runs
    /// longer than the timeout (it is then killed); the error carries its output.
    pub fn run(&self, profile: &str) -> Result<(), SetupError> {
        let fail = |message: String| SetupError { message, output: String::new() };
        let command = self.render(profile).map_err(|e| fail(e.to_string()))?;
        let log = self.dir.join(format!("setup-{profile}.log"));
        let file = std::fs::File::create(&log).map_err(|e| fail(io(&log, &e).to_string()))?;
        let err = file.try_clone().map_err(|e| fail(io(&log, &e).to_string()))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| fail(format!("cannot run sh -c {command:?}: {e}")))?;
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!(
                        "did not finish within {}",
                        humantime::format_duration(self.timeout)
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => break Err(format!("cannot wait for it: {e}")),
            }
        };
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(SetupError {
                message: format!("setup for profile {profile} failed ({status}): {command}"),
                output,
            }),
            Err(why) => Err(SetupError {
                message: format!("setup for profile {profile} {why}: {command}"),
                output,
            }),
        }
    }
}

fn io(path: &Path, error: &std::io::Error) -> DataError {
    DataError { problems: vec![format!("cannot write {}: {error}", path.display())] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(command: &str, dir: &Path) -> Setup {
        Setup::new(command, dir, Endpoints::default(), Duration::from_secs(10)).unwrap()
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("cors-conformance-setup-{name}-{}", std::process::id()))
    }

    #[test]
    fn placeholders_are_replaced_by_files() {
        let dir = temp("render");
        let rendered = setup(
            "cp {export:nginx} /etc/nginx/conf.d/cors.conf # {profile} {policy} ${HOME} {x}",
            &dir,
        )
        .render("strict")
        .unwrap();
        let nginx = dir.join("strict").join("nginx-cors.conf");
        let policy = dir.join("strict").join("strict.yaml");
        assert_eq!(
            rendered,
            format!(
                "cp {} /etc/nginx/conf.d/cors.conf # strict {} ${{HOME}} {{x}}",
                nginx.display(),
                policy.display()
            )
        );
        assert!(std::fs::read_to_string(nginx).unwrap().contains("map $http_origin"));
        assert!(std::fs::read_to_string(policy).unwrap().contains("cors-flex"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unknown_export_target_lists_the_valid_ones() {
        let error =
            Setup::new("cp {export:iis} x", &temp("x"), Endpoints::default(), Duration::ZERO)
                .unwrap_err()
                .to_string();
        assert!(error.contains("unknown target \"iis\""), "{error}");
        assert!(error.contains("nginx"), "{error}");
    }

    #[test]
    fn a_failing_command_reports_its_output() {
        let dir = temp("fail");
        let error =
            setup("echo about to fail; echo oops >&2; exit 3", &dir).run("strict").unwrap_err();
        assert!(error.message.contains("exit status: 3"), "{error}");
        assert!(
            error.output.contains("about to fail") && error.output.contains("oops"),
            "{error:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_command_that_overruns_is_killed() {
        let dir = temp("slow");
        let slow =
            Setup::new("sleep 5", &dir, Endpoints::default(), Duration::from_millis(200)).unwrap();
        let started = Instant::now();
        let error = slow.run("strict").unwrap_err();
        assert!(error.message.contains("did not finish within"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn paths_with_blanks_are_quoted() {
        assert_eq!(shell_word(Path::new("/tmp/a b/it's")), "'/tmp/a b/it'\\''s'");
        assert_eq!(shell_word(Path::new("/tmp/ab.yaml")), "/tmp/ab.yaml");
    }
}
